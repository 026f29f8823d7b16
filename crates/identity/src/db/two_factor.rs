//! `Database` entry points for the TOTP second factor and recovery codes (RFC 6238); the rules
//! live in `crate::two_factor`. Like every `Database` method they block, and take `now` from the
//! caller. The application layer adds what needs a person: the password check before disabling,
//! the audit trail, ending sessions after a reset, throttling wrong codes.

use chrono::{DateTime, Utc};

use super::Database;
use crate::error::IdentityError;
use crate::two_factor::{self, RecoveryCodes, TotpEnrolment, TotpError, TotpSettings, TotpStatus};

impl Database {
    /// Starts enrolment with a fresh 160-bit secret and `settings`' parameters, replacing any
    /// pending (unconfirmed) credential of the user. Returns the secret, the `otpauth://` URI
    /// and its QR code, to show once. `AlreadyEnabled` if a confirmed credential exists (disable
    /// it first); `UnknownUser` if there is no such user.
    #[tracing::instrument(skip(self, settings))]
    pub fn begin_totp_enrolment(
        &self,
        user_id: uuid::Uuid,
        settings: &TotpSettings,
        now: DateTime<Utc>,
    ) -> Result<TotpEnrolment, TotpError> {
        two_factor::begin(self, user_id, settings, now)
    }

    /// Confirms the pending credential with a code from the new authenticator, which counts as
    /// used (RFC 6238 §5.2), and returns a new set of recovery codes (replacing any old set),
    /// to show once. `NoCredential`, `NotPending` (already confirmed), `InvalidCode`.
    #[tracing::instrument(skip(self, code, settings))]
    pub fn confirm_totp_enrolment(
        &self,
        user_id: uuid::Uuid,
        code: &str,
        settings: &TotpSettings,
        now: DateTime<Utc>,
    ) -> Result<RecoveryCodes, TotpError> {
        two_factor::confirm(self, user_id, code, settings, now)
    }

    /// Checks a code against the user's confirmed credential: it must be the code of the
    /// current time step or the one either side of it (parameters as stored with the
    /// credential), and of a later step than the last code accepted. Of concurrent uses of one
    /// code exactly one succeeds. `NoCredential` (none, or only pending), `InvalidCode`,
    /// `ReplayedCode`.
    #[tracing::instrument(skip(self, code, settings))]
    pub fn verify_totp(
        &self,
        user_id: uuid::Uuid,
        code: &str,
        settings: &TotpSettings,
        now: DateTime<Utc>,
    ) -> Result<(), TotpError> {
        two_factor::verify(self, user_id, code, settings, now)
    }

    /// Spends one recovery code (case, spaces and dashes ignored); each works once, also under
    /// concurrent use. `InvalidCode`, or `ReplayedCode` for a code already spent.
    #[tracing::instrument(skip(self, code, settings))]
    pub fn use_recovery_code(
        &self,
        user_id: uuid::Uuid,
        code: &str,
        settings: &TotpSettings,
        now: DateTime<Utc>,
    ) -> Result<(), TotpError> {
        two_factor::use_recovery_code(self, user_id, code, settings, now)
    }

    /// A new set of recovery codes, to show once; the old set stops working in the same
    /// transaction. `NoCredential` unless TOTP is enabled.
    #[tracing::instrument(skip(self, settings))]
    pub fn regenerate_recovery_codes(
        &self,
        user_id: uuid::Uuid,
        settings: &TotpSettings,
        now: DateTime<Utc>,
    ) -> Result<RecoveryCodes, TotpError> {
        two_factor::regenerate_recovery_codes(self, user_id, settings, now)
    }

    /// Unused recovery codes of the user.
    pub fn remaining_recovery_codes(&self, user_id: uuid::Uuid) -> Result<i64, IdentityError> {
        two_factor::remaining_recovery_codes(self, user_id)
    }

    pub fn totp_status(&self, user_id: uuid::Uuid) -> Result<TotpStatus, IdentityError> {
        two_factor::status(self, user_id)
    }

    /// Removes the user's credential, pending or confirmed, and every recovery code, in one
    /// transaction. Returns whether there was a credential. The caller checks the password
    /// first and audits.
    #[tracing::instrument(skip(self))]
    pub fn disable_totp(&self, user_id: uuid::Uuid) -> Result<bool, IdentityError> {
        let removed = two_factor::disable(self, user_id)?;
        if removed {
            tracing::info!("TOTP disabled");
        }
        Ok(removed)
    }

    /// An administrator's reset (`gatehouse user reset-2fa USERNAME`): the same removal as
    /// [`Database::disable_totp`], without the user's password. Ending the user's sessions and
    /// the audit entry are the caller's.
    #[tracing::instrument(skip(self))]
    pub fn reset_2fa(&self, user_id: uuid::Uuid) -> Result<bool, IdentityError> {
        let removed = two_factor::disable(self, user_id)?;
        tracing::warn!(removed, "second factor reset by an administrator");
        Ok(removed)
    }
}
