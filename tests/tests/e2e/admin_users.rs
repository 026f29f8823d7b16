//! The admin API: users (`/api/v1/admin/users…`, `/api/v1/admin/roles`). Who may call what (a
//! table of roles × operations), the guard rails, locking (sessions and refresh tokens end,
//! sign-in is refused until unlocked), the list's paging, totals and search, and every other
//! user endpoint. Backends: whatever `spawn_app` runs on.

use base64::Engine as _;
use gatehouse_identity::{NewClient, Role};
use gatehouse_tests::oauth::{refresh, tokens_in};
use gatehouse_tests::sink::HttpSink;
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, jwt_claims, new_client, spawn_app,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

const BASE: &str = "/api/v1/admin";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("{BASE}{path}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, Method::GET, path, Some(token), None).await
}

async fn lock(app: &TestApp, id: Uuid, token: &str, reason: &str) -> (u16, Value) {
    call(
        app,
        Method::POST,
        &format!("/users/{id}/lock"),
        Some(token),
        Some(json!({ "reason": reason })),
    )
    .await
}

async fn set_roles(app: &TestApp, id: Uuid, token: &str, roles: &[&str]) -> (u16, Value) {
    call(
        app,
        Method::PUT,
        &format!("/users/{id}/roles"),
        Some(token),
        Some(json!({ "roles": roles })),
    )
    .await
}

fn usernames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["username"].as_str().unwrap().to_owned())
        .collect()
}

fn is_forbidden(status: u16, body: &Value) -> bool {
    status == 403 && body["type"] == "urn:gatehouse:problem:forbidden"
}

/// Whether a password sign-in in a fresh browser succeeds (a redirect away from the form).
async fn can_sign_in(app: &TestApp, username: &str) -> bool {
    let response = app
        .login_with(&new_client(), username, GOOD_PASSWORD, None)
        .await;
    response.status() == 303
        && !response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
}

async fn refresh_error(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Option<String>) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error"].as_str().map(str::to_owned))
}

/// The details of the newest audit event with this action and target.
fn audit_details(app: &TestApp, action: &str, target: Uuid) -> Option<Value> {
    app.state
        .accounts
        .database()
        .recent_audit_events(1_000)
        .unwrap()
        .into_iter()
        .find(|event| event.action == action && event.target == Some(target.to_string()))
        .map(|event| event.details)
}

/// Creates `boss`, holding `admin` (beside the bootstrap administrator), and its token.
async fn admin_token(app: &TestApp) -> String {
    app.create_user_with_roles("boss", &[Role::Admin]).await;
    app.admin_token_for("boss").await
}

#[tokio::test]
async fn roles_permit_exactly_their_operations() {
    let app = spawn_app().await;
    let target = app.create_user_with_roles("target", &[]).await;
    let mut actors: Vec<(&str, String)> = Vec::new();
    actors.push(("admin", admin_token(&app).await));
    for (name, roles) in [
        ("user_admin", vec![Role::UserAdmin]),
        ("client_admin", vec![Role::ClientAdmin]),
        ("auditor", vec![Role::Auditor]),
        ("no_role", vec![]),
    ] {
        app.create_user_with_roles(name, &roles).await;
        actors.push((name, app.admin_token_for(name).await));
    }
    let (_, service) = app.service_account_token(&[Role::UserAdmin]).await;
    actors.push(("service_user_admin", service));
    let admin = actors[0].1.clone();

    // (actor, list, get, lock, roles)
    let table = [
        ("admin", true, true, true, true),
        ("user_admin", true, true, true, true),
        ("client_admin", false, false, false, false),
        ("auditor", true, true, false, false),
        ("no_role", false, false, false, false),
        ("service_user_admin", true, true, true, true),
    ];
    for (actor, list, read, locks, roles) in table {
        let token = &actors.iter().find(|(name, _)| *name == actor).unwrap().1;
        let outcomes = [
            ("list", list, get(&app, "/users", token).await),
            (
                "get",
                read,
                get(&app, &format!("/users/{target}"), token).await,
            ),
            ("lock", locks, lock(&app, target, token, "matrix").await),
            (
                "roles",
                roles,
                set_roles(&app, target, token, &["auditor"]).await,
            ),
        ];
        for (operation, allowed, (status, body)) in outcomes {
            if allowed {
                assert_eq!(status, 200, "{actor} {operation}: {body}");
            } else {
                assert!(
                    is_forbidden(status, &body),
                    "{actor} {operation}: {status} {body}"
                );
            }
        }
        // Back to a plain, active account for the next actor.
        let (status, _) = call(
            &app,
            Method::POST,
            &format!("/users/{target}/unlock"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(set_roles(&app, target, &admin, &[]).await.0, 200);
    }
    // Every refusal is audited by the gate.
    let denied = app
        .audit_actions()
        .iter()
        .filter(|(action, _)| action == "admin.denied")
        .count();
    assert_eq!(denied, 2 + 4 + 4, "client_admin, auditor, no role");
    // Roles are readable by every role, not without one.
    for (actor, token) in &actors {
        let (status, body) = get(&app, "/roles", token).await;
        let expected = if *actor == "no_role" { 403 } else { 200 };
        assert_eq!(status, expected, "{actor} roles: {body}");
    }
}

#[tokio::test]
async fn without_a_token_401_and_without_the_scope_403_insufficient_scope() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/admin/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let rp = app.admin_console_client();
    app.create_user_with_roles("boss", &[Role::Admin]).await;
    let tokens = tokens_in(&app, &new_client(), &rp, "boss", &[("scope", "openid")]).await;
    let token = tokens["access_token"].as_str().unwrap();
    let response = app
        .client
        .get(app.url("/api/v1/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatehouse:problem:insufficient-scope");
}

#[tokio::test]
async fn guard_rails_hold() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let root = app.user_id("boss");

    // An admin neither locks nor deletes themselves.
    let (status, body) = lock(&app, root, &admin, "self").await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/users/{root}"),
        Some(&admin),
        None,
    )
    .await;
    assert!(is_forbidden(status, &body), "{body}");

    // The last admin: with the bootstrap administrator locked, a service account holding
    // admin cannot demote, lock, disable or delete the only active admin user.
    let bootstrap = app.user_id(app.admin().0);
    let (status, body) = lock(&app, bootstrap, &admin, "make boss the last").await;
    assert_eq!(status, 200, "{body}");
    let (_, service) = app.service_account_token(&[Role::Admin]).await;
    let (status, body) = set_roles(&app, root, &service, &["user_admin"]).await;
    assert!(is_forbidden(status, &body), "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("last admin"),
        "{body}"
    );
    let (status, body) = lock(&app, root, &service, "last").await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &format!("/users/{root}"),
        Some(&service),
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/users/{root}"),
        Some(&service),
        None,
    )
    .await;
    assert!(is_forbidden(status, &body), "{body}");
    let (_, user) = get(&app, &format!("/users/{root}"), &admin).await;
    assert_eq!(
        (user["status"].as_str(), user["roles"].clone()),
        (Some("active"), json!(["admin"]))
    );

    // A user_admin gives nobody admin, touches no admin, and raises nothing of their own.
    let helper = app
        .create_user_with_roles("helper", &[Role::UserAdmin])
        .await;
    let plain = app.create_user_with_roles("plain", &[]).await;
    let user_admin = app.admin_token_for("helper").await;
    let (status, body) = set_roles(&app, plain, &user_admin, &["admin"]).await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = lock(&app, root, &user_admin, "no").await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = set_roles(&app, helper, &user_admin, &["user_admin", "auditor"]).await;
    assert!(is_forbidden(status, &body), "{body}");
    let (status, body) = call(&app, Method::POST, "/users", Some(&user_admin), Some(json!({
        "username": "sneaky", "email": "sneaky@example.com", "password": GOOD_PASSWORD, "roles": ["admin"]
    }))).await;
    assert!(is_forbidden(status, &body), "{body}");
    // What it may do: give another user a lesser role.
    let (status, body) = set_roles(&app, plain, &user_admin, &["auditor", "client_admin"]).await;
    assert_eq!(
        (status, body),
        (200, json!({"roles": ["auditor", "client_admin"]}))
    );
    let details = audit_details(&app, "admin.user_roles", plain).unwrap();
    assert_eq!(details["after"], json!(["auditor", "client_admin"]));

    // With a second admin, the first can be demoted (by the other).
    app.create_user_with_roles("second", &[Role::Admin]).await;
    let second = app.admin_token_for("second").await;
    let (status, body) = set_roles(&app, root, &second, &["auditor"]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_lock_ends_sessions_and_refresh_tokens_until_unlocked() {
    let app = spawn_app().await;
    let carol = app.create_user_with_roles("carol", &[]).await;
    let admin = admin_token(&app).await;
    let rp = app.register_client(ClientSpec::default());
    let browser = new_client();
    let tokens = tokens_in(
        &app,
        &browser,
        &rp,
        "carol",
        &[("scope", "openid offline_access")],
    )
    .await;
    assert_eq!(app.account_page(&browser).await.0, 200);
    assert!(can_sign_in(&app, "carol").await);
    let (_, sessions) = get(&app, &format!("/users/{carol}/sessions"), &admin).await;
    assert!(!sessions.as_array().unwrap().is_empty(), "{sessions}");
    let (_, grants) = get(&app, &format!("/users/{carol}/grants"), &admin).await;
    assert_eq!(grants[0]["client_id"], rp.client_id.as_str(), "{grants}");
    assert_eq!(grants[0]["offline"], true, "{grants}");

    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/users/{carol}/lock"),
        Some(&admin),
        Some(json!({"reason": "phished"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "locked");
    assert_eq!(body["locked_until"], Value::Null);
    assert_eq!(
        refresh_error(&app, &rp, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
    assert_ne!(app.account_page(&browser).await.0, 200, "the session ended");
    assert!(!can_sign_in(&app, "carol").await);
    let (_, sessions) = get(&app, &format!("/users/{carol}/sessions"), &admin).await;
    assert_eq!(sessions, json!([]));
    let details = audit_details(&app, "admin.user_lock", carol).unwrap();
    assert_eq!(details["reason"], "phished");
    let (_, locked) = get(&app, "/users?status=locked", &admin).await;
    assert_eq!(
        (usernames(&locked), locked["total"].clone()),
        (vec!["carol".to_owned()], json!(1))
    );

    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/users/{carol}/unlock"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("active")),
        "{body}"
    );
    assert!(can_sign_in(&app, "carol").await);
    assert!(audit_details(&app, "admin.user_unlock", carol).is_some());

    // A lock with an end; one in the past, or without a reason, is refused.
    let until = (app.clock_now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/users/{carol}/lock"),
        Some(&admin),
        Some(json!({"reason": "cool off", "until": until})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["locked_until"].is_string());
    assert!(!can_sign_in(&app, "carol").await);
    let past = (app.clock_now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/users/{carol}/lock"),
        Some(&admin),
        Some(json!({"reason": "x", "until": past})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("until")));
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/users/{carol}/lock"),
        Some(&admin),
        Some(json!({"reason": " "})),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("reason")));
    app.advance_clock(chrono::Duration::hours(2));
    assert!(can_sign_in(&app, "carol").await, "the lock ran out");
}

#[tokio::test]
async fn pages_are_capped_continue_by_cursor_and_count_with_filters() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for i in 0..205 {
        let roles: &[Role] = if i % 50 == 0 { &[Role::Auditor] } else { &[] };
        app.create_user_with_roles(&format!("pg{i:03}"), roles)
            .await;
    }
    let (status, page) = get(&app, "/users?limit=1000", &admin).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        200,
        "capped at 200"
    );
    assert_eq!(page["total"], 207, "205, boss and the bootstrap admin");
    let (_, page) = get(&app, "/users", &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 50, "50 by default");

    // Walk a filtered list two at a time.
    let mut seen = Vec::new();
    let mut path = "/users?role=auditor&limit=2".to_owned();
    loop {
        let (status, page) = get(&app, &path, &admin).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], 5);
        seen.extend(usernames(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/users?role=auditor&limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["pg000", "pg050", "pg100", "pg150", "pg200"]);

    // A cursor past the end: no items, the same total.
    let past = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!(["zzzz", Uuid::nil()]).to_string());
    let (status, page) = get(&app, &format!("/users?cursor={past}&search=pg"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            page["items"].clone(),
            page["next_cursor"].clone(),
            page["total"].clone()
        ),
        (json!([]), Value::Null, json!(205))
    );

    for (query, field) in [
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        ("status=gone", "status"),
        ("role=root", "role"),
    ] {
        let (status, body) = get(&app, &format!("/users?{query}"), &admin).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn search_matches_username_or_email_prefixes_in_any_case() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    for (username, email) in [
        ("Abcdef", "first@example.com"),
        ("xyz", "ABCmail@example.com"),
        ("zabc", "other@example.com"),
        ("a_b", "under@example.com"),
        ("axb", "axb@example.com"),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/users",
            Some(&admin),
            Some(json!({
                "username": username, "email": email, "password": GOOD_PASSWORD,
            })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    for (search, expected) in [
        ("abc", vec!["Abcdef", "xyz"]),
        ("ABC", vec!["Abcdef", "xyz"]),
        ("abcmail%40", vec!["xyz"]),
        ("bcd", vec![]),
        ("mail", vec![]),
        ("a_", vec!["a_b"]),
        ("OTHER", vec!["zabc"]),
    ] {
        let (status, page) = get(&app, &format!("/users?search={search}"), &admin).await;
        assert_eq!(status, 200);
        assert_eq!(usernames(&page), expected, "search={search}");
        assert_eq!(page["total"], expected.len(), "search={search}");
    }
}

#[tokio::test]
async fn create_read_update_and_delete_a_user() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let (status, roles) = get(&app, "/roles", &admin).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["admin", "auditor", "client_admin", "user_admin"]);
    assert!(
        roles[0]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );

    let response = app
        .client
        .post(app.url("/api/v1/admin/users"))
        .bearer_auth(&admin)
        .json(&json!({
            "username": "dora", "email": "dora@example.com", "password": GOOD_PASSWORD,
            "roles": ["auditor"], "email_verified": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(location, format!("{BASE}/users/{id}"));
    let (status, user) = get(&app, &format!("/users/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(user, created);
    assert_eq!(user["roles"], json!(["auditor"]));
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["totp_enabled"], false);
    assert!(user.get("password_hash").is_none());
    assert!(can_sign_in(&app, "dora").await);

    // The sign-up rules.
    for (body, status, field) in [
        (
            json!({"username": "DORA", "email": "d2@example.com", "password": GOOD_PASSWORD}),
            409,
            "username",
        ),
        (
            json!({"username": "dora2", "email": "dora@example.com", "password": GOOD_PASSWORD}),
            409,
            "email",
        ),
        (
            json!({"username": "dora3", "email": "d3@example.com", "password": "short"}),
            400,
            "password",
        ),
        (
            json!({"username": "d", "email": "d4@example.com", "password": GOOD_PASSWORD}),
            400,
            "username",
        ),
        (
            json!({"username": "dora5", "email": "d5@example.com", "password": GOOD_PASSWORD, "roles": ["root"]}),
            400,
            "roles[0]",
        ),
    ] {
        let (got, problem) = call(
            &app,
            Method::POST,
            "/users",
            Some(&admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (got, problem["field"].as_str()),
            (status, Some(field)),
            "{body}: {problem}"
        );
    }

    // Unknown ids.
    for path in [
        format!("/users/{}", Uuid::new_v4()),
        "/users/not-a-uuid".to_owned(),
    ] {
        let (status, body) = get(&app, &path, &admin).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (404, Some("urn:gatehouse:problem:not-found"))
        );
    }

    // Edit: address (unverified unless said), then disable (sign-in refused), then enable.
    let user_path = format!("/users/{id}");
    let patch = |body: Value| call(&app, Method::PATCH, &user_path, Some(&admin), Some(body));
    let (status, user) = patch(json!({"email": "dora.new@example.com"})).await;
    assert_eq!(
        (
            status,
            user["email"].as_str(),
            user["email_verified"].as_bool()
        ),
        (200, Some("dora.new@example.com"), Some(false))
    );
    let (status, user) = patch(json!({"email_verified": true})).await;
    assert_eq!(
        (status, user["email_verified"].as_bool()),
        (200, Some(true))
    );
    app.create_user_with_roles("other", &[]).await;
    let (status, body) = patch(json!({"email": "Other@example.com"})).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (409, Some("email")),
        "{body}"
    );
    let (status, body) = patch(json!({"status": "locked"})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("status")));
    let (status, body) = patch(json!({"nickname": "d"})).await;
    assert_eq!((status, body["field"].as_str()), (400, Some("nickname")));
    let browser = new_client();
    let rp = app.register_client(ClientSpec::default());
    let tokens = tokens_in(
        &app,
        &browser,
        &rp,
        "dora",
        &[("scope", "openid offline_access")],
    )
    .await;
    let (status, user) = patch(json!({"status": "disabled"})).await;
    assert_eq!((status, user["status"].as_str()), (200, Some("disabled")));
    assert!(!can_sign_in(&app, "dora").await);
    assert_eq!(
        refresh_error(&app, &rp, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
    let (status, user) = patch(json!({"status": "active"})).await;
    assert_eq!((status, user["status"].as_str()), (200, Some("active")));
    assert!(can_sign_in(&app, "dora").await);

    // Delete: gone, its sessions and grants with it; the audit trail keeps the name.
    let tokens = tokens_in(
        &app,
        &browser,
        &rp,
        "dora",
        &[("scope", "openid offline_access")],
    )
    .await;
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(get(&app, &format!("/users/{id}"), &admin).await.0, 404);
    assert_eq!(
        refresh_error(&app, &rp, &tokens).await,
        (400, Some("invalid_grant".into()))
    );
    assert!(!can_sign_in(&app, "dora").await);
    let details = audit_details(&app, "admin.user_delete", id).unwrap();
    assert_eq!(details["username"], "dora");
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/users/{id}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn second_factor_reset_password_mail_and_sessions() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let eve = app.create_user_with_roles("eve", &[]).await;
    app.enrol_totp("eve").await;
    let (_, user) = get(&app, &format!("/users/{eve}"), &admin).await;
    assert_eq!(user["totp_enabled"], true);
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/users/{eve}/totp"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"removed": true})));
    let (_, user) = get(&app, &format!("/users/{eve}"), &admin).await;
    assert_eq!(user["totp_enabled"], false);
    assert!(audit_details(&app, "admin.user_totp_reset", eve).is_some());

    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/users/{eve}/password-reset"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, 202);
    let targets: Vec<(String, Option<String>)> = app.audit_actions();
    assert!(
        targets
            .iter()
            .any(|(action, target)| action == "password.reset_request"
                && *target == Some(eve.to_string())),
        "{targets:?}"
    );
    assert!(audit_details(&app, "admin.user_password_reset", eve).is_some());

    let browser = new_client();
    let rp = app.register_client(ClientSpec::default());
    tokens_in(&app, &browser, &rp, "eve", &[]).await;
    let (status, sessions) = get(&app, &format!("/users/{eve}/sessions"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert_eq!(sessions[0]["clients"], json!([rp.client_id]));
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/users/{eve}/sessions"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!((status, body), (200, json!({"count": 1})));
    assert_ne!(app.account_page(&browser).await.0, 200);
    let (_, sessions) = get(&app, &format!("/users/{eve}/sessions"), &admin).await;
    assert_eq!(sessions, json!([]));
}

#[tokio::test]
async fn revoking_one_grant_ends_its_refresh_tokens_and_no_others() {
    let app = spawn_app().await;
    let admin = admin_token(&app).await;
    let fay = app.create_user_with_roles("fay", &[]).await;
    let sink = HttpSink::start(&[204], 204).await;
    // The client requires `sid` in logout tokens: the revocation names the grant's session.
    let redirect_uri = "http://rp.example.test/callback".to_owned();
    let new = NewClient {
        name: "Back-channel RP".to_owned(),
        redirect_uris: vec![redirect_uri.clone()],
        id_token_signed_response_alg: Some("ES256".to_owned()),
        backchannel_logout_uri: Some(sink.url("/bc")),
        backchannel_logout_session_required: true,
        ..NewClient::default()
    };
    let (client, client_secret) = app
        .state
        .accounts
        .database()
        .create_client(&new, &app.state.secrets, app.clock_now())
        .unwrap();
    let rp = TestClient {
        client_id: client.client_id,
        client_secret,
        redirect_uri,
    };
    let browser = new_client();
    // Two code flows of the same user with the same client: two grants.
    let online = tokens_in(&app, &browser, &rp, "fay", &[]).await;
    let offline = tokens_in(
        &app,
        &browser,
        &rp,
        "fay",
        &[("scope", "openid offline_access")],
    )
    .await;
    assert!(online["refresh_token"].is_string(), "{online}");

    let (status, grants) = get(&app, &format!("/users/{fay}/grants"), &admin).await;
    assert_eq!(status, 200, "{grants}");
    let grants = grants.as_array().unwrap().clone();
    assert_eq!(grants.len(), 2, "{grants:?}");
    let ids: Vec<&str> = grants
        .iter()
        .map(|grant| grant["grant_id"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    for grant in &grants {
        assert_eq!(grant["client_id"], rp.client_id.as_str(), "{grant}");
        assert!(grant["issued_at"].is_string(), "{grant}");
        // An opaque id, not a secret: neither refresh token nor anything close to one.
        let id = grant["grant_id"].as_str().unwrap();
        assert_eq!(id.len(), 22, "{grant}");
        for tokens in [&online, &offline] {
            assert_ne!(tokens["refresh_token"].as_str(), Some(id));
        }
    }
    let offline_id = grants
        .iter()
        .find(|grant| grant["offline"] == true)
        .unwrap()["grant_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let online_id = grants
        .iter()
        .find(|grant| grant["offline"] == false)
        .unwrap()["grant_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/users/{fay}/grants/{offline_id}");
    let (status, body) = call(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(
        refresh_error(&app, &rp, &offline).await,
        (400, Some("invalid_grant".into()))
    );
    let response = refresh(&app, &rp, online["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200, "the other grant stays");
    // The client is told, with a logout token naming the user (Back-Channel Logout 1.0 §2.4).
    let requests = sink.wait_for(1, Duration::from_secs(15)).await;
    let form = requests[0].form();
    assert_eq!(form[0].0, "logout_token", "{form:?}");
    let claims = form[0].1.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], fay.to_string(), "{claims}");
    let id_token_sid = jwt_claims(offline["id_token"].as_str().unwrap())["sid"].clone();
    assert!(id_token_sid.is_string(), "{offline}");
    assert_eq!(claims["sid"], id_token_sid, "the grant's session: {claims}");
    let (_, grants) = get(&app, &format!("/users/{fay}/grants"), &admin).await;
    let left: Vec<&str> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|grant| grant["grant_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [online_id.as_str()]);
    let details = audit_details(&app, "admin.user_grant_revoke", fay).unwrap();
    assert_eq!(details["grant_id"], offline_id.as_str());
    assert_eq!(details["client_id"], rp.client_id.as_str());
    // Already revoked, unknown, malformed, or the client id: 404.
    for grant_id in [
        offline_id.as_str(),
        "AAAAAAAAAAAAAAAAAAAAAA",
        "not-a-grant",
        rp.client_id.as_str(),
    ] {
        let path = format!("/users/{fay}/grants/{grant_id}");
        let (status, body) = call(&app, Method::DELETE, &path, Some(&admin), None).await;
        assert_eq!(
            (status, body["type"].as_str()),
            (404, Some("urn:gatehouse:problem:not-found")),
            "{grant_id}"
        );
    }
    // Another user's grant id is not this user's.
    let other_user = app.create_user_with_roles("gus", &[]).await;
    let path = format!("/users/{other_user}/grants/{online_id}");
    let (status, _) = call(&app, Method::DELETE, &path, Some(&admin), None).await;
    assert_eq!(status, 404);
    // An auditor may read grants but not revoke them.
    app.create_user_with_roles("reader", &[Role::Auditor]).await;
    let reader = app.admin_token_for("reader").await;
    assert_eq!(
        get(&app, &format!("/users/{fay}/grants"), &reader).await.0,
        200
    );
    let path = format!("/users/{fay}/grants/{online_id}");
    let (status, body) = call(&app, Method::DELETE, &path, Some(&reader), None).await;
    assert!(is_forbidden(status, &body), "{body}");
    let (_, grants) = get(&app, &format!("/users/{fay}/grants"), &admin).await;
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
}
