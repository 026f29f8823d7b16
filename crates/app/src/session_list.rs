//! A user's live sessions as "your sessions" lists show them (account page, REST API).

use gatehouse_sessions::{BrowserSession, SessionHandle};
use uuid::Uuid;

use crate::{AppError, Gatehouse};

/// One live session of the user.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The public id (also the OIDC `sid` of tokens issued in it).
    pub handle: SessionHandle,
    pub session: BrowserSession,
    /// Clients that received tokens in this session, sorted.
    pub clients: Vec<String>,
}

impl Gatehouse {
    /// The user's live sessions, oldest first, each with the clients that received tokens in it.
    pub async fn list_sessions(
        &self,
        user_id: Uuid,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SessionView>, AppError> {
        let sessions = self.sessions.list_for_user(user_id).await?;
        let mut views = Vec::with_capacity(sessions.len());
        for (handle, session) in sessions {
            let clients = self
                .authz
                .session_clients(handle.as_str(), now.timestamp())
                .await?;
            views.push(SessionView {
                handle,
                session,
                clients,
            });
        }
        Ok(views)
    }

    /// The session behind a browser's cookie, its last-seen time kept current (at most one
    /// store write per five minutes per session). `None` for no live session.
    pub async fn session_for_cookie(
        &self,
        cookie_secret: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(SessionHandle, BrowserSession)>, AppError> {
        let Some((handle, session)) = self.sessions.get(cookie_secret).await? else {
            return Ok(None);
        };
        let session = self
            .sessions
            .touch(&handle, session, now.timestamp())
            .await?;
        Ok(Some((handle, session)))
    }
}
