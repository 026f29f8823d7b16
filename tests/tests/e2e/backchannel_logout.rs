//! OpenID Connect Back-Channel Logout 1.0 through the running server's own worker: a logout
//! queued with `Authz::queue_backchannel_logout` reaches a real HTTP endpoint (the sink) as a
//! form POST (§2.5) whose token verifies against the published JWKS (§2.4); a 503 is tried again
//! after the backoff with a new `jti`, a 400 and a redirect are final (§2.8 and the retry
//! rules). The backoff is driven by the app's manual clock, not by waiting.
//!
//! Backends: whatever `spawn_app` runs on (memory store, or Redis with `TEST_REDIS_URL`). The
//! last test adds a second `Authz` and worker on the same store, as a second instance would be.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_authz::backchannel::{AUDIT_DELIVERED, AUDIT_FAILED};
use gatehouse_authz::{Authz, AuthzSettings};
use gatehouse_identity::{AuditAction, AuditEvent, NewClient};
use gatehouse_server::backchannel::BackchannelWorker;
use gatehouse_sessions::{KvStore, RedisStore};
use gatehouse_tests::oauth::tokens_in;
use gatehouse_tests::sink::{HttpSink, REDIRECT_PATH, RecordedRequest};
use gatehouse_tests::{ClientSpec, TestApp, TestClient, new_client, spawn_app, test_redis_url};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Value, json};

/// Long enough for the worker (polling every second) to have come round at least once more.
const QUIET: Duration = Duration::from_millis(2500);
const WITHIN: Duration = Duration::from_secs(15);

struct Rp {
    client_id: String,
    alg: &'static str,
}

fn register_rp(app: &TestApp, uri: &str, alg: &'static str) -> Rp {
    let new = NewClient {
        name: "Back-channel RP".to_owned(),
        redirect_uris: vec!["http://rp.example.test/callback".to_owned()],
        id_token_signed_response_alg: Some(alg.to_owned()),
        backchannel_logout_uri: Some(uri.to_owned()),
        backchannel_logout_session_required: true,
        ..NewClient::default()
    };
    let (client, _) = app
        .state
        .accounts
        .database()
        .create_client(&new, &app.state.secrets, app.clock_now())
        .unwrap();
    Rp {
        client_id: client.client_id,
        alg,
    }
}

/// A first-party relying party with a back-channel logout endpoint at `sink`'s `/bc`, signing
/// ID tokens with ES256, as the tests that sign users in register it.
fn register_session_rp(app: &TestApp, sink: &HttpSink) -> TestClient {
    app.register_client(ClientSpec {
        id_token_alg: Some("ES256".to_owned()),
        backchannel_logout_uri: Some(sink.url("/bc")),
        ..ClientSpec::default()
    })
}

async fn queue(app: &TestApp, rp: &Rp, sub: &str, sid: &str) -> String {
    app.state
        .authz
        .queue_backchannel_logout(&rp.client_id, Some(sub), Some(sid), app.clock_now())
        .await
        .unwrap()
        .expect("the client registered a back-channel logout URI")
}

fn audit(app: &TestApp, action: AuditAction) -> Vec<AuditEvent> {
    app.state
        .accounts
        .database()
        .recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .filter(|event| event.action == action.as_str())
        .collect()
}

/// The audit event is written right after the POST is answered; give the worker a moment.
async fn wait_for_audit(app: &TestApp, action: AuditAction, count: usize) -> Vec<AuditEvent> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let events = audit(app, action);
        if events.len() >= count {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {count} `{}` events",
            events.len(),
            action.as_str()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The one `logout_token` of a §2.5 request.
fn logout_token(request: &RecordedRequest) -> String {
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = request.form();
    assert_eq!(form.len(), 1, "only logout_token: {form:?}");
    assert_eq!(form[0].0, "logout_token");
    form[0].1.clone()
}

fn segment(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Verifies the token as a relying party does: the key named by `kid` from `/jwks.json` over
/// HTTP, then every claim §2.4 and §2.6 require. Returns the claims.
async fn verify_as_the_rp(app: &TestApp, token: &str, rp: &Rp, sub: &str, sid: &str) -> Value {
    let jwks = app.jwks().await;
    let header = segment(token, 0);
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], rp.alg);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not in the JWKS", header["kid"]));
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn JwsVerifier> = match rp.alg {
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        _ => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref()).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();

    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], rp.client_id.as_str());
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["sid"], sid);
    assert_eq!(
        claims["events"],
        json!({"http://schemas.openid.net/event/backchannel-logout": {}})
    );
    assert!(
        claims.get("nonce").is_none(),
        "§2.4: MUST NOT contain nonce"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 120, "iat {iat}, exp {exp}");
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
    let allowed = ["iss", "aud", "iat", "exp", "jti", "events", "sub", "sid"];
    for name in claims.as_object().unwrap().keys() {
        assert!(allowed.contains(&name.as_str()), "unexpected claim {name}");
    }
    claims
}

#[tokio::test]
async fn a_logout_token_reaches_the_rp_and_verifies_against_the_jwks() {
    let app = spawn_app().await;
    let sink = HttpSink::start(&[200], 200).await;
    for alg in ["RS256", "ES256"] {
        let rp = register_rp(&app, &sink.url("/backchannel-logout"), alg);
        let sub = uuid::Uuid::new_v4().to_string();
        queue(&app, &rp, &sub, &format!("sid-{alg}")).await;
        let seen = if alg == "RS256" { 1 } else { 2 };
        let requests = sink.wait_for(seen, WITHIN).await;
        let request = &requests[seen - 1];
        assert_eq!(request.path, "/backchannel-logout");
        let token = logout_token(request);
        let claims = verify_as_the_rp(&app, &token, &rp, &sub, &format!("sid-{alg}")).await;
        assert_eq!(claims["iat"], app.clock_now().timestamp());
    }
    wait_for_audit(&app, AUDIT_DELIVERED, 2).await;
    sink.assert_no_more_than(2, QUIET).await;
    assert!(audit(&app, AUDIT_FAILED).is_empty());
}

#[tokio::test]
async fn a_503_is_tried_again_after_the_backoff_with_a_new_jti() {
    let app = spawn_app().await;
    let sink = HttpSink::start(&[503], 204).await;
    let rp = register_rp(&app, &sink.url("/bcl"), "RS256");
    let sub = uuid::Uuid::new_v4().to_string();
    queue(&app, &rp, &sub, "sid-503").await;

    let first = logout_token(&sink.wait_for(1, WITHIN).await[0]);
    // The clock has not moved: the backoff (30 s) is not over, however often the worker polls.
    sink.assert_no_more_than(1, QUIET).await;
    assert!(audit(&app, AUDIT_DELIVERED).is_empty());

    app.clock.advance(chrono::Duration::seconds(31));
    let second = logout_token(&sink.wait_for(2, WITHIN).await[1]);
    let first = verify_as_the_rp(&app, &first, &rp, &sub, "sid-503").await;
    let second = verify_as_the_rp(&app, &second, &rp, &sub, "sid-503").await;
    assert_ne!(first["jti"], second["jti"], "a fresh jti for every try");
    assert_eq!(second["iat"], app.clock_now().timestamp());

    let delivered = wait_for_audit(&app, AUDIT_DELIVERED, 1).await;
    assert_eq!(delivered[0].details["tries"], 2);
    assert_eq!(delivered[0].target.as_deref(), Some(sub.as_str()));
    sink.assert_no_more_than(2, QUIET).await;
    assert!(audit(&app, AUDIT_FAILED).is_empty());
}

#[tokio::test]
async fn an_unreachable_endpoint_is_tried_again_later() {
    let app = spawn_app().await;
    // A port that was free a moment ago: connection refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let rp = register_rp(&app, &format!("http://127.0.0.1:{closed}/bcl"), "RS256");
    let job = queue(&app, &rp, "user-1", "sid-1").await;
    let retry_at = (app.clock_now() + chrono::Duration::seconds(30)).timestamp_millis();
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let score = app
            .state
            .store
            .sorted_score("bcl:queue", &job)
            .await
            .unwrap();
        if score == Some(retry_at) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not rescheduled: {score:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(audit(&app, AUDIT_FAILED).is_empty(), "not given up yet");
}

#[tokio::test]
async fn a_400_is_final() {
    let app = spawn_app().await;
    let sink = HttpSink::start(&[400], 200).await;
    let rp = register_rp(&app, &sink.url("/bcl"), "ES256");
    queue(&app, &rp, "user-1", "sid-400").await;
    sink.wait_for(1, WITHIN).await;
    let failed = wait_for_audit(&app, AUDIT_FAILED, 1).await;
    assert_eq!(failed[0].details["result"], "HTTP 400");
    assert_eq!(failed[0].details["tries"], 1);

    app.clock.advance(chrono::Duration::hours(1));
    sink.assert_no_more_than(1, QUIET).await;
    assert!(audit(&app, AUDIT_DELIVERED).is_empty());
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_final() {
    let app = spawn_app().await;
    let sink = HttpSink::start(&[302], 200).await;
    let rp = register_rp(&app, &sink.url("/bcl"), "RS256");
    queue(&app, &rp, "user-1", "sid-302").await;
    sink.wait_for(1, WITHIN).await;
    let failed = wait_for_audit(&app, AUDIT_FAILED, 1).await;
    assert_eq!(failed[0].details["result"], "HTTP 302");

    app.clock.advance(chrono::Duration::hours(1));
    sink.assert_no_more_than(1, QUIET).await;
    assert!(
        sink.requests()
            .iter()
            .all(|request| request.path != REDIRECT_PATH),
        "the redirect was followed"
    );
}

/// Two instances share one session store (Redis with `TEST_REDIS_URL`, else one memory store):
/// the app's own worker, a fast second worker on the app's `Authz`, and a fast worker on a
/// second `Authz` with its own store connection. Every logout reaches the relying party once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_of_two_instances_deliver_each_token_exactly_once() {
    const JOBS: usize = 60;
    let app = spawn_app().await;
    let sink = HttpSink::start(&[], 200).await;
    let rp = register_rp(&app, &sink.url("/bcl"), "ES256");

    let second_store: Arc<dyn KvStore> = match test_redis_url() {
        Some(url) => {
            Arc::new(RedisStore::new(&url, &app.state.settings.sessions.key_prefix).unwrap())
        }
        None => app.state.store.clone(),
    };
    let second = Authz::new(
        AuthzSettings::new(app.state.issuer.clone()),
        app.state.accounts.database().clone(),
        second_store,
        app.state.keys.clone(),
        app.state.secrets.clone(),
    );
    let clock = Arc::new(app.clock.clone());
    let fast = Duration::from_millis(10);
    let _first_instance = BackchannelWorker::new(app.state.authz.clone(), clock.clone())
        .unwrap()
        .spawn(fast);
    let _second_instance = BackchannelWorker::new(second.clone(), clock)
        .unwrap()
        .spawn(fast);

    let now = app.clock_now();
    for job in 0..JOBS {
        let authz = if job % 2 == 0 {
            &app.state.authz
        } else {
            &second
        };
        authz
            .queue_backchannel_logout(&rp.client_id, None, Some(&format!("sid-{job:02}")), now)
            .await
            .unwrap()
            .unwrap();
    }

    let requests = sink.wait_for(JOBS, Duration::from_secs(60)).await;
    sink.assert_no_more_than(JOBS, QUIET).await;
    let mut per_sid: HashMap<String, usize> = HashMap::new();
    for request in &requests {
        let claims = segment(&logout_token(request), 1);
        *per_sid
            .entry(claims["sid"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(per_sid.len(), JOBS);
    assert!(per_sid.values().all(|&count| count == 1), "{per_sid:?}");
    wait_for_audit(&app, AUDIT_DELIVERED, JOBS).await;
    assert_eq!(audit(&app, AUDIT_DELIVERED).len(), JOBS);
}

/// The whole path: a user signs in to a relying party through the browser, then signs out at
/// Gatehouse; the RP's back-channel endpoint receives a logout token naming the user and the
/// same `sid` as the ID token it got (§2.4, §2.7).
#[tokio::test]
async fn signing_out_notifies_each_client_that_received_tokens_in_the_session() {
    let app = spawn_app().await;
    let user = app.create_user("bea").await;
    let sink = HttpSink::start(&[204], 204).await;
    let rp = register_session_rp(&app, &sink);
    let browser = new_client();
    let tokens = tokens_in(&app, &browser, &rp, "bea", &[]).await;
    let id_token = segment(tokens["id_token"].as_str().unwrap(), 1);
    let sid = id_token["sid"].as_str().unwrap().to_owned();
    // Nothing is sent while the session lives.
    sink.assert_no_more_than(0, QUIET).await;

    let response = app.sign_out(&browser).await;
    assert_eq!(response.status(), 303);

    let requests = sink.wait_for(1, WITHIN).await;
    let token = logout_token(&requests[0]);
    let rp_view = Rp {
        client_id: rp.client_id.clone(),
        alg: "ES256",
    };
    let sub = user["id"].as_str().unwrap();
    verify_as_the_rp(&app, &token, &rp_view, sub, &sid).await;
    wait_for_audit(&app, AUDIT_DELIVERED, 1).await;
    sink.assert_no_more_than(1, QUIET).await;
}

/// A session whose lifetime runs out is a session end like a sign-out (keycloak#25171 is the
/// bug this avoids): the expiry sweep tells the relying party, with the session's `sid`, and
/// revokes the online grant issued in it.
#[tokio::test]
async fn a_session_that_expires_notifies_its_clients_too() {
    let app = TestApp::builder()
        .configure(|settings| {
            settings.sessions.browser_session_ttl_secs = 2;
            settings.two_factor.expiry_sweep_interval_secs = 1;
        })
        .with_user("eve")
        .spawn()
        .await;
    let sink = HttpSink::start(&[204], 204).await;
    let rp = register_session_rp(&app, &sink);
    let tokens = tokens_in(&app, &new_client(), &rp, "eve", &[]).await;
    let sid = segment(tokens["id_token"].as_str().unwrap(), 1)["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    sink.assert_no_more_than(0, Duration::from_millis(1200))
        .await;

    // The store drops the session after its 2 s; the sweep goes by the server's clock.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    app.advance_clock(chrono::Duration::seconds(3));
    let requests = sink.wait_for(1, WITHIN).await;
    let rp_view = Rp {
        client_id: rp.client_id.clone(),
        alg: "ES256",
    };
    let sub = app.user_id("eve").to_string();
    verify_as_the_rp(&app, &logout_token(&requests[0]), &rp_view, &sub, &sid).await;
    let refreshed =
        gatehouse_tests::oauth::refresh(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        refreshed.status(),
        400,
        "the online grant died with the session"
    );
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, target)| action == "session.expire"
                && target.as_deref() == Some(sub.as_str()))
    );
    sink.assert_no_more_than(1, QUIET).await;
}
