//! The admin API: clients (`/api/v1/admin/clients`). Each endpoint, the permission table,
//! secret rotation, enabling and disabling (felt at `/authorize`, `/token` and introspection),
//! validation naming the field, unknown ids, and the list's paging, cap and totals.

use gatehouse_identity::{GrantType, Role};
use gatehouse_tests::oauth::{authorize_url, introspect, tokens_in};
use gatehouse_tests::{ClientSpec, TestApp, TestClient, new_client};
use reqwest::Method;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/admin/clients";

/// An app with an administrator `root` and their admin token.
async fn setup() -> (TestApp, String) {
    let app = TestApp::builder().with_admin("root").spawn().await;
    let token = app.admin_token_for("root").await;
    (app, token)
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A service-account client (client_credentials, confidential) registered through the API.
async fn create_service_client(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, body) = status_and_json(
        call(
            app,
            Method::POST,
            BASE,
            token,
            Some(json!({
                "name": name,
                "grant_types": ["client_credentials"],
                "scopes": ["api"],
            })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await
        .unwrap()
}

async fn assert_invalid_client(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
}

fn audited(app: &TestApp, action: &str, target: &str) -> bool {
    app.audit_actions()
        .iter()
        .any(|(a, t)| a == action && t.as_deref() == Some(target))
}

#[tokio::test]
async fn a_client_is_created_read_edited_and_deleted() {
    let (app, token) = setup().await;
    let (status, created) = status_and_json(
        call(
            &app,
            Method::POST,
            BASE,
            &token,
            Some(json!({
                "name": "Mail app",
                "redirect_uris": ["https://mail.example.com/callback"],
                "backchannel_logout_uri": "https://mail.example.com/bcl",
            })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43);
    assert_eq!(created["client_type"], "confidential");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        created["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(created["enabled"], true);
    assert_eq!(created["roles"], json!([]));
    assert!(created.get("secret_hash").is_none());
    assert!(audited(&app, "admin.client_create", &id));

    let (status, shown) =
        status_and_json(call(&app, Method::GET, &format!("{BASE}/{id}"), &token, None).await).await;
    assert_eq!(status, 200);
    assert_eq!(shown["name"], "Mail app");
    assert!(shown.get("client_secret").is_none(), "shown once only");
    assert!(!shown.to_string().contains(secret));

    let (status, edited) = status_and_json(
        call(
            &app,
            Method::PATCH,
            &format!("{BASE}/{id}"),
            &token,
            Some(json!({
                "name": "Mail",
                "redirect_uris": ["https://mail.example.com/cb2"],
                "scopes": ["openid", "email"],
                "backchannel_logout_uri": null,
                "require_2fa": true,
                "first_party": true,
            })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["name"], "Mail");
    assert_eq!(
        edited["redirect_uris"],
        json!(["https://mail.example.com/cb2"])
    );
    assert_eq!(edited["scopes"], json!(["openid", "email"]));
    assert_eq!(edited["backchannel_logout_uri"], Value::Null);
    assert_eq!(edited["require_2fa"], true);
    assert_eq!(edited["first_party"], true);
    assert_eq!(edited["grant_types"], created["grant_types"], "untouched");
    assert!(audited(&app, "admin.client_update", &id));

    let response = call(&app, Method::DELETE, &format!("{BASE}/{id}"), &token, None).await;
    assert_eq!(response.status(), 204);
    assert!(audited(&app, "admin.client_delete", &id));
    let response = call(&app, Method::GET, &format!("{BASE}/{id}"), &token, None).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn unknown_ids_are_404_problems() {
    let (app, token) = setup().await;
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::PATCH, "", Some(json!({"name": "x"}))),
        (Method::DELETE, "", None),
        (Method::POST, "/secret", None),
        (Method::POST, "/disable", None),
        (Method::PUT, "/roles", Some(json!({"roles": []}))),
    ] {
        let response = call(
            &app,
            method.clone(),
            &format!("{BASE}/no-such-client{suffix}"),
            &token,
            body,
        )
        .await;
        assert_eq!(response.status(), 404, "{method} {suffix}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "urn:gatehouse:problem:not-found");
    }
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let (app, token) = setup().await;
    let cases = [
        (
            json!({"name": "x", "redirect_uris": ["/relative"]}),
            "redirect_uris",
        ),
        (json!({"name": ""}), "name"),
        (
            json!({"name": "x", "client_type": "public", "grant_types": ["client_credentials"]}),
            "grant_types",
        ),
        (
            json!({"name": "x", "grant_types": ["implicit"]}),
            "grant_types[0]",
        ),
        (
            json!({"name": "x", "grant_types": ["client_credentials"], "scopes": ["a b"]}),
            "scopes",
        ),
        (
            json!({"name": "x", "grant_types": ["client_credentials"],
                "backchannel_logout_uri": "http://rp.example.com/bcl"}),
            "backchannel_logout_uri",
        ),
        (json!({"name": "x", "colour": "blue"}), "colour"),
        (json!({"redirect_uris": []}), "name"),
        (
            json!({"name": "x", "grant_types": ["client_credentials"], "roles": ["root"]}),
            "roles[0]",
        ),
    ];
    for (body, field) in cases {
        let (status, problem) =
            status_and_json(call(&app, Method::POST, BASE, &token, Some(body.clone())).await).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    let client = create_service_client(&app, &token, "svc").await;
    let id = client["client_id"].as_str().unwrap();
    for (body, field) in [
        (
            json!({"backchannel_logout_uri": "ftp://x.example"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"grant_types": ["authorization_code"]}),
            "redirect_uris",
        ),
        (json!({"name": "\u{7}bell"}), "name"),
        (json!({"enabled": "no"}), "enabled"),
    ] {
        let (status, problem) = status_and_json(
            call(
                &app,
                Method::PATCH,
                &format!("{BASE}/{id}"),
                &token,
                Some(body.clone()),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    // Nothing was changed by the refused edits.
    let (_, shown) =
        status_and_json(call(&app, Method::GET, &format!("{BASE}/{id}"), &token, None).await).await;
    assert_eq!(shown["name"], "svc");
    assert_eq!(shown["grant_types"], json!(["client_credentials"]));
}

#[tokio::test]
async fn a_rotated_secret_replaces_the_old_one_at_once() {
    let (app, token) = setup().await;
    let client = create_service_client(&app, &token, "svc").await;
    let id = client["client_id"].as_str().unwrap();
    let old = client["client_secret"].as_str().unwrap();
    // The old secret works, and the client is now in this instance's cache.
    assert_eq!(client_credentials(&app, id, old).await.status(), 200);

    let (status, rotated) = status_and_json(
        call(
            &app,
            Method::POST,
            &format!("{BASE}/{id}/secret"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["client_id"], id);
    let new = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new, old);

    assert_invalid_client(client_credentials(&app, id, old).await).await;
    assert_eq!(client_credentials(&app, id, new).await.status(), 200);
    assert!(audited(&app, "admin.client_secret_rotate", id));
    let (_, shown) =
        status_and_json(call(&app, Method::GET, &format!("{BASE}/{id}"), &token, None).await).await;
    assert!(!shown.to_string().contains(new));

    // A public client has no secret to rotate.
    let spa = app.register_client(ClientSpec {
        public: true,
        ..ClientSpec::default()
    });
    let (status, problem) = status_and_json(
        call(
            &app,
            Method::POST,
            &format!("{BASE}/{}/secret", spa.client_id),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn a_disabled_client_is_refused_everywhere_until_enabled() {
    let (app, token) = setup().await;
    let client = create_service_client(&app, &token, "svc").await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let issued: Value = client_credentials(&app, &id, &secret)
        .await
        .json()
        .await
        .unwrap();
    let access_token = issued["access_token"].as_str().unwrap().to_owned();
    let resource_server = app.register_client(ClientSpec::default());
    let active = |response: reqwest::Response| async move {
        let body: Value = response.json().await.unwrap();
        body["active"].as_bool().unwrap()
    };
    assert!(active(introspect(&app, &resource_server, &access_token).await).await);
    let web = app.register_client(ClientSpec::default());
    let authorize = |rp: TestClient| {
        let url = authorize_url(&app, &rp, &[]);
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(authorize(web.clone()).await.status(), 302);
    // A user's token issued to the web client, checked at userinfo.
    app.create_user("carol").await;
    let user_tokens = tokens_in(&app, &new_client(), &web, "carol", &[]).await;
    let user_access = user_tokens["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let (client, url) = (app.client.clone(), app.url("/userinfo"));
        async move {
            let response = client.get(url).bearer_auth(token).send().await.unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(userinfo(user_access.clone()).await, 200);

    let (status, disabled) = status_and_json(
        call(
            &app,
            Method::POST,
            &format!("{BASE}/{id}/disable"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(disabled["enabled"], false);
    assert!(audited(&app, "admin.client_disable", &id));
    assert_invalid_client(client_credentials(&app, &id, &secret).await).await;
    assert!(!active(introspect(&app, &resource_server, &access_token).await).await);
    let (status, _) = status_and_json(
        call(
            &app,
            Method::PATCH,
            &format!("{BASE}/{}", web.client_id),
            &token,
            Some(json!({"enabled": false})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    let refused = authorize(web.clone()).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
    assert_eq!(
        userinfo(user_access.clone()).await,
        401,
        "a disabled client's user tokens stop working"
    );

    // Still listed and readable by administrators.
    let (_, shown) =
        status_and_json(call(&app, Method::GET, &format!("{BASE}/{id}"), &token, None).await).await;
    assert_eq!(shown["enabled"], false);

    let (status, enabled) = status_and_json(
        call(
            &app,
            Method::POST,
            &format!("{BASE}/{id}/enable"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(enabled["enabled"], true);
    assert!(audited(&app, "admin.client_enable", &id));
    assert_eq!(client_credentials(&app, &id, &secret).await.status(), 200);
    assert!(active(introspect(&app, &resource_server, &access_token).await).await);
    call(
        &app,
        Method::PATCH,
        &format!("{BASE}/{}", web.client_id),
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(authorize(web).await.status(), 302);
    assert_eq!(userinfo(user_access).await, 200);
}

#[tokio::test]
async fn a_service_accounts_roles_are_replaced_by_an_admin_only() {
    let (app, token) = setup().await;
    let (svc, svc_token) = app.service_account_token(&[]).await;
    // Without a role, the service account may not list clients.
    let response = call(&app, Method::GET, BASE, &svc_token, None).await;
    assert_eq!(response.status(), 403);

    let (status, body) = status_and_json(
        call(
            &app,
            Method::PUT,
            &format!("{BASE}/{}/roles", svc.client_id),
            &token,
            Some(json!({"roles": ["client_admin", "auditor"]})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["roles"], json!(["auditor", "client_admin"]));
    assert!(audited(&app, "admin.client_roles", &svc.client_id));
    // Roles are read at each request: the same token now works.
    let response = call(&app, Method::GET, BASE, &svc_token, None).await;
    assert_eq!(response.status(), 200);
    // A client_admin may not hand out roles, not even to itself.
    let response = call(
        &app,
        Method::PUT,
        &format!("{BASE}/{}/roles", svc.client_id),
        &svc_token,
        Some(json!({"roles": ["admin"]})),
    )
    .await;
    assert_eq!(response.status(), 403);
    let (status, problem) = status_and_json(
        call(
            &app,
            Method::PUT,
            &format!("{BASE}/{}/roles", svc.client_id),
            &token,
            Some(json!({"roles": ["superuser"]})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(problem["field"], "roles[0]");
    // Created with roles: an admin may.
    let (status, created) = status_and_json(
        call(
            &app,
            Method::POST,
            BASE,
            &token,
            Some(json!({"name": "bot", "grant_types": ["client_credentials"],
                "scopes": ["admin"], "roles": ["auditor"]})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["roles"], json!(["auditor"]));
}

/// Who may do what, by role: every endpoint against every kind of actor.
#[tokio::test]
async fn the_permission_table_holds_for_every_endpoint() {
    let (app, admin) = setup().await;
    let mut actors: Vec<(&str, String)> = vec![("admin", admin.clone())];
    for (name, roles) in [
        ("client_admin", vec![Role::ClientAdmin]),
        ("user_admin", vec![Role::UserAdmin]),
        ("auditor", vec![Role::Auditor]),
        ("nobody", vec![]),
    ] {
        app.create_user_with_roles(name, &roles).await;
        actors.push((name, app.admin_token_for(name).await));
    }
    let (_, svc_token) = app.service_account_token(&[Role::ClientAdmin]).await;
    actors.push(("service client_admin", svc_token));

    #[derive(Clone, Copy, Debug)]
    enum Op {
        List,
        Show,
        Create,
        CreateWithRoles,
        Update,
        Disable,
        Rotate,
        Roles,
        Delete,
    }
    let ops = [
        Op::List,
        Op::Show,
        Op::Create,
        Op::CreateWithRoles,
        Op::Update,
        Op::Disable,
        Op::Rotate,
        Op::Roles,
        Op::Delete,
    ];
    let allowed = |actor: &str, op: Op| match actor {
        "admin" => true,
        "client_admin" | "service client_admin" => !matches!(op, Op::Roles | Op::CreateWithRoles),
        "auditor" => matches!(op, Op::List | Op::Show),
        _ => false,
    };
    let mut table = Vec::new();
    for (actor, token) in &actors {
        for op in ops {
            let target = app.register_client(ClientSpec {
                grants: vec![GrantType::ClientCredentials],
                scopes: vec!["api".to_owned()],
                ..ClientSpec::default()
            });
            let one = format!("{BASE}/{}", target.client_id);
            let (method, path, body) = match op {
                Op::List => (Method::GET, BASE.to_owned(), None),
                Op::Show => (Method::GET, one, None),
                Op::Create => (
                    Method::POST,
                    BASE.to_owned(),
                    Some(json!({"name": "new", "grant_types": ["client_credentials"]})),
                ),
                Op::CreateWithRoles => (
                    Method::POST,
                    BASE.to_owned(),
                    Some(json!({"name": "new", "grant_types": ["client_credentials"],
                        "roles": ["auditor"]})),
                ),
                Op::Update => (Method::PATCH, one, Some(json!({"name": "renamed"}))),
                Op::Disable => (Method::POST, format!("{one}/disable"), None),
                Op::Rotate => (Method::POST, format!("{one}/secret"), None),
                Op::Roles => (
                    Method::PUT,
                    format!("{one}/roles"),
                    Some(json!({"roles": ["auditor"]})),
                ),
                Op::Delete => (Method::DELETE, one, None),
            };
            let response = call(&app, method, &path, token, body).await;
            let status = response.status().as_u16();
            let expected = allowed(actor, op);
            if expected {
                assert!((200..300).contains(&status), "{actor} {op:?}: {status}");
            } else {
                assert_eq!(status, 403, "{actor} {op:?}");
                let problem: Value = response.json().await.unwrap();
                assert_eq!(
                    problem["type"], "urn:gatehouse:problem:forbidden",
                    "{actor} {op:?}"
                );
            }
            table.push((actor.to_string(), op, status));
        }
    }
    assert_eq!(table.len(), actors.len() * ops.len());
    // Refusals are audited by the gate.
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "admin.denied")
    );
}

#[tokio::test]
async fn without_a_token_or_the_admin_scope_the_api_refuses() {
    let (app, _) = setup().await;
    let response = app.client.get(app.url(BASE)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let (_, svc) = app.service_account_token(&[Role::Admin]).await;
    // A token without the admin scope.
    let plain = app.register_client(ClientSpec {
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["api".to_owned()],
        ..ClientSpec::default()
    });
    let token: Value = client_credentials(
        &app,
        &plain.client_id,
        plain.client_secret.as_deref().unwrap(),
    )
    .await
    .json()
    .await
    .unwrap();
    let response = call(
        &app,
        Method::GET,
        BASE,
        token["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "urn:gatehouse:problem:insufficient-scope");
    assert_eq!(
        call(&app, Method::GET, BASE, &svc, None).await.status(),
        200
    );
}

#[tokio::test]
async fn the_list_pages_by_name_with_exact_totals_and_a_cap() {
    let (app, token) = setup().await;
    // The admin token's own client (and any other already there) is counted too.
    let (_, before) = status_and_json(call(&app, Method::GET, BASE, &token, None).await).await;
    let existing = before["total"].as_i64().unwrap();
    let extra = 203;
    for _ in 0..extra {
        app.register_client(ClientSpec::default());
    }
    let total = existing + extra;

    let (status, capped) = status_and_json(
        call(
            &app,
            Method::GET,
            &format!("{BASE}?limit=1000"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        capped["items"].as_array().unwrap().len(),
        200,
        "capped at 200"
    );
    assert_eq!(capped["total"], total);
    assert!(capped["next_cursor"].is_string());

    let (_, default) = status_and_json(call(&app, Method::GET, BASE, &token, None).await).await;
    assert_eq!(
        default["items"].as_array().unwrap().len(),
        50,
        "50 by default"
    );

    // Walking the pages visits every client once.
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{BASE}?limit=90&cursor={cursor}"),
            None => format!("{BASE}?limit=90"),
        };
        let (status, page) =
            status_and_json(call(&app, Method::GET, &path, &token, None).await).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["total"], total);
        for item in page["items"].as_array().unwrap() {
            seen.push((
                item["name"].as_str().unwrap().to_lowercase(),
                item["client_id"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total);
    let mut unique: Vec<&String> = seen.iter().map(|(_, id)| id).collect();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len() as i64, total, "no client twice");

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=many", "limit"),
        ("cursor=%21%21", "cursor"),
    ] {
        let (status, problem) = status_and_json(
            call(&app, Method::GET, &format!("{BASE}?{query}"), &token, None).await,
        )
        .await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(problem["field"], field, "{query}");
    }

    // Search: a name prefix, case-insensitively, or an exact id.
    let made = create_service_client(&app, &token, "Nightly Sync").await;
    let (_, found) = status_and_json(
        call(
            &app,
            Method::GET,
            &format!("{BASE}?search=nightly"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["client_id"], made["client_id"]);
    let id = made["client_id"].as_str().unwrap();
    let (_, by_id) = status_and_json(
        call(
            &app,
            Method::GET,
            &format!("{BASE}?search={id}"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(by_id["total"], 1);
    assert!(by_id["next_cursor"].is_null());
}

#[tokio::test]
async fn a_deleted_client_can_no_longer_authenticate_and_its_tokens_go_inactive() {
    let (app, token) = setup().await;
    let client = create_service_client(&app, &token, "svc").await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let issued: Value = client_credentials(&app, &id, &secret)
        .await
        .json()
        .await
        .unwrap();
    let access_token = issued["access_token"].as_str().unwrap();
    let resource_server = app.register_client(ClientSpec::default());
    let before: Value = introspect(&app, &resource_server, access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["active"], true);

    let response = call(&app, Method::DELETE, &format!("{BASE}/{id}"), &token, None).await;
    assert_eq!(response.status(), 204);
    assert_invalid_client(client_credentials(&app, &id, &secret).await).await;
    let after: Value = introspect(&app, &resource_server, access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, json!({"active": false}));
    let response = call(&app, Method::DELETE, &format!("{BASE}/{id}"), &token, None).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_service_account_cannot_cut_off_its_own_client() {
    let (app, _) = setup().await;
    let (svc, svc_token) = app.service_account_token(&[Role::Admin]).await;
    let own = format!("{BASE}/{}", svc.client_id);
    for (method, path, body) in [
        (Method::DELETE, own.clone(), None),
        (Method::POST, format!("{own}/disable"), None),
        (Method::PATCH, own.clone(), Some(json!({"enabled": false}))),
        (
            Method::PUT,
            format!("{own}/roles"),
            Some(json!({"roles": ["auditor"]})),
        ),
    ] {
        let (status, problem) =
            status_and_json(call(&app, method.clone(), &path, &svc_token, body).await).await;
        assert_eq!(status, 403, "{method} {path}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("its own client"),
            "{problem}"
        );
    }
    assert!(audited(&app, "admin.denied", &svc.client_id));
    // Nothing changed: the token still works with every role.
    let response = call(&app, Method::GET, &own, &svc_token, None).await;
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["roles"], json!(["admin"]));
    // Another client is fair game, and its own secret may be rotated.
    let other = create_service_client(&app, &svc_token, "other").await;
    let other_id = other["client_id"].as_str().unwrap();
    let response = call(
        &app,
        Method::DELETE,
        &format!("{BASE}/{other_id}"),
        &svc_token,
        None,
    )
    .await;
    assert_eq!(response.status(), 204);
    let response = call(
        &app,
        Method::POST,
        &format!("{own}/secret"),
        &svc_token,
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
}
