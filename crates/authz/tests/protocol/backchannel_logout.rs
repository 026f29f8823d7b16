//! Back-Channel Logout 1.0 without HTTP: what gets queued, the logout token a claim mints
//! (§2.4), and what each answer of the relying party does to the job (§2.8 and the retry rules).
//! The clock is passed in, so the whole retry schedule runs in no time.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use gatehouse_authz::backchannel::{AUDIT_DELIVERED, AUDIT_FAILED};
use gatehouse_authz::{
    BackchannelLogoutError, DeliveryDisposition, DeliveryOutcome, LogoutDelivery,
};
use gatehouse_identity::{AuditAction, AuditEvent, NewClient};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::support::*;

const BCL_URI: &str = "https://rp.example.test/backchannel-logout";

backend_tests!(
    a_queued_logout_is_claimed_once_with_a_verifiable_logout_token,
    the_token_is_signed_with_the_clients_id_token_algorithm,
    temporary_failures_are_retried_on_schedule_with_a_fresh_jti,
    final_answers_end_the_job_at_once,
    a_lease_that_runs_out_gives_the_job_back,
    clients_without_a_backchannel_uri_are_not_queued,
    sid_is_required_when_the_client_registered_so,
);

backend_tests!(concurrent: concurrent_workers_deliver_each_job_exactly_once);

fn bcl_client(h: &Harness, alg: &str, session_required: bool) -> TestClient {
    h.client(NewClient {
        name: "Back-channel RP".into(),
        redirect_uris: vec![REDIRECT.into()],
        id_token_signed_response_alg: Some(alg.into()),
        backchannel_logout_uri: Some(BCL_URI.into()),
        backchannel_logout_session_required: session_required,
        ..NewClient::default()
    })
}

async fn claim(h: &Harness, now: DateTime<Utc>) -> Vec<LogoutDelivery> {
    h.authz.claim_backchannel_logouts(now, 10).await.unwrap()
}

async fn claim_one(h: &Harness, now: DateTime<Utc>) -> LogoutDelivery {
    let mut claimed = claim(h, now).await;
    assert_eq!(claimed.len(), 1, "one job due at {now}");
    claimed.remove(0)
}

async fn finish(
    h: &Harness,
    delivery: LogoutDelivery,
    outcome: DeliveryOutcome,
    now: DateTime<Utc>,
) -> DeliveryDisposition {
    h.authz
        .finish_backchannel_logout(delivery, &outcome, now)
        .await
        .unwrap()
}

fn bcl_keys(h: &Harness) -> Vec<String> {
    let mut keys = h.store_keys();
    keys.retain(|key| key.starts_with("bcl:"));
    keys
}

fn audit_events(h: &Harness, action: AuditAction) -> Vec<AuditEvent> {
    h.db.recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .filter(|event| event.action == action.as_str())
        .collect()
}

/// Verifies a logout token as the relying party would: the key by `kid` from the published
/// JWKS, josekit's verifier for `alg`. Returns the header and the payload.
fn verify(h: &Harness, token: &str, now: DateTime<Utc>) -> (Value, Value) {
    let header = jwt_header(token);
    let jwks = h.key_set().jwks(now.timestamp());
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not published", header["kid"]));
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str().unwrap() {
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        "RS256" => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other}"),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref()).unwrap();
    (header, serde_json::from_slice(&payload).unwrap())
}

async fn a_queued_logout_is_claimed_once_with_a_verifiable_logout_token(backend: Backend) {
    let h = Harness::new(backend).await;
    let rp = bcl_client(&h, "RS256", false);
    let sub = h.user.id.to_string();
    let job = h
        .authz
        .queue_backchannel_logout(rp.id(), Some(&sub), Some(SID), t0())
        .await
        .unwrap();
    assert!(job.is_some());
    assert!(
        claim(&h, t0() - Duration::seconds(1)).await.is_empty(),
        "not due before it was queued"
    );

    let delivery = claim_one(&h, t0()).await;
    assert!(
        claim(&h, t0()).await.is_empty(),
        "a claimed job is leased to its worker"
    );
    assert_eq!(delivery.uri(), BCL_URI);
    assert_eq!(delivery.client_id(), rp.id());
    assert_eq!(delivery.attempt(), 1);
    assert_eq!(delivery.form(), [("logout_token", delivery.logout_token())]);

    let (header, claims) = verify(&h, delivery.logout_token(), t0());
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        claims,
        json!({
            "iss": ISSUER,
            "aud": rp.id(),
            "iat": t0().timestamp(),
            "exp": t0().timestamp() + 120,
            "jti": jti,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
            "sub": sub,
            "sid": SID,
        })
    );

    let disposition = finish(&h, delivery, DeliveryOutcome::Status(200), t0()).await;
    assert_eq!(disposition, DeliveryDisposition::Delivered);
    assert!(claim(&h, t0() + Duration::days(1)).await.is_empty());
    assert!(bcl_keys(&h).is_empty(), "left behind: {:?}", bcl_keys(&h));
    let delivered = audit_events(&h, AUDIT_DELIVERED);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].target.as_deref(), Some(sub.as_str()));
    assert_eq!(delivered[0].details["client_id"], rp.id());
    assert_eq!(delivered[0].details["tries"], 1);
    assert!(audit_events(&h, AUDIT_FAILED).is_empty());
}

async fn the_token_is_signed_with_the_clients_id_token_algorithm(backend: Backend) {
    let h = Harness::new(backend).await;
    let rp = bcl_client(&h, "ES256", false);
    h.authz
        .queue_backchannel_logout(rp.id(), None, Some(SID), t0())
        .await
        .unwrap();
    let delivery = claim_one(&h, t0()).await;
    let (header, claims) = verify(&h, delivery.logout_token(), t0());
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["sid"], SID);
    assert!(claims.get("sub").is_none(), "only what is known: {claims}");
    assert!(claims.get("nonce").is_none());
}

async fn temporary_failures_are_retried_on_schedule_with_a_fresh_jti(backend: Backend) {
    let h = Harness::new(backend).await;
    let rp = bcl_client(&h, "RS256", false);
    let sub = h.user.id.to_string();
    h.authz
        .queue_backchannel_logout(rp.id(), Some(&sub), Some(SID), t0())
        .await
        .unwrap();

    let failures = [
        DeliveryOutcome::Status(503),
        DeliveryOutcome::Unreachable("connection refused".into()),
        DeliveryOutcome::Status(429),
        DeliveryOutcome::Status(500),
    ];
    let mut now = t0();
    let mut jtis = HashSet::new();
    for (index, failure) in failures.into_iter().enumerate() {
        let delivery = claim_one(&h, now).await;
        assert_eq!(delivery.attempt(), u32::try_from(index).unwrap() + 1);
        let (_, claims) = verify(&h, delivery.logout_token(), now);
        assert_eq!(claims["iat"], now.timestamp());
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()));

        let DeliveryDisposition::RetryAt(at) = finish(&h, delivery, failure, now).await else {
            panic!("try {} should be retried", index + 1);
        };
        assert!(
            claim(&h, at - Duration::milliseconds(1)).await.is_empty(),
            "not before the backoff is over"
        );
        now = at;
    }
    assert_eq!((now - t0()).num_seconds(), 30 + 60 + 240 + 600);

    let last = claim_one(&h, now).await;
    assert_eq!(last.attempt(), 5);
    let (_, claims) = verify(&h, last.logout_token(), now);
    assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()));
    let disposition = finish(&h, last, DeliveryOutcome::Status(502), now).await;
    assert_eq!(disposition, DeliveryDisposition::Failed);

    assert!(claim(&h, now + Duration::days(1)).await.is_empty());
    assert!(bcl_keys(&h).is_empty(), "left behind: {:?}", bcl_keys(&h));
    let failed = audit_events(&h, AUDIT_FAILED);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].details["tries"], 5);
    assert_eq!(failed[0].details["result"], "HTTP 502");
    assert!(audit_events(&h, AUDIT_DELIVERED).is_empty());
}

async fn final_answers_end_the_job_at_once(backend: Backend) {
    let h = Harness::new(backend).await;
    let rp = bcl_client(&h, "RS256", false);
    for status in [400, 401, 404, 302, 301, 303, 307, 201] {
        h.authz
            .queue_backchannel_logout(rp.id(), None, Some(SID), t0())
            .await
            .unwrap();
        let delivery = claim_one(&h, t0()).await;
        let disposition = finish(&h, delivery, DeliveryOutcome::Status(status), t0()).await;
        assert_eq!(disposition, DeliveryDisposition::Failed, "{status}");
        assert!(
            claim(&h, t0() + Duration::days(1)).await.is_empty(),
            "{status} is not retried"
        );
    }
    let failed = audit_events(&h, AUDIT_FAILED);
    assert_eq!(failed.len(), 8);
    assert!(failed.iter().all(|event| event.details["tries"] == 1));

    h.authz
        .queue_backchannel_logout(rp.id(), None, Some(SID), t0())
        .await
        .unwrap();
    let delivery = claim_one(&h, t0()).await;
    let disposition = finish(&h, delivery, DeliveryOutcome::Status(204), t0()).await;
    assert_eq!(
        disposition,
        DeliveryDisposition::Delivered,
        "§2.8: 204 is fine"
    );
    assert!(bcl_keys(&h).is_empty(), "left behind: {:?}", bcl_keys(&h));
}

async fn a_lease_that_runs_out_gives_the_job_back(backend: Backend) {
    let h = Harness::new(backend).await;
    let rp = bcl_client(&h, "RS256", false);
    h.authz
        .queue_backchannel_logout(rp.id(), None, Some(SID), t0())
        .await
        .unwrap();
    // A worker claims the job and dies without finishing it.
    let lost = claim_one(&h, t0()).await;
    let lease = h.authz.settings().backchannel_logout.lease;
    assert!(
        claim(&h, t0() + lease - Duration::milliseconds(1))
            .await
            .is_empty()
    );

    let again = claim_one(&h, t0() + lease).await;
    assert_eq!(again.attempt(), 1, "the lost try was never recorded");
    assert_ne!(again.logout_token(), lost.logout_token());
    finish(&h, again, DeliveryOutcome::Status(200), t0() + lease).await;
    assert!(bcl_keys(&h).is_empty());
}

async fn clients_without_a_backchannel_uri_are_not_queued(backend: Backend) {
    let h = Harness::new(backend).await;
    let sub = h.user.id.to_string();
    for client_id in [h.confidential.id(), h.public.id(), "no-such-client"] {
        let queued = h
            .authz
            .queue_backchannel_logout(client_id, Some(&sub), Some(SID), t0())
            .await
            .unwrap();
        assert_eq!(queued, None, "{client_id}");
    }
    assert!(bcl_keys(&h).is_empty());
    assert!(claim(&h, t0()).await.is_empty());
}

async fn sid_is_required_when_the_client_registered_so(backend: Backend) {
    let h = Harness::new(backend).await;
    let strict = bcl_client(&h, "RS256", true);
    let sub = h.user.id.to_string();
    let refused = h
        .authz
        .queue_backchannel_logout(strict.id(), Some(&sub), None, t0())
        .await;
    assert!(
        matches!(refused, Err(BackchannelLogoutError::SidRequired { .. })),
        "{refused:?}"
    );
    let nothing = h
        .authz
        .queue_backchannel_logout(strict.id(), None, None, t0())
        .await;
    assert!(
        matches!(nothing, Err(BackchannelLogoutError::NoSubject)),
        "{nothing:?}"
    );
    assert!(bcl_keys(&h).is_empty());

    h.authz
        .queue_backchannel_logout(strict.id(), Some(&sub), Some(SID), t0())
        .await
        .unwrap()
        .unwrap();
    let (_, claims) = verify(&h, claim_one(&h, t0()).await.logout_token(), t0());
    assert_eq!(claims["sid"], SID);
    assert_eq!(claims["sub"], sub.as_str());
}

/// Eight workers share the queue: every job reaches the relying party once, none twice.
async fn concurrent_workers_deliver_each_job_exactly_once(backend: Backend) {
    const JOBS: usize = 60;
    let h = Arc::new(Harness::new(backend).await);
    let rp = bcl_client(&h, "ES256", false);
    for job in 0..JOBS {
        h.authz
            .queue_backchannel_logout(rp.id(), None, Some(&format!("sid-{job:02}")), t0())
            .await
            .unwrap();
    }
    let mut workers = JoinSet::new();
    for _ in 0..8 {
        let h = Arc::clone(&h);
        workers.spawn(async move {
            let mut delivered = Vec::new();
            loop {
                let claimed = h.authz.claim_backchannel_logouts(t0(), 3).await.unwrap();
                if claimed.is_empty() {
                    return delivered;
                }
                for delivery in claimed {
                    delivered.push(jwt_payload(delivery.logout_token())["sid"].clone());
                    h.authz
                        .finish_backchannel_logout(delivery, &DeliveryOutcome::Status(200), t0())
                        .await
                        .unwrap();
                }
            }
        });
    }
    let mut delivered: Vec<String> = workers
        .join_all()
        .await
        .into_iter()
        .flatten()
        .map(|sid| sid.as_str().unwrap().to_owned())
        .collect();
    delivered.sort();
    let expected: Vec<String> = (0..JOBS).map(|job| format!("sid-{job:02}")).collect();
    assert_eq!(delivered, expected);
    assert_eq!(audit_events(&h, AUDIT_DELIVERED).len(), JOBS);
    assert!(bcl_keys(&h).is_empty());
}
