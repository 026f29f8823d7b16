//! OpenID Connect Back-Channel Logout 1.0: the durable queue of logout notifications and the
//! protocol decisions around it, without HTTP. The server's worker does the POSTs.
//!
//! The end-session path calls [`Authz::queue_backchannel_logout`] once per client that took
//! part in the session (§2.3); that only writes a job to the session store, never sends inline.
//! Workers, one or more per instance, then loop:
//!
//! 1. [`Authz::claim_backchannel_logouts`] takes the jobs that are due and mints a logout token
//!    for each (§2.4: `typ` `logout+jwt`, `iss`, `aud`, `iat`, `exp` two minutes later, a `jti`
//!    fresh for every try, `events`, `sub` and `sid` as known, no `nonce`), signed with the
//!    client's `id_token_signed_response_alg`, which is what the client verifies ID tokens with;
//! 2. the worker POSTs it as `logout_token` in an `application/x-www-form-urlencoded` body (§2.5);
//! 3. [`Authz::finish_backchannel_logout`] records what came back ([`policy`]: 200 and 204 are
//!    delivered, §2.8; network errors, 5xx and 429 are tried again later, anything else is
//!    final) and writes `backchannel_logout.delivered` or `backchannel_logout.failed` to the
//!    audit trail.
//!
//! # Queue layout and sharing the work
//!
//! `bcl:queue` is a sorted set of job ids scored by the Unix millisecond the job is due;
//! `bcl:job:<id>` holds the job (see `crate::store`). Claiming is one atomic step of the
//! store ([`KvStore::sorted_claim_due`], a Lua script on Redis): it takes the due ids and moves
//! their score to the end of a lease ([`BackchannelLogoutSettings::lease`]). So of several
//! workers, on any number of instances sharing one Redis, exactly one gets each job; the others
//! see it again only when the lease runs out, which is how a job held by a worker that died
//! comes back. A retry writes the job (tries so far) and then moves its score to the next due
//! time; delivered or failed, the id leaves the queue first and the job after it.
//!
//! [`KvStore::sorted_claim_due`]: gatehouse_sessions::KvStore::sorted_claim_due
//! [`BackchannelLogoutSettings::lease`]: crate::BackchannelLogoutSettings::lease
//!
//! Delivery is at least once, exactly once in practice: a job is POSTed again only if its
//! worker died or stalled for longer than the lease (a minute, against a 5-second HTTP
//! timeout) between claiming and finishing it. Logging a session out twice is harmless.

pub mod policy;

use chrono::{DateTime, Utc};
use gatehouse_identity::{ActorKind, AuditAction, AuditOutcome, Client, NewAuditEvent};
use gatehouse_sessions::StoreError;
use gatehouse_tokens::{
    Algorithm, LogoutEvents, LogoutTokenClaims, TokenError, mint_logout_token, new_jti,
};
use serde::{Deserialize, Serialize};

pub use self::policy::{DeliveryDisposition, DeliveryOutcome};
use crate::error::OAuthError;
use crate::service::Authz;
use crate::store::{LOGOUT_QUEUE_KEY, get_json, logout_job_key, put_json};

/// Audited when a relying party acknowledged a logout token (200 or 204).
pub const AUDIT_DELIVERED: AuditAction = AuditAction::BackchannelLogoutDelivered;
/// Audited when delivery gave up (a 4xx, or the last retry failed).
pub const AUDIT_FAILED: AuditAction = AuditAction::BackchannelLogoutFailed;

/// Why a notification could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum BackchannelLogoutError {
    /// §2.4: a logout token identifies the user (`sub`), the session (`sid`) or both.
    #[error("a logout token needs a sub or a sid (Back-Channel Logout 1.0 §2.4)")]
    NoSubject,
    /// §2.4: the client registered `backchannel_logout_session_required`.
    #[error("client {client_id} requires a sid in logout tokens, and none was given")]
    SidRequired { client_id: String },
    /// The client could not be looked up (database unavailable).
    #[error("cannot look up the client: {0}")]
    Lookup(#[source] OAuthError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One notification as stored: who to tell, about whom, and how it has gone so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LogoutJob {
    client_id: String,
    /// The URI registered when the session ended: the notification goes where the client
    /// asked at that time.
    backchannel_logout_uri: String,
    sub: Option<String>,
    sid: Option<String>,
    /// Tries made so far.
    attempt: u32,
    /// When the next try is due (Unix milliseconds), as scored in the queue.
    next_at: i64,
}

/// A claimed notification, ready to be POSTed once by the worker that claimed it; finishing it
/// consumes it.
#[derive(Debug)]
pub struct LogoutDelivery {
    job_id: String,
    job: LogoutJob,
    logout_token: String,
}

impl LogoutDelivery {
    pub fn client_id(&self) -> &str {
        &self.job.client_id
    }

    /// Where to POST (the client's `backchannel_logout_uri`).
    pub fn uri(&self) -> &str {
        &self.job.backchannel_logout_uri
    }

    /// The logout token of this try, with its own `jti`.
    pub fn logout_token(&self) -> &str {
        &self.logout_token
    }

    /// The form body of §2.5, to be sent `application/x-www-form-urlencoded`.
    pub fn form(&self) -> [(&'static str, &str); 1] {
        [("logout_token", &self.logout_token)]
    }

    /// The job's id in the queue, for logs.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// 1 for the first try.
    pub fn attempt(&self) -> u32 {
        self.job.attempt.saturating_add(1)
    }
}

impl Authz {
    /// Queues a logout token for `client_id` about `sub` and/or `sid` (both when known), to be
    /// sent by a worker from `now` on. Returns the job id, or `None` when there is no one to
    /// notify: the client is unknown or registered no `backchannel_logout_uri`. The end-session
    /// path calls this for every client that received tokens in the session.
    #[tracing::instrument(level = "debug", skip(self, sub, sid))]
    pub async fn queue_backchannel_logout(
        &self,
        client_id: &str,
        sub: Option<&str>,
        sid: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, BackchannelLogoutError> {
        if sub.is_none() && sid.is_none() {
            return Err(BackchannelLogoutError::NoSubject);
        }
        let Some(client) = self
            .find_client(client_id)
            .await
            .map_err(BackchannelLogoutError::Lookup)?
        else {
            return Ok(None);
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            return Ok(None);
        };
        if client.backchannel_logout_session_required && sid.is_none() {
            return Err(BackchannelLogoutError::SidRequired {
                client_id: client.client_id.clone(),
            });
        }
        let job_id = uuid::Uuid::new_v4().simple().to_string();
        let job = LogoutJob {
            client_id: client.client_id.clone(),
            backchannel_logout_uri: uri,
            sub: sub.map(str::to_owned),
            sid: sid.map(str::to_owned),
            attempt: 0,
            next_at: now.timestamp_millis(),
        };
        self.save_job(&job_id, &job).await?;
        tracing::debug!(%job_id, client_id, "queued a back-channel logout");
        Ok(Some(job_id))
    }

    /// Claims up to `limit` notifications due at `now` for this worker alone, each with a
    /// logout token minted now. A job whose client was deleted is dropped (audited as failed);
    /// one that cannot be signed right now (no active key, database down) stays claimed and
    /// comes back when its lease ends.
    pub async fn claim_backchannel_logouts(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<LogoutDelivery>, StoreError> {
        let settings = &self.settings().backchannel_logout;
        let now_ms = now.timestamp_millis();
        let lease_until = (now + settings.lease).timestamp_millis();
        let claimed = self
            .store()
            .sorted_claim_due(LOGOUT_QUEUE_KEY, now_ms, lease_until, limit)
            .await?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        for job_id in claimed {
            let Some(job) = get_json::<LogoutJob>(self.store(), &logout_job_key(&job_id)).await?
            else {
                tracing::warn!(%job_id, "back-channel logout job vanished from the store");
                self.store()
                    .sorted_remove(LOGOUT_QUEUE_KEY, &job_id)
                    .await?;
                continue;
            };
            let client = match self.find_client(&job.client_id).await {
                Ok(Some(client)) => client,
                Ok(None) => {
                    let reason = "the client is no longer registered".to_owned();
                    self.give_up(&job_id, &job, job.attempt, reason, now)
                        .await?;
                    continue;
                }
                Err(err) => {
                    tracing::warn!(
                        %job_id,
                        error = %err,
                        "back-channel logout: cannot look up the client; retried after the lease"
                    );
                    continue;
                }
            };
            match self.mint_logout_token(&client, &job, now) {
                Ok(logout_token) => deliveries.push(LogoutDelivery {
                    job_id,
                    job,
                    logout_token,
                }),
                Err(err) => {
                    tracing::error!(
                        %job_id,
                        error = %err,
                        "back-channel logout: cannot sign the logout token; retried after the lease"
                    );
                }
            }
        }
        Ok(deliveries)
    }

    /// Records how `delivery`'s try ended at `now` and what becomes of the job.
    pub async fn finish_backchannel_logout(
        &self,
        delivery: LogoutDelivery,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> Result<DeliveryDisposition, StoreError> {
        let settings = &self.settings().backchannel_logout;
        let attempt = delivery.attempt();
        let disposition = policy::disposition(settings, outcome, attempt, now);
        let LogoutDelivery { job_id, job, .. } = delivery;
        match disposition {
            DeliveryDisposition::Delivered => {
                self.forget_job(&job_id).await?;
                tracing::info!(client_id = %job.client_id, attempt, "back-channel logout delivered");
                self.audit(
                    &job,
                    AuditOutcome::Success,
                    attempt,
                    outcome.describe(),
                    now,
                )
                .await;
            }
            DeliveryDisposition::RetryAt(at) => {
                tracing::warn!(
                    client_id = %job.client_id,
                    uri = %job.backchannel_logout_uri,
                    attempt,
                    outcome = %outcome.describe(),
                    retry_at = %at,
                    "back-channel logout not delivered; will try again"
                );
                let job = LogoutJob {
                    attempt,
                    next_at: at.timestamp_millis(),
                    ..job
                };
                self.save_job(&job_id, &job).await?;
            }
            DeliveryDisposition::Failed => {
                self.give_up(&job_id, &job, attempt, outcome.describe(), now)
                    .await?;
            }
        }
        Ok(disposition)
    }

    /// §2.4, with the client's ID token algorithm and key.
    fn mint_logout_token(
        &self,
        client: &Client,
        job: &LogoutJob,
        now: DateTime<Utc>,
    ) -> Result<String, TokenError> {
        let alg = Algorithm::from_name(&client.id_token_signed_response_alg).ok_or(
            TokenError::InvalidClaims("the client's id_token_signed_response_alg is unsupported"),
        )?;
        let keys = self.key_set();
        let key = keys.active(alg).ok_or(TokenError::InvalidClaims(
            "no active key for the client's algorithm",
        ))?;
        let settings = self.settings();
        let iat = now.timestamp();
        let claims = LogoutTokenClaims {
            iss: settings.issuer.clone(),
            aud: vec![client.client_id.clone()],
            iat,
            exp: iat.saturating_add(settings.backchannel_logout.token_ttl.num_seconds()),
            jti: new_jti(),
            events: LogoutEvents::default(),
            sub: job.sub.clone(),
            sid: job.sid.clone(),
        };
        mint_logout_token(key, &claims)
    }

    /// Writes the job, then (re)schedules it: a crash in between leaves the job leased, and it
    /// comes back with what was written when the lease ends.
    async fn save_job(&self, job_id: &str, job: &LogoutJob) -> Result<(), StoreError> {
        let ttl = policy::job_ttl(&self.settings().backchannel_logout);
        put_json(self.store(), &logout_job_key(job_id), job, ttl).await?;
        self.store()
            .sorted_add(LOGOUT_QUEUE_KEY, job_id, job.next_at, ttl)
            .await
    }

    /// Out of the queue first, so that no worker claims a job without its record.
    async fn forget_job(&self, job_id: &str) -> Result<(), StoreError> {
        self.store().sorted_remove(LOGOUT_QUEUE_KEY, job_id).await?;
        self.store().delete(&logout_job_key(job_id)).await?;
        Ok(())
    }

    async fn give_up(
        &self,
        job_id: &str,
        job: &LogoutJob,
        tries: u32,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.forget_job(job_id).await?;
        tracing::warn!(
            client_id = %job.client_id,
            uri = %job.backchannel_logout_uri,
            tries,
            %reason,
            "back-channel logout failed; giving up"
        );
        self.audit(job, AuditOutcome::Failure, tries, reason, now)
            .await;
        Ok(())
    }

    /// A failed audit write is logged: the delivery itself is already decided.
    async fn audit(
        &self,
        job: &LogoutJob,
        outcome: AuditOutcome,
        tries: u32,
        result: String,
        now: DateTime<Utc>,
    ) {
        let action = match outcome {
            AuditOutcome::Success => AUDIT_DELIVERED,
            AuditOutcome::Failure => AUDIT_FAILED,
        };
        let event = NewAuditEvent {
            org_id: None,
            occurred_at: now,
            actor: None,
            // The server's own delivery job, not a request.
            actor_kind: ActorKind::System,
            action,
            target: job.sub.clone().or_else(|| job.sid.clone()),
            ip: None,
            user_agent: None,
            outcome,
            details: serde_json::json!({
                "client_id": job.client_id,
                "backchannel_logout_uri": job.backchannel_logout_uri,
                "sid": job.sid,
                "tries": tries,
                "result": result,
            }),
            request_id: None,
        };
        if let Err(err) = self.db(move |db| db.append_audit(&event)).await {
            tracing::error!(error = %err, action = action.as_str(), "could not write audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_json() {
        let job = LogoutJob {
            client_id: "client-a".into(),
            backchannel_logout_uri: "https://rp.example/bcl".into(),
            sub: Some("user".into()),
            sid: None,
            attempt: 2,
            next_at: 1_900_000_000_000,
        };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<LogoutJob>(&json).unwrap(), job);
    }

    #[test]
    fn the_form_is_one_logout_token_parameter() {
        let delivery = LogoutDelivery {
            job_id: "j".into(),
            job: LogoutJob {
                client_id: "c".into(),
                backchannel_logout_uri: "https://rp.example/bcl".into(),
                sub: None,
                sid: Some("s".into()),
                attempt: 0,
                next_at: 0,
            },
            logout_token: "a.b.c".into(),
        };
        assert_eq!(delivery.form(), [("logout_token", "a.b.c")]);
        assert_eq!(delivery.attempt(), 1);
        assert_eq!(delivery.uri(), "https://rp.example/bcl");
    }
}
