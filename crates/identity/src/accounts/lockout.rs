//! The lockout state machine, free of I/O: given an account's login state, whether the password
//! matched, and the time, decide the outcome and the next state. `login` applies the verdict
//! inside the transaction that read the state.
//!
//! This is the account-wide ceiling of the brute-force scheme (`docs/brute-force.md`): failures
//! from every source count, and reaching `max_failures` within the window locks the account for
//! everyone. A success does not wipe an open window's count: a victim who signs in between an
//! attacker's guesses must not reset the ceiling the attacker is climbing. The count starts
//! over when its window ends, when a lock ends, or when an administrator unlocks.

use chrono::{DateTime, Utc};

use super::LockoutPolicy;
use crate::users::{LoginState, UserStatus};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The account may log in; `reset` holds the state to write when an expired lock or an
    /// ended window needs wiping.
    Success { reset: Option<LoginState> },
    /// Refused whatever the password; counters do not move.
    Refused { reason: Refusal },
    /// Wrong password: record `next`; `locks` when this failure is the one that locks.
    Failed { next: LoginState, locks: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Disabled,
    Locked,
}

impl Refusal {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::Locked => "locked",
        }
    }
}

pub(super) fn judge(
    policy: &LockoutPolicy,
    state: &LoginState,
    password_ok: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let lock_expired = match state.status {
        UserStatus::Disabled => {
            return Verdict::Refused {
                reason: Refusal::Disabled,
            };
        }
        // A lock without an end was set by hand and lasts until lifted by hand.
        UserStatus::Locked if state.locked_until.is_none_or(|until| until > now) => {
            return Verdict::Refused {
                reason: Refusal::Locked,
            };
        }
        UserStatus::Locked => true,
        UserStatus::Active => false,
    };

    // Failures from before an expired lock do not count against the fresh start it grants.
    let window_open = !lock_expired
        && state
            .window_started_at
            .and_then(|start| start.checked_add_signed(policy.window))
            .is_some_and(|window_end| window_end >= now);

    if password_ok {
        let cleared = LoginState::clear();
        let reset = (!window_open && *state != cleared).then_some(cleared);
        return Verdict::Success { reset };
    }
    let (failed_logins, window_started_at) = if window_open {
        (
            state.failed_logins.saturating_add(1),
            state.window_started_at,
        )
    } else {
        (1, Some(now))
    };

    let locks = policy.max_failures > 0
        && u32::try_from(failed_logins).is_ok_and(|failures| failures >= policy.max_failures);
    let (status, locked_until) = if locks {
        let until = now
            .checked_add_signed(policy.lock_for)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (UserStatus::Locked, Some(until))
    } else {
        (UserStatus::Active, None)
    };
    Verdict::Failed {
        next: LoginState {
            status,
            failed_logins,
            window_started_at,
            locked_until,
        },
        locks,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap()
    }

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 3,
            window: Duration::minutes(10),
            lock_for: Duration::minutes(30),
        }
    }

    fn failing(failed_logins: i32, window_started_at: DateTime<Utc>) -> LoginState {
        LoginState {
            status: UserStatus::Active,
            failed_logins,
            window_started_at: Some(window_started_at),
            locked_until: None,
        }
    }

    #[test]
    fn a_first_failure_opens_a_window() {
        let verdict = judge(&policy(), &LoginState::clear(), false, t0());
        assert_eq!(
            verdict,
            Verdict::Failed {
                next: failing(1, t0()),
                locks: false
            }
        );
    }

    #[test]
    fn failures_within_the_window_accumulate_and_lock_at_the_limit() {
        let start = t0();
        let verdict = judge(
            &policy(),
            &failing(1, start),
            false,
            start + Duration::minutes(5),
        );
        assert_eq!(
            verdict,
            Verdict::Failed {
                next: failing(2, start),
                locks: false
            }
        );
        let at = start + Duration::minutes(10);
        let Verdict::Failed { next, locks } = judge(&policy(), &failing(2, start), false, at)
        else {
            panic!("expected a failure");
        };
        assert!(locks);
        assert_eq!(next.status, UserStatus::Locked);
        assert_eq!(next.failed_logins, 3);
        assert_eq!(next.locked_until, Some(at + Duration::minutes(30)));
    }

    #[test]
    fn a_failure_after_the_window_starts_a_new_one() {
        let at = t0() + Duration::minutes(10) + Duration::seconds(1);
        let verdict = judge(&policy(), &failing(2, t0()), false, at);
        assert_eq!(
            verdict,
            Verdict::Failed {
                next: failing(1, at),
                locks: false
            }
        );
    }

    #[test]
    fn a_locked_account_is_refused_until_the_lock_ends() {
        let locked = LoginState {
            status: UserStatus::Locked,
            failed_logins: 3,
            window_started_at: Some(t0()),
            locked_until: Some(t0() + Duration::minutes(30)),
        };
        for password_ok in [true, false] {
            assert_eq!(
                judge(
                    &policy(),
                    &locked,
                    password_ok,
                    t0() + Duration::minutes(29)
                ),
                Verdict::Refused {
                    reason: Refusal::Locked
                }
            );
        }
        let after = t0() + Duration::minutes(30) + Duration::seconds(1);
        assert_eq!(
            judge(&policy(), &locked, true, after),
            Verdict::Success {
                reset: Some(LoginState::clear())
            }
        );
        // A wrong password after the lock gets a fresh window, not an instant re-lock.
        assert_eq!(
            judge(&policy(), &locked, false, after),
            Verdict::Failed {
                next: failing(1, after),
                locks: false
            }
        );
    }

    #[test]
    fn a_lock_without_an_end_holds() {
        let locked = LoginState {
            status: UserStatus::Locked,
            locked_until: None,
            ..LoginState::clear()
        };
        let far_future = t0() + Duration::days(10_000);
        assert_eq!(
            judge(&policy(), &locked, true, far_future),
            Verdict::Refused {
                reason: Refusal::Locked
            }
        );
    }

    #[test]
    fn a_disabled_account_is_refused_even_with_the_right_password() {
        let disabled = LoginState {
            status: UserStatus::Disabled,
            ..LoginState::clear()
        };
        assert_eq!(
            judge(&policy(), &disabled, true, t0()),
            Verdict::Refused {
                reason: Refusal::Disabled
            }
        );
    }

    #[test]
    fn success_on_a_clean_account_writes_nothing() {
        assert_eq!(
            judge(&policy(), &LoginState::clear(), true, t0()),
            Verdict::Success { reset: None }
        );
    }

    #[test]
    fn success_keeps_an_open_windows_failures_and_clears_an_ended_one() {
        // An attacker's failures stay counted toward the ceiling when the owner signs in.
        assert_eq!(
            judge(
                &policy(),
                &failing(2, t0()),
                true,
                t0() + Duration::minutes(10)
            ),
            Verdict::Success { reset: None }
        );
        let Verdict::Failed { next, locks: true } = judge(
            &policy(),
            &failing(2, t0()),
            false,
            t0() + Duration::minutes(10),
        ) else {
            panic!("the third failure in the window locks, success or not in between");
        };
        assert_eq!(next.failed_logins, 3);
        // Once the window has ended, a success wipes the stale count.
        assert_eq!(
            judge(
                &policy(),
                &failing(2, t0()),
                true,
                t0() + Duration::minutes(10) + Duration::seconds(1)
            ),
            Verdict::Success {
                reset: Some(LoginState::clear())
            }
        );
    }

    #[test]
    fn zero_max_failures_never_locks() {
        let off = LockoutPolicy {
            max_failures: 0,
            ..policy()
        };
        let Verdict::Failed { next, locks } = judge(&off, &failing(1_000, t0()), false, t0())
        else {
            panic!("expected a failure");
        };
        assert!(!locks);
        assert_eq!(next.status, UserStatus::Active);
    }

    #[test]
    fn an_enormous_lock_duration_saturates_instead_of_overflowing() {
        let forever = LockoutPolicy {
            max_failures: 1,
            lock_for: Duration::MAX,
            ..policy()
        };
        let Verdict::Failed { next, .. } = judge(&forever, &LoginState::clear(), false, t0())
        else {
            panic!("expected a failure");
        };
        assert_eq!(next.locked_until, Some(DateTime::<Utc>::MAX_UTC));
    }
}
