//! The second-factor flows behind the `Database` entry points. Each takes `now` from the caller;
//! each that changes more than one row does so in one transaction, under the user's row lock.

use chrono::{DateTime, Utc};

use super::queries::{self, StoredCredential};
use super::recovery::{self, RecoveryCodes};
use super::totp::{self, Authenticator};
use super::{TotpEnrolment, TotpError, TotpSettings, TotpStatus};
use crate::db::{Database, DbConnection};
use crate::error::IdentityError;
use crate::secrets;
use crate::users::{self, id_text};

/// Versions the sealed plaintext and names what it is.
const SEALED_CONTEXT: &str = "gatehouse-totp-v1";

pub(crate) fn begin(
    db: &Database,
    user_id: uuid::Uuid,
    settings: &TotpSettings,
    now: DateTime<Utc>,
) -> Result<TotpEnrolment, TotpError> {
    let user = db.find_user_by_id(user_id)?.ok_or(TotpError::UnknownUser)?;
    let parameters = settings.parameters();
    let secret = totp::generate_secret()?;
    let sealed = seal_secret(settings, user_id, &secret)?;
    let otpauth_uri = totp::otpauth_uri(settings.issuer(), &user.username, &secret, parameters);
    let qr_svg = totp::qr_svg(&otpauth_uri)?;
    db.write(|conn| {
        lock_user(conn, user_id)?;
        match queries::state(conn, user_id)? {
            Some(true) => Err(TotpError::AlreadyEnabled),
            Some(false) => {
                if queries::replace_pending(conn, user_id, &sealed, parameters, now)? {
                    Ok(())
                } else {
                    Err(TotpError::AlreadyEnabled)
                }
            }
            None => Ok(queries::insert_pending(
                conn, user_id, &sealed, parameters, now,
            )?),
        }
    })?;
    Ok(TotpEnrolment {
        secret_base32: totp::base32(&secret),
        otpauth_uri,
        qr_svg,
        parameters,
    })
}

pub(crate) fn confirm(
    db: &Database,
    user_id: uuid::Uuid,
    code: &str,
    settings: &TotpSettings,
    now: DateTime<Utc>,
) -> Result<RecoveryCodes, TotpError> {
    let (codes, hashes) = recovery::generate(&settings.recovery, user_id)?;
    db.write(|conn| {
        lock_user(conn, user_id)?;
        let credential = queries::find(conn, user_id)?.ok_or(TotpError::NoCredential)?;
        if credential.confirmed_at.is_some() {
            return Err(TotpError::NotPending);
        }
        let step = accepted_step(settings, user_id, &credential, code, now)?;
        // The enrolment code is spent like any other: the first sign-in needs the next one.
        if !queries::accept_step(conn, user_id, &credential.sealed_secret, step, Some(now))? {
            return Err(TotpError::ReplayedCode);
        }
        queries::replace_recovery_codes(conn, user_id, &hashes, now)?;
        Ok(())
    })?;
    tracing::info!(%user_id, "TOTP enrolment confirmed");
    Ok(codes)
}

pub(crate) fn verify(
    db: &Database,
    user_id: uuid::Uuid,
    code: &str,
    settings: &TotpSettings,
    now: DateTime<Utc>,
) -> Result<(), TotpError> {
    let credential = match db.read(|conn| queries::find(conn, user_id))? {
        Some(credential) if credential.confirmed_at.is_some() => credential,
        _ => return Err(TotpError::NoCredential),
    };
    let step = accepted_step(settings, user_id, &credential, code, now)?;
    // Not retried: the statement may have run before a lost connection was noticed.
    let won = db.write_statement(|conn| {
        queries::accept_step(conn, user_id, &credential.sealed_secret, step, None)
    })?;
    if won {
        return Ok(());
    }
    // Someone else accepted this step or a later one first, or the credential changed.
    match db.read(|conn| queries::find(conn, user_id))? {
        Some(current) if current.confirmed_at.is_none() => Err(TotpError::NoCredential),
        Some(current) if current.sealed_secret == credential.sealed_secret => {
            Err(TotpError::ReplayedCode)
        }
        Some(_) => Err(TotpError::InvalidCode),
        None => Err(TotpError::NoCredential),
    }
}

pub(crate) fn regenerate_recovery_codes(
    db: &Database,
    user_id: uuid::Uuid,
    settings: &TotpSettings,
    now: DateTime<Utc>,
) -> Result<RecoveryCodes, TotpError> {
    let (codes, hashes) = recovery::generate(&settings.recovery, user_id)?;
    db.write(|conn| {
        lock_user(conn, user_id)?;
        if queries::state(conn, user_id)? != Some(true) {
            return Err(TotpError::NoCredential);
        }
        Ok(queries::replace_recovery_codes(
            conn, user_id, &hashes, now,
        )?)
    })?;
    tracing::info!(%user_id, "recovery codes regenerated");
    Ok(codes)
}

pub(crate) fn use_recovery_code(
    db: &Database,
    user_id: uuid::Uuid,
    code: &str,
    settings: &TotpSettings,
    now: DateTime<Utc>,
) -> Result<(), TotpError> {
    let Some(normalized) = recovery::normalize(code) else {
        return Err(TotpError::InvalidCode);
    };
    let hash = settings.recovery.hash(user_id, &normalized);
    if db.write_statement(|conn| Ok(queries::spend_recovery_code(conn, user_id, &hash, now)?))? {
        return Ok(());
    }
    if db.read(|conn| Ok(queries::has_recovery_code(conn, user_id, &hash)?))? {
        Err(TotpError::ReplayedCode)
    } else {
        Err(TotpError::InvalidCode)
    }
}

pub(crate) fn remaining_recovery_codes(
    db: &Database,
    user_id: uuid::Uuid,
) -> Result<i64, IdentityError> {
    db.read(|conn| Ok(queries::count_unused_recovery_codes(conn, user_id)?))
}

pub(crate) fn status(db: &Database, user_id: uuid::Uuid) -> Result<TotpStatus, IdentityError> {
    db.read(|conn| {
        let state = queries::state(conn, user_id)?;
        Ok(TotpStatus {
            enabled: state == Some(true),
            pending: state == Some(false),
            recovery_codes_remaining: queries::count_unused_recovery_codes(conn, user_id)?,
        })
    })
}

/// Whether there was a credential (pending or confirmed) to remove.
pub(crate) fn disable(db: &Database, user_id: uuid::Uuid) -> Result<bool, IdentityError> {
    db.write(|conn| {
        // A missing user has nothing to remove; the lock only orders this after other flows.
        users::queries::lock_row(conn, user_id)?;
        Ok(queries::delete_all(conn, user_id)?)
    })
}

fn lock_user(conn: &mut DbConnection, user_id: uuid::Uuid) -> Result<(), TotpError> {
    if users::queries::lock_row(conn, user_id)? {
        Ok(())
    } else {
        Err(TotpError::UnknownUser)
    }
}

/// The time step `code` is accepted for: of the steps in the window whose code it is, the
/// oldest one later than the last step accepted (RFC 6238 §5.2). A code that matches only steps
/// already spent, or older ones, is a replay.
fn accepted_step(
    settings: &TotpSettings,
    user_id: uuid::Uuid,
    credential: &StoredCredential,
    code: &str,
    now: DateTime<Utc>,
) -> Result<u64, TotpError> {
    let secret = open_secret(settings, user_id, &credential.sealed_secret)?;
    let matching = Authenticator::new(&secret, credential.parameters)?.matching_steps(code, now);
    if matching.is_empty() {
        return Err(TotpError::InvalidCode);
    }
    matching
        .into_iter()
        .find(|&step| credential.last_used_step.is_none_or(|last| step > last))
        .ok_or(TotpError::ReplayedCode)
}

/// The sealed plaintext names the user, so a sealed secret copied onto another user's row (by
/// someone who can write the table but lacks the master key) does not open there.
fn sealed_plaintext_prefix(user_id: uuid::Uuid) -> String {
    format!("{SEALED_CONTEXT}\n{}\n", id_text(user_id))
}

fn seal_secret(
    settings: &TotpSettings,
    user_id: uuid::Uuid,
    secret: &[u8],
) -> Result<String, IdentityError> {
    let mut plaintext = sealed_plaintext_prefix(user_id).into_bytes();
    plaintext.extend_from_slice(secret);
    Ok(secrets::seal(&settings.seal_key, &plaintext)?)
}

fn open_secret(
    settings: &TotpSettings,
    user_id: uuid::Uuid,
    sealed: &str,
) -> Result<Vec<u8>, IdentityError> {
    let plaintext = secrets::open(&settings.seal_key, sealed)?;
    plaintext
        .strip_prefix(sealed_plaintext_prefix(user_id).as_bytes())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            IdentityError::Corrupt(format!(
                "the TOTP secret stored for user {user_id} was sealed for another user"
            ))
        })
}
