//! What an answer from a relying party's back-channel logout endpoint means, and when to try
//! again. Pure functions of the answer, the try number and the settings.
//!
//! Back-Channel Logout 1.0 §2.8: a relying party answers 200 OK when it logged the user out, or
//! 204 No Content ("OPs should be prepared to also process a 204 No Content response as a
//! successful response"), and 400 when the request was invalid or the logout failed. Beyond
//! that, the rules are ours (issue 9): a network error, a 5xx or a 429 may be temporary and is
//! tried again after the next of [`BackchannelLogoutSettings::retry_delays`]; every other answer
//! is final, among them 3xx (redirects are never followed: the logout token goes only to the
//! registered URI) and any other 4xx.

use chrono::{DateTime, Duration, Utc};

use crate::settings::BackchannelLogoutSettings;

/// What came back from one POST of a logout token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The endpoint answered with this HTTP status.
    Status(u16),
    /// No answer: connection refused or reset, TLS failure, timeout. The text is for the log.
    Unreachable(String),
}

impl DeliveryOutcome {
    /// For logs and the audit trail.
    pub fn describe(&self) -> String {
        match self {
            DeliveryOutcome::Status(status) => format!("HTTP {status}"),
            DeliveryOutcome::Unreachable(cause) => format!("no answer: {cause}"),
        }
    }
}

/// What becomes of a delivery after one try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryDisposition {
    /// The relying party confirmed the logout; the job is gone.
    Delivered,
    /// Worth another try, due at this time.
    RetryAt(DateTime<Utc>),
    /// Given up: a final answer, or the last try failed. The job is gone.
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    Temporary,
    Final,
}

pub(crate) fn verdict(outcome: &DeliveryOutcome) -> Verdict {
    match outcome {
        DeliveryOutcome::Status(200 | 204) => Verdict::Delivered,
        DeliveryOutcome::Status(429 | 500..=599) | DeliveryOutcome::Unreachable(_) => {
            Verdict::Temporary
        }
        DeliveryOutcome::Status(_) => Verdict::Final,
    }
}

/// The disposition after try number `attempt` (1 for the first) ended in `outcome` at `now`.
pub(crate) fn disposition(
    settings: &BackchannelLogoutSettings,
    outcome: &DeliveryOutcome,
    attempt: u32,
    now: DateTime<Utc>,
) -> DeliveryDisposition {
    match verdict(outcome) {
        Verdict::Delivered => DeliveryDisposition::Delivered,
        Verdict::Final => DeliveryDisposition::Failed,
        Verdict::Temporary => {
            let delay = usize::try_from(attempt.saturating_sub(1))
                .ok()
                .and_then(|index| settings.retry_delays.get(index));
            match delay {
                Some(delay) => DeliveryDisposition::RetryAt(now + *delay),
                None => DeliveryDisposition::Failed,
            }
        }
    }
}

/// How long the store keeps a job and the queue: past the whole retry schedule, with every
/// lease on top, and an hour to spare for workers that were down.
pub(crate) fn job_ttl(settings: &BackchannelLogoutSettings) -> std::time::Duration {
    let schedule = settings
        .retry_delays
        .iter()
        .fold(Duration::zero(), |total, delay| total + *delay);
    let leases = settings.lease * i32::try_from(settings.max_tries()).unwrap_or(i32::MAX);
    (schedule + leases + Duration::hours(1))
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(24 * 60 * 60))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 6, 1, 9, 0, 0).unwrap()
    }

    #[test]
    fn only_200_and_204_are_delivered() {
        for status in [200, 204] {
            assert_eq!(
                verdict(&DeliveryOutcome::Status(status)),
                Verdict::Delivered
            );
        }
        for status in [
            100, 201, 202, 301, 302, 303, 307, 308, 400, 401, 403, 404, 410,
        ] {
            assert_eq!(
                verdict(&DeliveryOutcome::Status(status)),
                Verdict::Final,
                "{status}"
            );
        }
        for status in [429, 500, 502, 503, 504, 599] {
            assert_eq!(
                verdict(&DeliveryOutcome::Status(status)),
                Verdict::Temporary,
                "{status}"
            );
        }
        assert_eq!(
            verdict(&DeliveryOutcome::Unreachable("refused".into())),
            Verdict::Temporary
        );
    }

    #[test]
    fn the_default_schedule_is_five_tries_over_about_fifteen_minutes() {
        let settings = BackchannelLogoutSettings::default();
        assert_eq!(settings.max_tries(), 5);
        let unavailable = DeliveryOutcome::Status(503);
        let mut now = t0();
        let mut waits = Vec::new();
        for attempt in 1..=4 {
            let DeliveryDisposition::RetryAt(at) =
                disposition(&settings, &unavailable, attempt, now)
            else {
                panic!("try {attempt} should be retried");
            };
            waits.push((at - now).num_seconds());
            now = at;
        }
        assert_eq!(waits, [30, 60, 240, 600]);
        assert_eq!(
            (now - t0()).num_minutes(),
            15,
            "the fifth try is 15.5 min in"
        );
        assert_eq!(
            disposition(&settings, &unavailable, 5, now),
            DeliveryDisposition::Failed
        );
        assert_eq!(
            disposition(&settings, &DeliveryOutcome::Status(400), 1, now),
            DeliveryDisposition::Failed
        );
        assert_eq!(
            disposition(&settings, &DeliveryOutcome::Status(204), 5, now),
            DeliveryDisposition::Delivered
        );
    }

    #[test]
    fn jobs_outlive_their_schedule() {
        let settings = BackchannelLogoutSettings::default();
        // 15.5 min of delays + 5 leases of a minute + an hour.
        assert_eq!(job_ttl(&settings).as_secs(), 930 + 300 + 3600);
    }
}
