//! Single-use tokens that travel by mail: address verification links (each with a short code a
//! user can type instead) and password reset links.
//!
//! A token is 256 random bits from the OS RNG, shown once in the mail's link and stored only as
//! its SHA-256, so a copy of the table opens nothing. A verification's six-digit code is stored
//! as the SHA-256 of the token hash and the code; codes are tried only by the signed-in owner
//! and a token dies after [`MAX_CODE_ATTEMPTS`] wrong ones.
//!
//! Issuing a token revokes the user's live tokens of the same purpose ("a new request kills
//! older links"). A token is used at most once: using it is a conditional `UPDATE` that repeats
//! every condition of validity, so of two concurrent uses one wins. A used link still reads
//! back as [`TokenState::Used`], so a second click can say "already done" instead of "invalid".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::{DbConnection, from_db, to_db};
use crate::error::IdentityError;
use crate::schema::email_tokens;
use crate::users::{id_text, parse_id};

/// Wrong codes (a verification's short code, or the second factor asked during a password
/// reset) a token survives; the next wrong one revokes it.
pub const MAX_CODE_ATTEMPTS: i32 = 5;

/// What a token is for, stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum EmailTokenPurpose {
    /// Proves the user reads `email`; using it marks that address verified (and makes it the
    /// account's address, for a change of address).
    VerifyEmail,
    /// Lets the holder set a new password.
    PasswordReset,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A token just issued: what goes into the mail. Never stored as such.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// For the link (`?token=`): 43 characters of base64url.
    pub token: String,
    /// The six-digit code of a verification mail.
    pub code: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where a stored token stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Live,
    Used,
    Expired,
    /// A newer token of the same purpose, or too many wrong codes, killed it.
    Revoked,
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: i64,
    pub user_id: uuid::Uuid,
    pub email: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    code_hash: Option<String>,
}

impl StoredToken {
    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.used_at.is_some() {
            TokenState::Used
        } else if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if now >= self.expires_at {
            TokenState::Expired
        } else {
            TokenState::Live
        }
    }

    /// Whether `code` is this token's short code, compared in constant time.
    fn code_matches(&self, token_hash: &str, code: &str) -> bool {
        let Some(stored) = &self.code_hash else {
            return false;
        };
        let typed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        code_hash(token_hash, &typed)
            .as_bytes()
            .ct_eq(stored.as_bytes())
            .into()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = email_tokens)]
struct Row {
    id: i64,
    user_id: String,
    token_hash: String,
    code_hash: Option<String>,
    email: String,
    attempts: i32,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

impl Row {
    fn into_stored(self) -> Result<(StoredToken, String), IdentityError> {
        Ok((
            StoredToken {
                id: self.id,
                user_id: parse_id(&self.user_id)?,
                email: self.email,
                attempts: self.attempts,
                created_at: from_db(self.created_at),
                expires_at: from_db(self.expires_at),
                used_at: self.used_at.map(from_db),
                revoked_at: self.revoked_at.map(from_db),
                code_hash: self.code_hash,
            },
            self.token_hash,
        ))
    }
}

#[derive(Insertable)]
#[diesel(table_name = email_tokens)]
struct NewRow<'a> {
    user_id: String,
    purpose: &'static str,
    token_hash: &'a str,
    code_hash: Option<&'a str>,
    email: &'a str,
    attempts: i32,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn code_hash(token_hash: &str, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(token_hash.as_bytes());
    hasher.update(b":");
    hasher.update(code.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// A fresh six-digit code, uniform over 000000–999999.
fn fresh_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// Issues a token of `purpose` for `email`, valid for `ttl`, in the caller's transaction, and
/// revokes the user's live tokens of the same purpose.
pub(crate) fn issue(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    purpose: EmailTokenPurpose,
    email: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> QueryResult<IssuedToken> {
    revoke_live(conn, user_id, purpose, now)?;
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    let code = matches!(purpose, EmailTokenPurpose::VerifyEmail).then(fresh_code);
    let code_hash = code.as_deref().map(|code| code_hash(&hash, code));
    let expires_at = now + ttl;
    diesel::insert_into(email_tokens::table)
        .values(NewRow {
            user_id: id_text(user_id),
            purpose: purpose.as_str(),
            token_hash: &hash,
            code_hash: code_hash.as_deref(),
            email,
            attempts: 0,
            created_at: to_db(now),
            expires_at: to_db(expires_at),
        })
        .execute(conn)?;
    Ok(IssuedToken {
        token,
        code,
        expires_at,
    })
}

/// Revokes the user's live (unused, unrevoked) tokens of `purpose`. How many.
pub(crate) fn revoke_live(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    purpose: EmailTokenPurpose,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        email_tokens::table
            .filter(email_tokens::user_id.eq(id_text(user_id)))
            .filter(email_tokens::purpose.eq(purpose.as_str()))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::revoked_at.is_null()),
    )
    .set(email_tokens::revoked_at.eq(to_db(now)))
    .execute(conn)
}

/// The token of `purpose` behind a link's `token`, whatever its state; `None` if there is none.
pub(crate) fn find(
    conn: &mut DbConnection,
    purpose: EmailTokenPurpose,
    token: &str,
) -> Result<Option<StoredToken>, IdentityError> {
    // A real token is 43 characters; anything far off is not looked up.
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    email_tokens::table
        .filter(email_tokens::token_hash.eq(token_hash(token)))
        .filter(email_tokens::purpose.eq(purpose.as_str()))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(|row| row.into_stored().map(|(stored, _)| stored))
        .transpose()
}

/// The user's live token of `purpose`, if any (at most one: issuing revokes the others).
pub(crate) fn live_for_user(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    purpose: EmailTokenPurpose,
    now: DateTime<Utc>,
) -> Result<Option<StoredToken>, IdentityError> {
    Ok(live_row_for_user(conn, user_id, purpose, now)?.map(|(stored, _)| stored))
}

fn live_row_for_user(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    purpose: EmailTokenPurpose,
    now: DateTime<Utc>,
) -> Result<Option<(StoredToken, String)>, IdentityError> {
    email_tokens::table
        .filter(email_tokens::user_id.eq(id_text(user_id)))
        .filter(email_tokens::purpose.eq(purpose.as_str()))
        .filter(email_tokens::used_at.is_null())
        .filter(email_tokens::revoked_at.is_null())
        .filter(email_tokens::expires_at.gt(to_db(now)))
        .order(email_tokens::id.desc())
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Row::into_stored)
        .transpose()
}

/// Marks a live token used. false if it no longer is (used, revoked or expired meanwhile).
pub(crate) fn use_token(conn: &mut DbConnection, id: i64, now: DateTime<Utc>) -> QueryResult<bool> {
    let updated = diesel::update(
        email_tokens::table
            .filter(email_tokens::id.eq(id))
            .filter(email_tokens::used_at.is_null())
            .filter(email_tokens::revoked_at.is_null())
            .filter(email_tokens::expires_at.gt(to_db(now))),
    )
    .set(email_tokens::used_at.eq(to_db(now)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Counts a wrong code against a token; at [`MAX_CODE_ATTEMPTS`] it is revoked. Returns the
/// attempts left (0: the token is dead).
pub(crate) fn spend_attempt(
    conn: &mut DbConnection,
    token: &StoredToken,
    now: DateTime<Utc>,
) -> QueryResult<i32> {
    let attempts = token.attempts.saturating_add(1);
    let dead = attempts >= MAX_CODE_ATTEMPTS;
    diesel::update(email_tokens::table.filter(email_tokens::id.eq(token.id)))
        .set((
            email_tokens::attempts.eq(email_tokens::attempts + 1),
            email_tokens::revoked_at.eq(dead.then(|| to_db(now))),
        ))
        .execute(conn)?;
    Ok((MAX_CODE_ATTEMPTS - attempts).max(0))
}

/// The outcome of typing a verification code.
pub(crate) enum CodeCheck {
    /// The code is the live token's: here it is.
    Matches(StoredToken),
    /// Wrong; attempts left on the token (0: it is dead now).
    Wrong { remaining: i32 },
    /// No live verification for the user.
    NoneLive,
}

/// Checks `code` against the user's live verification token, counting a wrong one.
pub(crate) fn check_code(
    conn: &mut DbConnection,
    user_id: uuid::Uuid,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeCheck, IdentityError> {
    let Some((token, hash)) =
        live_row_for_user(conn, user_id, EmailTokenPurpose::VerifyEmail, now)?
    else {
        return Ok(CodeCheck::NoneLive);
    };
    if token.code_matches(&hash, code) {
        return Ok(CodeCheck::Matches(token));
    }
    let remaining = spend_attempt(conn, &token, now)?;
    Ok(CodeCheck::Wrong { remaining })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_of_base64url_and_codes_six_digits() {
        let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        assert_eq!(token.len(), 43);
        for _ in 0..200 {
            let code = fresh_code();
            assert_eq!(code.len(), 6, "{code}");
            assert!(code.chars().all(|c| c.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn the_code_hash_binds_the_code_to_its_token() {
        assert_ne!(code_hash("a", "123456"), code_hash("b", "123456"));
        assert_ne!(code_hash("a", "123456"), code_hash("a", "123457"));
        assert_eq!(code_hash("a", "123456"), code_hash("a", "123456"));
    }
}
