//! Sign-in as a state machine: password verified → (second factor pending) → signed in.
//!
//! A pending sign-in is a handle in the session store ([`PendingLogins`]: five minutes, five
//! attempts), never a session: until every factor the account has has passed, no session
//! exists and so no code or token can be issued. A step-up is the same second step for a live
//! session whose sign-in did not include the factor a client requires; passing it upgrades
//! that session in place (its `amr` and `auth_time`), so the relying parties already signed
//! in through it keep their tokens.
//!
//! Brute force (`docs/brute-force.md`): before a password or a code is looked at, the source's
//! standing is read ([`crate::brute_force`]); a source that must wait is refused with the time
//! to wait, whatever it sent. Each refused password or code counts against the login from that
//! source and against the source; the account-wide ceiling (the lock for everyone) is the
//! identity layer's. A sign-in that completes wipes that source's failures for that login.
//!
//! [`PendingLogins`]: gatehouse_sessions::PendingLogins

use chrono::{DateTime, Utc};
use gatehouse_identity::{
    AuditAction, LoginError, RequestContext, SecondFactorError, SecondFactorMethod, User,
};
use gatehouse_sessions::{
    Attempt, BrowserSession, BrowserSessions, PendingLogin, PendingPurpose, SessionHandle,
};

use crate::brute_force::{DelayScope, SourceStanding};
use crate::sessions::{SessionEnd, SessionRef};
use crate::{AppError, Gatehouse};

/// The authentication method references (RFC 8176 §2) of a password-only sign-in.
pub(crate) const PASSWORD_ONLY: [&str; 1] = ["pwd"];

/// A browser is signed in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The new session cookie's value; shown to this browser only, never stored.
    pub cookie_secret: String,
    pub session: BrowserSession,
}

/// Where a right password leads.
#[derive(Debug, Clone)]
pub enum PasswordSignIn {
    SignedIn(SignedIn),
    /// The account has a second factor: the browser gets this token (its own cookie) and the
    /// second-factor page.
    SecondFactorRequired {
        pending_token: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, locked or disabled account: one answer for all, so the
    /// response does not tell which.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many failures of this login from this source (or of any login from it): no attempt
    /// is looked at for `retry_after_secs`. Unknown usernames get it alike.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Backend(#[from] AppError),
}

/// What a step-up needs first.
#[derive(Debug, Clone)]
pub enum StepUp {
    /// Ask for a code; the token identifies the pending step-up.
    Pending { pending_token: String },
    /// The user has no second factor yet: enrolment first (confirming it upgrades the session).
    EnrolmentRequired,
}

/// A second factor that passed.
#[derive(Debug, Clone)]
pub enum SecondFactorPassed {
    /// A pending sign-in completed: a new session.
    SignedIn(SignedIn),
    /// The browser's session now carries the second factor.
    SteppedUp,
}

#[derive(Debug, thiserror::Error)]
pub enum SecondFactorFailure {
    /// No such pending sign-in: it expired, completed, or belongs to another browser session.
    #[error("the sign-in expired")]
    Expired,
    /// A wrong, replayed or malformed code (or the account locked meanwhile: the same answer).
    /// `remaining` attempts are left; at 0 the pending sign-in is over.
    #[error("invalid code")]
    InvalidCode { remaining: u64 },
    /// Too many wrong codes (or passwords) for this account from this source: no code is
    /// looked at for `retry_after_secs`; the pending sign-in stays.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Backend(#[from] AppError),
}

impl Gatehouse {
    /// Checks the password. An account without a second factor is signed in at once; the
    /// browser's previous session, if it sent one, ends first (a cookie fixated before sign-in
    /// is never promoted). An account with one gets a pending sign-in instead.
    pub async fn sign_in_with_password(
        &self,
        username: &str,
        password: &str,
        previous_cookie: Option<&str>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<PasswordSignIn, SignInError> {
        let standing = self.source_standing(username, ctx, now).await;
        if let Some(retry_after_secs) = standing.retry_after_secs {
            return Err(SignInError::Throttled { retry_after_secs });
        }
        let verified = match self
            .accounts
            .authenticate(username, password, ctx, now)
            .await
        {
            Ok(verified) => verified,
            Err(LoginError::InvalidCredentials) => {
                self.count_failure(username, ctx, now).await;
                crate::metrics::sign_in("password", "failure");
                return Err(SignInError::InvalidCredentials);
            }
            Err(LoginError::Internal(err)) => return Err(AppError::from(err).into()),
        };
        if verified.second_factor_required {
            let pending = PendingLogin {
                user_id: verified.user.id,
                username: verified.user.username.clone(),
                started_at: now.timestamp(),
                purpose: PendingPurpose::SignIn,
            };
            let pending_token = self
                .pending
                .create(&pending)
                .await
                .map_err(AppError::from)?;
            crate::metrics::sign_in("password", "second_factor_required");
            return Ok(PasswordSignIn::SecondFactorRequired { pending_token });
        }
        let signed_in = self
            .open_session(&verified.user, &PASSWORD_ONLY, previous_cookie, ctx, now)
            .await?;
        if standing.pair_failures {
            self.forget_failures(username, ctx).await;
        }
        crate::metrics::sign_in("password", "success");
        Ok(PasswordSignIn::SignedIn(signed_in))
    }

    /// The pending sign-in (or step-up) behind a token, to show its page; `None` once it is over.
    pub async fn pending_sign_in(&self, token: &str) -> Result<Option<PendingLogin>, AppError> {
        Ok(self.pending.get(token).await?)
    }

    /// Starts a step-up of the browser's live session to two factors.
    pub async fn begin_step_up(
        &self,
        handle: &SessionHandle,
        session: &BrowserSession,
        now: DateTime<Utc>,
    ) -> Result<StepUp, AppError> {
        if !self.totp_status(session.user_id).await?.enabled {
            return Ok(StepUp::EnrolmentRequired);
        }
        let pending = PendingLogin {
            user_id: session.user_id,
            username: session.username.clone(),
            started_at: now.timestamp(),
            purpose: PendingPurpose::StepUp {
                session: handle.as_str().to_owned(),
            },
        };
        Ok(StepUp::Pending {
            pending_token: self.pending.create(&pending).await?,
        })
    }

    /// The second step: a TOTP code or a recovery code for the pending sign-in behind
    /// `pending_token`. `browser_cookie` is the session cookie the browser sent: for a sign-in
    /// it is the session to replace, for a step-up it must be the session being stepped up.
    pub async fn complete_second_factor(
        &self,
        pending_token: &str,
        code: &str,
        browser_cookie: Option<&str>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<SecondFactorPassed, SecondFactorFailure> {
        let Some(pending) = self
            .pending
            .get(pending_token)
            .await
            .map_err(AppError::from)?
        else {
            return Err(SecondFactorFailure::Expired);
        };
        let step_up_of = match &pending.purpose {
            PendingPurpose::SignIn => None,
            PendingPurpose::StepUp { session } => {
                let handle = SessionHandle(session.clone());
                // A step-up belongs to the session that asked for it.
                if browser_cookie.map(BrowserSessions::handle_of).as_ref() != Some(&handle) {
                    return Err(SecondFactorFailure::Expired);
                }
                Some(handle)
            }
        };
        // Read before the attempt is spent: a source that must wait keeps its pending sign-in.
        let standing = self.source_standing(&pending.username, ctx, now).await;
        if let Some(retry_after_secs) = standing.retry_after_secs {
            return Err(SecondFactorFailure::Throttled { retry_after_secs });
        }
        let remaining = match self
            .pending
            .begin_attempt(pending_token)
            .await
            .map_err(AppError::from)?
        {
            Attempt::Allowed { remaining } => remaining,
            Attempt::Gone => return Err(SecondFactorFailure::Expired),
        };
        let (user, method) = match self
            .accounts
            .verify_second_factor(pending.user_id, code, &self.settings.totp, ctx, now)
            .await
        {
            Ok(passed) => passed,
            Err(SecondFactorError::Rejected) => {
                self.count_failure(&pending.username, ctx, now).await;
                crate::metrics::sign_in("second_factor", "failure");
                return Err(SecondFactorFailure::InvalidCode { remaining });
            }
            Err(SecondFactorError::Internal(err)) => return Err(AppError::from(err).into()),
        };
        // The last allowed attempt already removed the pending sign-in; this one passed.
        self.pending
            .finish(pending_token)
            .await
            .map_err(AppError::from)?;
        if standing.pair_failures {
            self.forget_failures(&pending.username, ctx).await;
        }
        let amr = method.amr();
        match step_up_of {
            None => {
                let signed_in = self
                    .open_session(&user, &amr, browser_cookie, ctx, now)
                    .await
                    .map_err(|err| match err {
                        SignInError::Backend(err) => SecondFactorFailure::Backend(err),
                        SignInError::InvalidCredentials | SignInError::Throttled { .. } => {
                            SecondFactorFailure::Expired
                        }
                    })?;
                crate::metrics::sign_in("second_factor", "success");
                Ok(SecondFactorPassed::SignedIn(signed_in))
            }
            Some(handle) => {
                self.step_up_session(&handle, &user, method, ctx, now)
                    .await?;
                Ok(SecondFactorPassed::SteppedUp)
            }
        }
    }

    /// Marks a live session as signed in with two factors from `now` (a step-up, or an
    /// enrolment confirmed from it). `SecondFactorFailure::Expired` if the session is gone.
    pub(crate) async fn step_up_session(
        &self,
        handle: &SessionHandle,
        user: &User,
        method: SecondFactorMethod,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<(), SecondFactorFailure> {
        let amr: Vec<String> = method.amr().iter().map(|m| (*m).to_owned()).collect();
        let upgraded = self
            .sessions
            .update(handle, now.timestamp(), |session| {
                if session.user_id != user.id {
                    return false;
                }
                // OIDC Core §2: `auth_time` is when the user last authenticated, which the
                // second factor just did.
                session.amr = amr.clone();
                session.auth_time = now.timestamp();
                true
            })
            .await
            .map_err(AppError::from)?;
        if !upgraded {
            return Err(SecondFactorFailure::Expired);
        }
        let mut ctx = ctx.clone();
        ctx.actor = Some(user.id.to_string());
        self.audit(
            AuditAction::LoginStepUp,
            user.id.to_string(),
            serde_json::json!({ "amr": amr, "sid": handle.as_str() }),
            &ctx,
            now,
        )
        .await;
        Ok(())
    }

    /// Opens a session for a user whose every factor has passed, replacing the browser's
    /// previous session.
    pub(crate) async fn open_session(
        &self,
        user: &User,
        amr: &[&str],
        previous_cookie: Option<&str>,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, SignInError> {
        if let Some(previous) = previous_cookie {
            self.end_session(SessionRef::Cookie(previous), SessionEnd::Replaced, ctx, now)
                .await?;
        }
        let session = BrowserSession {
            user_id: user.id,
            username: user.username.clone(),
            auth_time: now.timestamp(),
            created_at: now.timestamp(),
            amr: amr.iter().map(|m| (*m).to_owned()).collect(),
            user_agent: ctx.user_agent.clone(),
            ip: ctx.ip.clone(),
            last_seen_at: None,
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
                AuditAction::SessionEvict,
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

    /// The source's standing for `login`. A store that cannot be read lets the attempt through
    /// (logged): the account-wide ceiling, in the database, still holds.
    async fn source_standing(
        &self,
        login: &str,
        ctx: &RequestContext,
        now: DateTime<Utc>,
    ) -> SourceStanding {
        match self
            .brute_force
            .standing(login, ctx.ip.as_deref(), now)
            .await
        {
            Ok(standing) => standing,
            Err(err) => {
                tracing::warn!(error = %err, "brute-force counts unreadable; attempt let through");
                SourceStanding::default()
            }
        }
    }

    /// Counts a refused password or code of `login` from the request's source; each delay it
    /// starts is audited as `login.delay`.
    async fn count_failure(&self, login: &str, ctx: &RequestContext, now: DateTime<Utc>) {
        let started = match self
            .brute_force
            .count_failure(login, ctx.ip.as_deref(), now)
            .await
        {
            Ok(started) => started,
            Err(err) => {
                tracing::warn!(error = %err, "brute-force failure not counted");
                return;
            }
        };
        for delay in started {
            let target = match delay.scope {
                DelayScope::LoginFromSource => login.to_owned(),
                DelayScope::Source => ctx.ip.clone().unwrap_or_default(),
            };
            tracing::info!(
                scope = delay.scope.as_str(),
                failures = delay.failures,
                delay_secs = delay.delay.num_seconds(),
                "sign-in attempts delayed"
            );
            self.audit(
                AuditAction::LoginDelay,
                target,
                serde_json::json!({
                    "scope": delay.scope.as_str(),
                    "failures": delay.failures,
                    "delay_secs": delay.delay.num_seconds(),
                    "until": delay.until,
                }),
                ctx,
                now,
            )
            .await;
        }
    }

    /// A sign-in completed: the source's failures for this login are forgotten.
    async fn forget_failures(&self, login: &str, ctx: &RequestContext) {
        if let Err(err) = self.brute_force.forget_pair(login, ctx.ip.as_deref()).await {
            tracing::warn!(error = %err, "brute-force failures not cleared after a sign-in");
        }
    }
}
