//! Password sign-in into a new browser session.

use chrono::{DateTime, Utc};
use gatehouse_identity::{LoginError, RequestContext};
use gatehouse_sessions::BrowserSession;

use crate::sessions::{SessionEnd, SessionRef};
use crate::{AppError, Gatehouse};

/// A browser is signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The new session cookie's value; shown to this browser only, never stored.
    pub cookie_secret: String,
    pub session: BrowserSession,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, locked or disabled account: one answer for all, so the
    /// response does not tell which.
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error(transparent)]
    Backend(#[from] AppError),
}

impl Gatehouse {
    /// Checks the password and opens a new browser session. The browser's previous session, if
    /// it sent one, ends first: a cookie fixated before sign-in is never promoted.
    pub async fn sign_in_with_password(
        &self,
        username: &str,
        password: &str,
        previous_cookie: Option<&str>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, SignInError> {
        let user = match self
            .accounts
            .authenticate(username, password, ctx, now)
            .await
        {
            Ok(user) => user,
            Err(LoginError::InvalidCredentials) => return Err(SignInError::InvalidCredentials),
            Err(LoginError::Internal(err)) => return Err(AppError::from(err).into()),
        };
        if let Some(previous) = previous_cookie {
            self.end_session(SessionRef::Cookie(previous), SessionEnd::Replaced, ctx, now)
                .await?;
        }
        let session = BrowserSession {
            user_id: user.id,
            username: user.username.clone(),
            auth_time: now.timestamp(),
            created_at: now.timestamp(),
            amr: vec!["pwd".to_owned()],
            user_agent: ctx.user_agent.clone(),
            ip: ctx.ip.clone(),
        };
        let created = self
            .sessions
            .create(&session)
            .await
            .map_err(AppError::from)?;
        for evicted in &created.evicted {
            self.session_ended(evicted, user.id, SessionEnd::OverLimit, ctx, now)
                .await?;
        }
        if !created.evicted.is_empty() {
            let mut ctx = ctx.clone();
            ctx.actor = Some(user.id.to_string());
            self.audit(
                "session.evict",
                user.id.to_string(),
                serde_json::json!({ "sessions": created.evicted.len() }),
                &ctx,
                now,
            )
            .await;
        }
        Ok(SignedIn {
            cookie_secret: created.cookie_secret,
            session,
        })
    }
}
