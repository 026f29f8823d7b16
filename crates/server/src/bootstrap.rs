//! First start: an empty user table gets an `admin` account, so a fresh install can be administered.

use gatehouse_identity::{Accounts, RegisterError, Registration, RequestContext, Role};
use rand::distr::{Alphanumeric, SampleString};
use secrecy::ExposeSecret;

use crate::config::BootstrapSettings;

/// Creates the admin account when there are no users. Several instances starting at once race
/// safely: the loser sees a duplicate and does nothing.
pub async fn ensure_admin(
    accounts: &Accounts,
    settings: &BootstrapSettings,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    let count = accounts.database().run(|db| db.count_users()).await?;
    if count > 0 {
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(password) => (password.expose_secret().to_owned(), false),
        None => (Alphanumeric.sample_string(&mut rand::rng(), 24), true),
    };
    let registration = Registration {
        username: settings.admin_username.clone(),
        email: settings.admin_email.clone(),
        password: password.clone(),
    };
    let ctx = RequestContext::system("bootstrap");
    match accounts
        .register(registration, &[Role::Admin], &ctx, now)
        .await
    {
        Ok(user) => {
            if generated {
                tracing::warn!(
                    username = %user.username,
                    password = %password,
                    "created the bootstrap admin account; this password is shown only once: change it"
                );
            } else {
                tracing::info!(username = %user.username, "created the bootstrap admin account");
            }
            Ok(())
        }
        Err(RegisterError::Duplicate { .. }) => Ok(()),
        Err(RegisterError::Invalid(field)) => Err(anyhow::anyhow!(
            "bootstrap admin: {}: {} (see bootstrap.* in the configuration)",
            field.field,
            field.message
        )),
        Err(RegisterError::Internal(err)) => Err(err.into()),
    }
}
