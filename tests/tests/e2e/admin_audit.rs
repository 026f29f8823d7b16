//! The admin API: the audit log (filters, totals, pages), the signing keys (list, rotation),
//! the dashboard's counts, who may use each, and the audit log's retention in bounded batches
//! against the injected clock.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use gatehouse_app::admin_audit::RetentionLease;
use gatehouse_identity::{AuditAction, AuditOutcome, NewAuditEvent, Role};
use gatehouse_tests::{TestApp, new_client, oauth};
use reqwest::Method;
use serde_json::Value;

const EVENTS: &str = "/api/v1/admin/audit-events";
const KEYS: &str = "/api/v1/admin/keys";
const ROTATE: &str = "/api/v1/admin/keys/rotate";
const STATS: &str = "/api/v1/admin/stats";

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> Value {
    let response = call(app, Method::GET, path, Some(token)).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn problem(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = call(app, Method::GET, path, Some(token)).await;
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{path}"
    );
    (status, response.json().await.unwrap())
}

fn seed(app: &TestApp, events: Vec<NewAuditEvent>) {
    let db = app.state.accounts.database();
    for event in events {
        db.append_audit(&event).unwrap();
    }
}

fn event(
    at: DateTime<Utc>,
    actor: &str,
    action: AuditAction,
    outcome: AuditOutcome,
) -> NewAuditEvent {
    NewAuditEvent {
        org_id: None,
        occurred_at: at,
        actor: Some(actor.to_owned()),
        actor_kind: gatehouse_identity::ActorKind::of_actor(Some(actor)),
        action,
        target: Some("seeded".to_owned()),
        ip: Some("192.0.2.1".to_owned()),
        user_agent: None,
        outcome,
        details: serde_json::json!({ "seeded": true }),
        request_id: None,
    }
}

/// Who may call what: the audit log and the keys are `admin` and `auditor` reads, rotation is
/// `admin` only, the counts are for every admin role; without a role, a 403 problem (and an
/// `admin.denied` event); without a token, 401 with a challenge; without the scope, 403
/// `insufficient_scope`.
#[tokio::test]
async fn each_role_reaches_exactly_its_endpoints() {
    let app = TestApp::builder().with_admin("boss").spawn().await;
    let mut tokens = vec![("admin", app.admin_token_for("boss").await)];
    for (name, roles) in [
        ("auditor", vec![Role::Auditor]),
        ("user_admin", vec![Role::UserAdmin]),
        ("client_admin", vec![Role::ClientAdmin]),
        ("no_role", vec![]),
    ] {
        app.create_user_with_roles(name, &roles).await;
        tokens.push((name, app.admin_token_for(name).await));
    }
    let (_, auditor_service) = app.service_account_token(&[Role::Auditor]).await;
    tokens.push(("service_auditor", auditor_service));
    let (_, user_admin_service) = app.service_account_token(&[Role::UserAdmin]).await;
    tokens.push(("service_user_admin", user_admin_service));

    // (role, audit-events, keys, rotate, stats): 200 allowed, 403 refused.
    let table = [
        ("admin", 200, 200, 200, 200),
        ("auditor", 200, 200, 403, 200),
        ("user_admin", 403, 403, 403, 200),
        ("client_admin", 403, 403, 403, 200),
        ("no_role", 403, 403, 403, 403),
        ("service_auditor", 200, 200, 403, 200),
        ("service_user_admin", 403, 403, 403, 200),
    ];
    for (role, events, keys, rotate, stats) in table {
        let token = &tokens.iter().find(|(name, _)| *name == role).unwrap().1;
        for (method, path, expected) in [
            (Method::GET, EVENTS, events),
            (Method::GET, KEYS, keys),
            (Method::POST, ROTATE, rotate),
            (Method::GET, STATS, stats),
        ] {
            let response = call(&app, method.clone(), path, Some(token)).await;
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, expected, "{role} {method} {path}: {body}");
            if expected == 403 {
                assert_eq!(
                    body["type"], "urn:gatehouse:problem:forbidden",
                    "{role} {path}"
                );
            }
        }
    }
    // Every refusal is in the trail, by the actor it refused.
    let denied = app
        .audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "admin.denied")
        .count();
    let refusals = table
        .iter()
        .map(|(_, a, b, c, d)| [a, b, c, d].iter().filter(|s| ***s == 403).count())
        .sum::<usize>();
    assert_eq!(refusals, 15);
    assert_eq!(denied, refusals, "one admin.denied per refusal");

    for (method, path) in [
        (Method::GET, EVENTS),
        (Method::GET, KEYS),
        (Method::POST, ROTATE),
        (Method::GET, STATS),
    ] {
        let response = call(&app, method.clone(), path, None).await;
        assert_eq!(response.status(), 401, "{method} {path}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }

    // A token of the admin's without the `admin` scope.
    let rp = app.admin_console_client();
    let tokens = oauth::tokens_in(&app, &new_client(), &rp, "boss", &[("scope", "openid")]).await;
    let no_scope = tokens["access_token"].as_str().unwrap();
    for (method, path) in [(Method::GET, EVENTS), (Method::POST, ROTATE)] {
        let response = call(&app, method, path, Some(no_scope)).await;
        assert_eq!(response.status(), 403);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "urn:gatehouse:problem:insufficient-scope");
    }
}

/// Filters on actor, action, outcome and the time window, each with its exact total; pages of
/// at most 200 chained by the cursor; a cursor past the end; bad values named.
#[tokio::test]
async fn the_audit_log_filters_counts_and_pages() {
    let app = TestApp::builder().with_admin("boss").spawn().await;
    let token = app.admin_token_for("boss").await;
    let now = app.clock_now();
    // 260 seeded events an hour apart, newest first in time as in id: actors seed-0..seed-3,
    // alternate totp.reset (success) and email.verify (failure).
    let mut events = Vec::new();
    for i in (0..260i64).rev() {
        let (action, outcome) = if i % 2 == 0 {
            (AuditAction::TotpReset, AuditOutcome::Success)
        } else {
            (AuditAction::EmailVerify, AuditOutcome::Failure)
        };
        events.push(event(
            now - Duration::hours(i),
            &format!("seed-{}", i % 4),
            action,
            outcome,
        ));
    }
    seed(&app, events);

    // The cap: limit=1000 gives 200; the default 50.
    let page = get_json(&app, &format!("{EVENTS}?limit=1000"), &token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 200);
    let everything = page["total"].as_i64().unwrap();
    assert!(everything >= 260, "{everything}");
    let page = get_json(&app, EVENTS, &token).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 50);
    assert_eq!(page["total"].as_i64().unwrap(), everything);

    // One actor: 65 events, walked in pages of 30 (30 + 30 + 5), newest first, no repeats.
    let mut ids = Vec::new();
    let mut path = format!("{EVENTS}?actor=seed-1&limit=30");
    let mut pages = 0;
    loop {
        let page = get_json(&app, &path, &token).await;
        pages += 1;
        assert_eq!(page["total"], 65);
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["actor"], "seed-1");
            assert_eq!(item["details"]["seeded"], true);
            ids.push(item["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{EVENTS}?actor=seed-1&limit=30&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 65);
    assert!(ids.windows(2).all(|pair| pair[0] > pair[1]), "newest first");

    // A cursor past the end: no items, no next cursor, the same total.
    let first = get_json(&app, &format!("{EVENTS}?actor=seed-1&limit=64"), &token).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let last = get_json(
        &app,
        &format!("{EVENTS}?actor=seed-1&limit=64&cursor={cursor}"),
        &token,
    )
    .await;
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    assert!(last["next_cursor"].is_null());
    let oldest = last["items"][0]["id"].as_i64().unwrap();
    let beyond = base64_url(&oldest.to_string());
    let past = get_json(
        &app,
        &format!("{EVENTS}?actor=seed-1&cursor={beyond}"),
        &token,
    )
    .await;
    assert_eq!(past["items"], serde_json::json!([]));
    assert!(past["next_cursor"].is_null());
    assert_eq!(past["total"], 65);

    // action and outcome.
    let resets = get_json(
        &app,
        &format!("{EVENTS}?action=totp.reset&limit=200"),
        &token,
    )
    .await;
    assert_eq!(resets["total"], 130);
    assert!(
        resets["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["action"] == "totp.reset" && item["outcome"] == "success")
    );
    let failures = get_json(
        &app,
        &format!("{EVENTS}?action=email.verify&outcome=failure"),
        &token,
    )
    .await;
    assert_eq!(failures["total"], 130);
    let none = get_json(
        &app,
        &format!("{EVENTS}?action=email.verify&outcome=success"),
        &token,
    )
    .await;
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], serde_json::json!([]));

    // The window: since inclusive, until exclusive; hours 10 to 19 before now.
    let since = rfc3339(now - Duration::hours(19));
    let until = rfc3339(now - Duration::hours(9));
    let window = get_json(
        &app,
        &format!("{EVENTS}?actor=seed-2&since={since}&until={until}"),
        &token,
    )
    .await;
    // seed-2 is i % 4 == 2: hours 10, 14 and 18.
    assert_eq!(window["total"], 3, "{window}");
    let times: Vec<DateTime<Utc>> = window["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["occurred_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        times,
        [10, 14, 18]
            .map(|h| gatehouse_identity_stored(now - Duration::hours(h)))
            .to_vec()
    );

    // Bad values: 400 naming the parameter.
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-11-30", "until"),
        ("outcome=perhaps", "outcome"),
        ("action=login.nope", "action"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("cursor=bm90LWFuLWlk", "cursor"),
        ("order=asc", "order"),
    ] {
        let (status, body) = problem(&app, &format!("{EVENTS}?{query}"), &token).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["field"], field, "{query}: {body}");
        assert_eq!(body["type"], "urn:gatehouse:problem:validation");
    }
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Times are stored to the microsecond.
fn gatehouse_identity_stored(at: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    at.trunc_subsecs(6)
}

/// The key list never shows private material; a rotation retires the active key, promotes
/// the next one, publishes a new next one, is audited, and shows in `/jwks`.
#[tokio::test]
async fn keys_are_listed_and_rotated() {
    let app = TestApp::builder().with_admin("boss").spawn().await;
    let token = app.admin_token_for("boss").await;
    let boss = app.user_id("boss");

    let before = get_json(&app, KEYS, &token).await;
    let before = before.as_array().unwrap().clone();
    let text = serde_json::to_string(&before).unwrap();
    assert!(
        !text.contains("sealed") && !text.contains("private"),
        "{text}"
    );
    let with = |keys: &[Value], alg: &str, status: &str| -> Vec<String> {
        keys.iter()
            .filter(|key| key["alg"] == alg && key["status"] == status)
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    for alg in ["ES256", "RS256"] {
        assert_eq!(with(&before, alg, "active").len(), 1, "{alg}");
        assert_eq!(with(&before, alg, "next").len(), 1, "{alg}");
    }
    for key in &before {
        assert_eq!(
            key.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
            [
                "kid",
                "alg",
                "status",
                "created_at",
                "activated_at",
                "published_until"
            ]
        );
    }

    // Only ES256.
    let response = call(
        &app,
        Method::POST,
        &format!("{ROTATE}?alg=ES256"),
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    assert_eq!(rotation["rotated"], serde_json::json!(["ES256"]));
    let after = rotation["keys"].as_array().unwrap().clone();
    assert_eq!(
        with(&after, "ES256", "active"),
        with(&before, "ES256", "next")
    );
    assert_eq!(
        with(&after, "ES256", "retired"),
        with(&before, "ES256", "active")
    );
    let retired = after.iter().find(|key| key["status"] == "retired").unwrap();
    assert!(retired["published_until"].is_string(), "{retired}");
    assert_eq!(
        with(&after, "RS256", "active"),
        with(&before, "RS256", "active")
    );
    let new_next = with(&after, "ES256", "next");
    assert_eq!(new_next.len(), 1);
    assert!(!with(&before, "ES256", "next").contains(&new_next[0]));
    // The JWKS in the answer is what /jwks serves: the new next key is published.
    let jwks = app.jwks().await;
    assert_eq!(rotation["jwks"], jwks);
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert!(published.contains(&new_next[0].as_str()));
    assert!(!serde_json::to_string(&jwks).unwrap().contains("\"d\""));
    // And the list agrees.
    assert_eq!(get_json(&app, KEYS, &token).await, Value::Array(after));

    // Both, then an unknown algorithm.
    let response = call(&app, Method::POST, ROTATE, Some(&token)).await;
    assert_eq!(response.status(), 200);
    let rotation: Value = response.json().await.unwrap();
    assert_eq!(rotation["rotated"], serde_json::json!(["ES256", "RS256"]));
    let response = call(
        &app,
        Method::POST,
        &format!("{ROTATE}?alg=HS256"),
        Some(&token),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["field"], "alg");

    // Audited, by the admin.
    let rotations = get_json(&app, &format!("{EVENTS}?action=admin.keys_rotate"), &token).await;
    assert_eq!(rotations["total"], 2);
    assert_eq!(rotations["items"][0]["actor"], format!("user:{boss}"));
    assert_eq!(
        rotations["items"][0]["details"]["algorithms"],
        serde_json::json!(["ES256", "RS256"])
    );
    assert_eq!(
        rotations["items"][1]["details"]["algorithms"],
        serde_json::json!(["ES256"])
    );
    // Tokens signed before the rotation still work (the retired key stays published).
    get_json(&app, STATS, &token).await;
}

/// Five failures from one address lock an account (per-source delays off, so that one address
/// reaches the account-wide ceiling).
fn ceiling_of_five_without_delays(settings: &mut gatehouse_server::Settings) {
    settings.lockout.max_failures = 5;
    settings.lockout.delay_after = 0;
}

/// The dashboard's counts follow users' statuses and the sign-ins, failures and lockouts of
/// the last 24 hours and 7 days.
#[tokio::test]
async fn stats_count_users_and_recent_sign_ins() {
    let app = TestApp::builder()
        .configure(ceiling_of_five_without_delays)
        .with_admin("boss")
        .spawn()
        .await;
    let token = app.admin_token_for("boss").await;
    let before = get_json(&app, STATS, &token).await;
    assert!(before["users"]["total"].as_i64().unwrap() >= 2, "{before}");
    // The session boss's token was issued in.
    assert_eq!(before["active_sessions"], 1, "{before}");
    assert!(
        before["sign_ins"]["last_24h"].as_i64().unwrap() >= 1,
        "{before}"
    );

    // A new user, locked out by five wrong passwords.
    app.create_user("carol").await;
    for _ in 0..5 {
        app.login("carol", "not the password").await;
    }
    // Sign-ins and failures outside the windows and inside the week only.
    let now = app.clock_now();
    seed(
        &app,
        vec![
            event(
                now - Duration::days(3),
                "x",
                AuditAction::LoginSuccess,
                AuditOutcome::Success,
            ),
            event(
                now - Duration::days(3),
                "x",
                AuditAction::LoginFailure,
                AuditOutcome::Failure,
            ),
            event(
                now - Duration::days(8),
                "x",
                AuditAction::LoginSuccess,
                AuditOutcome::Success,
            ),
            event(
                now - Duration::days(9),
                "x",
                AuditAction::AccountLockout,
                AuditOutcome::Success,
            ),
        ],
    );
    let after = get_json(&app, STATS, &token).await;
    let delta = |path: &[&str]| {
        let pick = |value: &Value| {
            path.iter()
                .fold(value.clone(), |value, key| value[*key].clone())
                .as_i64()
                .unwrap()
        };
        pick(&after) - pick(&before)
    };
    assert_eq!(delta(&["users", "total"]), 1, "{after}");
    assert_eq!(delta(&["users", "locked"]), 1, "{after}");
    assert_eq!(delta(&["users", "active"]), 0, "{after}");
    assert_eq!(delta(&["users", "disabled"]), 0, "{after}");
    assert_eq!(delta(&["sign_in_failures", "last_24h"]), 5, "{after}");
    assert_eq!(delta(&["sign_in_failures", "last_7d"]), 6, "{after}");
    assert_eq!(delta(&["sign_ins", "last_24h"]), 0, "{after}");
    assert_eq!(delta(&["sign_ins", "last_7d"]), 1, "{after}");
    assert_eq!(delta(&["lockouts_24h"]), 1, "{after}");
    assert_eq!(
        delta(&["active_sessions"]),
        0,
        "failed sign-ins open no session: {after}"
    );

    // When carol's lock runs out she counts as active again, and a day later the failures
    // have left the 24-hour window.
    app.advance_clock(Duration::days(1) + Duration::minutes(1));
    let token = app.admin_token_for("boss").await;
    let later = get_json(&app, STATS, &token).await;
    assert_eq!(
        later["users"]["locked"], before["users"]["locked"],
        "{later}"
    );
    assert_eq!(later["sign_in_failures"]["last_24h"], 0, "{later}");
    assert_eq!(later["lockouts_24h"], 0, "{later}");
}

/// Retention deletes only events past `audit.retention_days`, in bounded batches, with the
/// lease held by one instance at a time; the clock is the harness's injected one.
#[tokio::test]
async fn retention_deletes_old_events_in_batches_one_instance_at_a_time() {
    // The documented default; this app's own job is off, so that the rounds below are the only
    // ones (the job would take the lease at start).
    let defaults = gatehouse_server::config::Settings::defaults().unwrap();
    assert_eq!(defaults.audit.retention_days, 90);
    let app = TestApp::builder()
        .configure(|s| s.audit.retention_days = 0)
        .spawn()
        .await;
    let retention = Duration::days(90);
    let now = app.clock_now();
    let mut events = Vec::new();
    for days in [400, 200, 120, 100, 91, 89, 60, 1] {
        events.push(event(
            now - Duration::days(days),
            "retention",
            AuditAction::Logout,
            AuditOutcome::Success,
        ));
    }
    seed(&app, events);
    let remaining = || {
        app.state
            .accounts
            .database()
            .recent_audit_events(10_000)
            .unwrap()
            .into_iter()
            .filter(|event| event.actor.as_deref() == Some("retention"))
            .map(|event| (app.clock_now() - event.occurred_at).num_days())
            .collect::<Vec<_>>()
    };
    assert_eq!(remaining().len(), 8);

    let ttl = StdDuration::from_secs(60);
    let this = RetentionLease::new(Arc::clone(&app.state.store), ttl);
    let other = RetentionLease::new(Arc::clone(&app.state.store), ttl);
    let mut rounds = Vec::new();
    loop {
        let deleted = app
            .state
            .app
            .enforce_audit_retention(&this, retention, 2, app.clock_now())
            .await
            .unwrap();
        rounds.push(deleted);
        // Meanwhile another instance finds the lease taken and deletes nothing.
        assert_eq!(
            app.state
                .app
                .enforce_audit_retention(&other, retention, 2, app.clock_now())
                .await
                .unwrap(),
            0
        );
        if deleted < 2 {
            break;
        }
    }
    assert_eq!(rounds, vec![2, 2, 1], "five old events, two per statement");
    assert_eq!(remaining(), vec![1, 60, 89]);

    // Two days later the 89-day-old event is past the retention.
    app.advance_clock(Duration::days(2));
    assert_eq!(
        app.state
            .app
            .enforce_audit_retention(&this, retention, 2, app.clock_now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(remaining(), vec![3, 62]);
}
