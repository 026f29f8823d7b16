//! "Connected apps": the clients that can act on the user's account, and taking that away.
//!
//! An app is connected while the user's consent to it stands (RFC 6749 §4.1 step (B): the
//! authorization server "establishes whether the resource owner grants or denies the client's
//! access request") or while it holds a live offline grant (a refresh token from a grant with `offline_access`,
//! OIDC Core §11), which a first-party client can hold without any consent. Revoking one ends
//! both: the consent, so the next authorization asks again, and every grant the user holds for
//! that client, so its refresh tokens answer `invalid_grant` (RFC 6749 §5.2) and its access
//! tokens stop passing introspection and userinfo.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use gatehouse_identity::{AuditAction, RequestContext};
use uuid::Uuid;

use crate::{AppError, Gatehouse};

/// One client with access to the user's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApp {
    pub client_id: String,
    /// The registered name, or the client id once the client is gone.
    pub client_name: String,
    /// The scopes the user consented to, sorted; empty without a consent (a first-party client
    /// with an offline grant).
    pub scopes: Vec<String>,
    /// When its newest live offline grant was issued (Unix seconds); `None` without one.
    pub offline_since: Option<i64>,
}

/// What revoking an app took away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevokedApp {
    pub consent: bool,
    pub grants: usize,
}

impl Gatehouse {
    /// The user's connected apps, by name and then client id.
    pub async fn connected_apps(
        &self,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConnectedApp>, AppError> {
        let offline = self
            .authz
            .user_offline_clients(user_id, now.timestamp())
            .await?;
        self.with_db(move |db| {
            let mut apps = BTreeMap::<String, ConnectedApp>::new();
            for (client_id, scopes, _) in db.list_consents(user_id)? {
                apps.insert(
                    client_id.clone(),
                    ConnectedApp {
                        client_name: client_id.clone(),
                        client_id,
                        scopes,
                        offline_since: None,
                    },
                );
            }
            for (client_id, issued_at) in offline {
                apps.entry(client_id.clone())
                    .or_insert_with(|| ConnectedApp {
                        client_name: client_id.clone(),
                        client_id,
                        scopes: Vec::new(),
                        offline_since: None,
                    })
                    .offline_since = Some(issued_at);
            }
            let mut apps: Vec<ConnectedApp> = apps.into_values().collect();
            for app in &mut apps {
                if let Some(client) = db.find_client(&app.client_id)? {
                    app.client_name = client.name;
                }
            }
            apps.sort_by(|a, b| {
                (a.client_name.as_str(), a.client_id.as_str())
                    .cmp(&(b.client_name.as_str(), b.client_id.as_str()))
            });
            Ok(apps)
        })
        .await
    }

    /// Disconnects `client_id` from the user's account: withdraws the consent, then revokes
    /// every grant the user holds for it (offline ones and those of live sessions alike).
    /// The consent goes first, so that no authorization from here on skips the question; a
    /// code issued just before can still be exchanged within its short lifetime and connect
    /// the app again. Each part is audited when it took something away; revoking an app that
    /// is not connected changes nothing.
    ///
    /// No back-channel logout is sent: the user's sessions go on, and the relying party learns
    /// of the revocation at its next refresh.
    pub async fn revoke_app(
        &self,
        user_id: Uuid,
        client_id: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<RevokedApp, AppError> {
        let consent = self.revoke_consent(user_id, client_id, ctx, now).await?;
        let ended = self
            .authz
            .end_user_client_grants(user_id, client_id, now.timestamp())
            .await?;
        if ended.revoked > 0 {
            let mut ctx = ctx.clone();
            ctx.actor = Some(user_id.to_string());
            self.audit(
                AuditAction::GrantRevoke,
                client_id.to_owned(),
                serde_json::json!({ "user": user_id.to_string(), "grants_revoked": ended.revoked }),
                &ctx,
                now,
            )
            .await;
        }
        Ok(RevokedApp {
            consent,
            grants: ended.revoked,
        })
    }
}
