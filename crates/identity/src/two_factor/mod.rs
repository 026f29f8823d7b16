//! The TOTP second factor (RFC 6238, on HOTP, RFC 4226) and its single-use recovery codes, as
//! stored: enrolment, confirmation, verification with replay protection, recovery codes, and
//! switching it off. No HTTP, no password check, no audit: the application layer adds those.
//!
//! | module | owns | specification |
//! |---|---|---|
//! | `totp` | codes, the ±1 step window, secrets, the `otpauth://` URI and its QR code | RFC 6238 §4, §5.2; RFC 4226 §5 |
//! | `recovery` | recovery codes and their keyed hashes | RFC 2104 |
//! | `credential` | the flows, each in one transaction | RFC 6238 §5.2 |
//! | `queries` | the `totp_credentials` and `recovery_codes` rows | |
//!
//! A credential is *pending* from [`Database::begin_totp_enrolment`] until a
//! code from the new authenticator confirms it, and *enabled* from then on. Its secret is
//! sealed (AES-256-GCM) under a key derived from the master key, bound to the user it belongs
//! to; its algorithm, digits and period are stored with it.
//!
//! Replay (RFC 6238 §5.2: the verifier MUST NOT accept the second attempt of the same OTP):
//! each credential records the last time step a code was accepted for, and a code is accepted
//! only for a later step, by a conditional `UPDATE` that at most one of several concurrent
//! uses can win. The code that confirms enrolment counts as used.
//!
//! Every flow that changes a user's second factor first takes that user's row lock (a no-op
//! `UPDATE`, as the lockout rules do), so enrolment, confirmation, regeneration and disabling
//! never interleave for one user; verifying a code and using a recovery code are single
//! conditional statements and need no lock.

mod credential;
mod queries;
mod recovery;
mod totp;

use std::fmt;

pub(crate) use credential::{begin, confirm, disable, regenerate_recovery_codes, status, verify};
pub(crate) use credential::{remaining_recovery_codes, use_recovery_code};
/// Removes a user's credential and recovery codes inside the caller's transaction (an
/// operator's reset, which commits the removal with its audit event and session-end request).
pub(crate) use queries::delete_all;
pub use recovery::{RECOVERY_CODE_COUNT, RecoveryCodes};
pub use totp::{TotpAlgorithm, TotpParameters};

#[cfg(doc)]
use crate::Database;
use crate::error::IdentityError;
use crate::secrets::MasterKey;
use recovery::RecoveryCodeHasher;

/// Whether the user has a confirmed TOTP credential (sign-in asks for a code), inside the
/// caller's transaction.
pub(crate) fn has_confirmed_credential(
    conn: &mut crate::db::DbConnection,
    user_id: uuid::Uuid,
) -> diesel::QueryResult<bool> {
    Ok(queries::state(conn, user_id)? == Some(true))
}

/// What the key derivation calls the key that seals TOTP secrets ([`MasterKey::derive`]).
const SEAL_KEY_PURPOSE: &str = "totp-secret-a256gcm";
/// ... and the key of the recovery-code HMAC.
const RECOVERY_KEY_PURPOSE: &str = "recovery-code-hmac-sha256";

/// What the second-factor flows need besides the database: the issuer shown in authenticator
/// apps, the parameters of new enrolments, and two keys derived from the master key (one seals
/// TOTP secrets, one hashes recovery codes). Holding subkeys rather than the master key keeps
/// a sealed TOTP secret from ever opening as anything else (a signing key), and lets the
/// application keep these settings without a copy of the master key. Cheap to clone; `Debug`
/// shows no key.
#[derive(Clone)]
pub struct TotpSettings {
    issuer: String,
    parameters: TotpParameters,
    seal_key: [u8; 32],
    recovery: RecoveryCodeHasher,
}

/// An issuer or parameters that cannot make a credential; names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TOTP settings: {0}")]
pub struct TotpSettingsError(&'static str);

/// Longer issuers crowd authenticator apps' lists, and none needs more.
const ISSUER_MAX_CHARS: usize = 64;

impl TotpSettings {
    /// The issuer when the configuration names none.
    pub const DEFAULT_ISSUER: &'static str = "Gatehouse";

    /// Default parameters (SHA-1, 6 digits, 30 s). The issuer is 1 to 64 characters without a
    /// colon (the Key URI Format's label separator) or control characters.
    pub fn new(master: &MasterKey, issuer: &str) -> Result<Self, TotpSettingsError> {
        let length = issuer.chars().count();
        if length == 0 || length > ISSUER_MAX_CHARS {
            return Err(TotpSettingsError("the issuer must be 1 to 64 characters"));
        }
        if issuer.contains(':') || issuer.chars().any(char::is_control) {
            return Err(TotpSettingsError(
                "the issuer must not contain a colon or control characters",
            ));
        }
        Ok(TotpSettings {
            issuer: issuer.to_owned(),
            parameters: TotpParameters::default(),
            seal_key: master.derive(SEAL_KEY_PURPOSE),
            recovery: RecoveryCodeHasher::new(master.derive(RECOVERY_KEY_PURPOSE)),
        })
    }

    /// Parameters for credentials enrolled from now on; enrolled ones keep their own.
    pub fn with_parameters(
        mut self,
        parameters: TotpParameters,
    ) -> Result<Self, TotpSettingsError> {
        parameters.check().map_err(TotpSettingsError)?;
        self.parameters = parameters;
        Ok(self)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The parameters new enrolments get.
    pub fn parameters(&self) -> TotpParameters {
        self.parameters
    }
}

impl fmt::Debug for TotpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSettings")
            .field("issuer", &self.issuer)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

/// What the user needs to set up an authenticator, shown once while enrolment is pending. Every
/// field but `parameters` reveals the secret; `Debug` prints none of them.
#[derive(Clone)]
pub struct TotpEnrolment {
    /// For manual entry: RFC 4648 base32, unpadded.
    pub secret_base32: String,
    /// `otpauth://totp/ISSUER:USERNAME?secret=…&issuer=…&algorithm=…&digits=…&period=…`
    pub otpauth_uri: String,
    /// The URI as a QR code: an `<svg>` element to inline in a page.
    pub qr_svg: String,
    pub parameters: TotpParameters,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrolment")
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

/// A user's second factor at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpStatus {
    /// A confirmed credential: sign-in asks for a code.
    pub enabled: bool,
    /// An enrolment begun and not yet confirmed; it does not protect anything yet.
    pub pending: bool,
    /// Unused recovery codes left.
    pub recovery_codes_remaining: i64,
}

/// Why a second-factor operation did not happen. Every variant but `Internal` is an outcome
/// for the application layer to turn into a message (a sign-in page says "invalid code" for
/// both `InvalidCode` and `ReplayedCode`, and records which in the audit trail); `Internal` is
/// an `IdentityError` and follows its policy.
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("no such user")]
    UnknownUser,
    /// Nothing to confirm or verify against: no credential, or (for verification and recovery
    /// codes) only a pending one.
    #[error("no TOTP credential")]
    NoCredential,
    /// Confirmation of a credential that is already confirmed.
    #[error("the TOTP credential is not pending confirmation")]
    NotPending,
    /// Enrolment over a confirmed credential: disable it first.
    #[error("TOTP is already enabled")]
    AlreadyEnabled,
    /// The code matches no time step in the window, or is not a recovery code of this user.
    #[error("invalid code")]
    InvalidCode,
    /// The code is right but was already used: its time step is not later than the last one
    /// accepted (RFC 6238 §5.2), a concurrent use of the same code won, or the recovery code
    /// was spent.
    #[error("code already used")]
    ReplayedCode,
    #[error(transparent)]
    Internal(#[from] IdentityError),
}

impl From<diesel::result::Error> for TotpError {
    fn from(err: diesel::result::Error) -> Self {
        TotpError::Internal(err.into())
    }
}
