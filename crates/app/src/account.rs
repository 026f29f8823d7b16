//! A user's account as the account surfaces (page, REST API) show it.

use gatehouse_identity::{IdentityError, Role, TotpStatus, User};
use uuid::Uuid;

use crate::{AppError, Gatehouse};

/// The account, its roles and its second factor.
#[derive(Debug, Clone)]
pub struct Account {
    pub user: User,
    pub roles: Vec<Role>,
    pub totp: TotpStatus,
}

impl Gatehouse {
    /// `None` if the account no longer exists.
    pub async fn account(&self, user_id: Uuid) -> Result<Option<Account>, AppError> {
        let found = self
            .with_db(move |db| -> Result<_, IdentityError> {
                let Some(user) = db.find_user_by_id(user_id)? else {
                    return Ok(None);
                };
                Ok(Some((
                    user,
                    db.roles_of(user_id)?,
                    db.totp_status(user_id)?,
                )))
            })
            .await?;
        Ok(found.map(|(user, roles, totp)| Account { user, roles, totp }))
    }
}
