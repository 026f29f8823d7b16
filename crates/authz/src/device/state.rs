//! One device authorization request as the store keeps it, and its transitions, without I/O.
//!
//! ```text
//!             approve                    redeem (once)
//!   Pending ───────────▶ Approved ─────────────────────▶ Redeemed
//!      │  ▲
//!      │  └─ poll: authorization_pending, or slow_down (interval + 5 s)
//!      └──── deny ─────▶ Denied
//! ```
//!
//! Every transition is a compare-and-swap of the whole record (`KvStore::replace_if`), so of
//! two concurrent approvals, or of two polls racing to redeem, exactly one wins; the loser reads
//! the record again and answers from its new state.

use serde::{Deserialize, Serialize};

/// RFC 8628 §3.2 `expires_in`: how long the device code and user code live.
pub const EXPIRES_IN_SECS: i64 = 600;
/// RFC 8628 §3.2 `interval`: the polling interval a request starts with.
pub const INTERVAL_SECS: i64 = 5;
/// RFC 8628 §3.5 `slow_down`: "the interval MUST be increased by 5 seconds for this and all
/// subsequent requests".
pub const SLOW_DOWN_STEP_SECS: i64 = 5;

/// A device authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    pub client_id: String,
    pub scopes: Vec<String>,
    /// When the device asked (Unix seconds), shown on the verification page.
    pub requested_at: i64,
    /// The device code dies at this instant (compared with the caller's clock; the store's
    /// TTL only cleans up later).
    pub expires_at: i64,
    /// The interval the device must keep between polls now (§3.5 `slow_down` grows it).
    pub interval: i64,
    /// When the device last polled.
    pub last_poll: Option<i64>,
    pub state: DeviceState,
    /// RFC 8707: the resources the request named; the access tokens' `aud`. Empty: the
    /// issuer, as without resource indicators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// The organisation the sign-in happened in (the `organization` authorization parameter or
    /// the client's organisation); its claims go into tokens when the scope has
    /// `organization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<uuid::Uuid>,
}

/// Where the request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum DeviceState {
    Pending,
    /// The user allowed it, signed in in browser session `sid`; the facts the ID token repeats
    /// (OIDC Core §2) are those of that sign-in.
    Approved {
        user_id: uuid::Uuid,
        auth_time: i64,
        sid: String,
        amr: Vec<String>,
    },
    Denied,
    /// Tokens were issued; the device code is spent.
    Redeemed,
}

/// What a poll of the token endpoint finds (RFC 8628 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Poll {
    /// Still pending: write `next` (the poll's time, maybe a longer interval), then answer
    /// `authorization_pending`, or `slow_down` when `slow_down` is set.
    Pending {
        next: DeviceRecord,
        slow_down: bool,
    },
    /// Approved: write `next` (redeemed), and if that write wins, issue tokens for `approval`.
    Redeem {
        next: DeviceRecord,
        approval: DeviceState,
    },
    Denied,
    Expired,
    /// Redeemed already: `invalid_grant`.
    Spent,
}

/// Why the verification page cannot act on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undecidable {
    Expired,
    /// Approved, denied or redeemed already.
    Decided,
}

impl DeviceRecord {
    /// The answer to a poll at `now`. The expiry comes before everything but a spent code;
    /// the interval is only enforced while pending: a device that polls a little early right
    /// after the approval gets its tokens.
    pub(crate) fn poll(&self, now: i64) -> Poll {
        if self.state == DeviceState::Redeemed {
            return Poll::Spent;
        }
        if now >= self.expires_at {
            return Poll::Expired;
        }
        match &self.state {
            DeviceState::Pending => {
                let slow_down = self
                    .last_poll
                    .is_some_and(|last| now.saturating_sub(last) < self.interval);
                let next = DeviceRecord {
                    last_poll: Some(now),
                    interval: if slow_down {
                        self.interval.saturating_add(SLOW_DOWN_STEP_SECS)
                    } else {
                        self.interval
                    },
                    ..self.clone()
                };
                Poll::Pending { next, slow_down }
            }
            approval @ DeviceState::Approved { .. } => Poll::Redeem {
                next: DeviceRecord {
                    state: DeviceState::Redeemed,
                    last_poll: Some(now),
                    ..self.clone()
                },
                approval: approval.clone(),
            },
            DeviceState::Denied => Poll::Denied,
            DeviceState::Redeemed => Poll::Spent,
        }
    }

    /// Whether the user can still allow or deny it at `now`.
    pub(crate) fn decidable(&self, now: i64) -> Result<(), Undecidable> {
        if self.state != DeviceState::Pending {
            return Err(Undecidable::Decided);
        }
        if now >= self.expires_at {
            return Err(Undecidable::Expired);
        }
        Ok(())
    }

    /// The record after the user's decision.
    pub(crate) fn decided(&self, state: DeviceState) -> DeviceRecord {
        DeviceRecord {
            state,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(at: i64) -> DeviceRecord {
        DeviceRecord {
            client_id: "c".into(),
            scopes: vec!["openid".into()],
            requested_at: at,
            expires_at: at + EXPIRES_IN_SECS,
            interval: INTERVAL_SECS,
            last_poll: None,
            state: DeviceState::Pending,
            resources: Vec::new(),
            org_id: None,
        }
    }

    fn approved(record: &DeviceRecord) -> DeviceRecord {
        record.decided(DeviceState::Approved {
            user_id: uuid::Uuid::nil(),
            auth_time: 1,
            sid: "s".into(),
            amr: vec!["pwd".into()],
        })
    }

    #[test]
    fn polling_faster_than_the_interval_grows_it_by_five_seconds_each_time() {
        let start = 1_000;
        let Poll::Pending { next, slow_down } = pending(start).poll(start) else {
            panic!("first poll");
        };
        assert!(!slow_down);
        assert_eq!(next.last_poll, Some(start));
        // 4 s later: too fast.
        let Poll::Pending { next, slow_down } = next.poll(start + 4) else {
            panic!("second poll");
        };
        assert!(slow_down);
        assert_eq!(next.interval, 10);
        // 9 s later is still too fast for the new interval; 10 s is fine.
        let Poll::Pending { next, slow_down } = next.poll(start + 13) else {
            panic!("third poll");
        };
        assert!(slow_down);
        assert_eq!(next.interval, 15);
        let Poll::Pending { next, slow_down } = next.poll(start + 28) else {
            panic!("fourth poll");
        };
        assert!(!slow_down);
        assert_eq!(next.interval, 15);
    }

    #[test]
    fn an_approved_request_is_redeemed_once_and_expiry_wins_over_everything_else() {
        let record = approved(&pending(0));
        let Poll::Redeem { next, approval } = record.poll(10) else {
            panic!("redeem");
        };
        assert!(matches!(approval, DeviceState::Approved { .. }));
        assert_eq!(next.poll(11), Poll::Spent);
        assert_eq!(next.poll(EXPIRES_IN_SECS + 1), Poll::Spent);
        assert_eq!(record.poll(EXPIRES_IN_SECS), Poll::Expired);
        let denied = pending(0).decided(DeviceState::Denied);
        assert_eq!(denied.poll(1), Poll::Denied);
        assert_eq!(denied.poll(EXPIRES_IN_SECS), Poll::Expired);
        assert_eq!(pending(0).poll(EXPIRES_IN_SECS), Poll::Expired);
    }

    #[test]
    fn only_a_live_pending_request_can_be_decided() {
        assert_eq!(pending(0).decidable(EXPIRES_IN_SECS - 1), Ok(()));
        assert_eq!(
            pending(0).decidable(EXPIRES_IN_SECS),
            Err(Undecidable::Expired)
        );
        assert_eq!(
            approved(&pending(0)).decidable(1),
            Err(Undecidable::Decided)
        );
        assert_eq!(
            pending(0).decided(DeviceState::Denied).decidable(1),
            Err(Undecidable::Decided)
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        for record in [pending(5), approved(&pending(5))] {
            let json = serde_json::to_vec(&record).unwrap();
            assert_eq!(
                serde_json::from_slice::<DeviceRecord>(&json).unwrap(),
                record
            );
        }
    }
}
