//! Gatehouse's durable identity data: users, roles and the audit trail, OAuth clients, consents
//! and the OIDC signing keys, on Diesel over either Postgres or SQLite with one query code; plus
//! the account rules built on them (registration, password verification with Argon2id,
//! brute-force lockout), the TOTP second factor with its recovery codes (RFC 6238), and the
//! client registration rules; the master key and the sealing of secrets at rest ([`secrets`]).
//!
//! Everything here is synchronous Diesel underneath. `Database` methods block; async code calls
//! them through [`Database::run`], the one way onto the blocking pool. `Accounts` and
//! `PasswordHasher` are async and do that themselves (Argon2 on its own bounded pool), so
//! callers on an async runtime never stall a worker.

mod accounts;
pub mod admin;
mod audit;
mod clients;
mod consents;
mod db;
mod email_tokens;
mod error;
mod key_material;
mod mail_outbox;
pub mod organizations;
mod password;
mod schema;
pub mod secrets;
mod session_end_requests;
mod signing_keys;
mod two_factor;
mod users;
mod validation;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod tests;

pub use accounts::{
    AccountMails, Accounts, EmailChangeError, EmailStatus, EmailVerified, FieldError,
    LockoutPolicy, LoginError, PasswordChangeError, PasswordResetDone, PasswordResetError,
    PasswordVerified, RegisterError, Registration, RequestContext, ResentVerification, ResetTarget,
    SecondFactorError, SecondFactorMethod, TokenMail, VerifyEmailError,
};
pub use audit::{
    ActorKind, AuditAction, AuditEvent, AuditOutcome, CLIENT_ACTOR_PREFIX, NewAuditEvent,
    USER_ACTOR_PREFIX,
};
pub use clients::{
    Client, ClientError, ClientSecretHasher, ClientType, GrantType, NewClient,
    TokenEndpointAuthMethod, is_plausible_client_id, validate_resource,
};
pub use db::{Backend, ConnectOptions, Database};
pub use email_tokens::{EmailTokenPurpose, IssuedToken, MAX_CODE_ATTEMPTS};
pub use error::IdentityError;
pub use key_material::Resealed;
pub use mail_outbox::{
    ClaimedMail, MailFailure, MailRetryPolicy, MailStatus, OutboxEntry, OutboxMail,
};
pub use organizations::{Membership, OrgRole, Organization};
pub use password::{Argon2Params, PasswordHasher};
pub use secrets::{MasterKey, SecretsError};
pub use session_end_requests::{SessionEndReason, SessionEndRequest};
pub use signing_keys::{KeyStatus, StoredSigningKey};
pub use two_factor::{
    RECOVERY_CODE_COUNT, RecoveryCodes, TotpAlgorithm, TotpEnrolment, TotpError, TotpParameters,
    TotpSettings, TotpSettingsError, TotpStatus,
};
pub use users::{Role, User, UserStatus};
pub use validation::{
    EMAIL_MAX_CHARS, EMAIL_MIN_CHARS, Email, PASSWORD_MAX_CHARS, PASSWORD_MIN_CHARS,
    USERNAME_MAX_CHARS, USERNAME_MIN_CHARS, USERNAME_PATTERN, Username, common_password_pattern,
    email_pattern, validate_email, validate_password, validate_username,
};
