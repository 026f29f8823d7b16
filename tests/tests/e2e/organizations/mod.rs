//! Platform administration of organisations: the REST API (`/api/v1/admin/organizations`:
//! create, read by id or slug, rename, delete, members and their roles, each audited in the
//! organisation's context), its problems (fields named, conflicts, unknown ids), who may do
//! what, its routes' 405s and its OpenAPI description (here); disabling an organisation and
//! removing a member, felt at `/token` and introspection (`grants`); the console pages doing
//! the same through real forms (`console`).

mod console;
mod grants;

use gatehouse_identity::organizations::{self as orgs, OrgRole};
use gatehouse_identity::{ClientType, NewClient, Role};
use gatehouse_tests::{TestApp, TestClient};
use reqwest::Method;
use serde_json::{Value, json};

const BASE: &str = "/api/v1/admin/organizations";
const CONSOLE: &str = "/admin/organizations";

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

/// Asserts a problem+json answer of `status` and `kind` (the end of its `type` URN), naming
/// `field` when given; the problem.
async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    kind: &str,
    field: Option<&str>,
) -> Value {
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let (got, problem) = status_and_json(response).await;
    assert_eq!(got, status, "{problem}");
    assert_eq!(
        problem["type"],
        format!("urn:gatehouse:problem:{kind}"),
        "{problem}"
    );
    if let Some(field) = field {
        assert_eq!(problem["field"], field, "{problem}");
    }
    problem
}

async fn create_org(app: &TestApp, token: &str, slug: &str, name: &str) -> Value {
    let (status, body) = status_and_json(
        call(
            app,
            Method::POST,
            BASE,
            token,
            Some(json!({"slug": slug, "name": name})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// The audit events of `action` on `target`, with the organisation each was recorded in.
fn audited_in(app: &TestApp, action: &str, target: &str) -> Vec<Option<uuid::Uuid>> {
    app.state
        .accounts
        .database()
        .recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action && e.target.as_deref() == Some(target))
        .map(|e| e.org_id)
        .collect()
}

/// A first-party confidential client of organisation `org_id` (registered as `gatehouse client
/// create --org` does).
fn register_org_client(app: &TestApp, org_id: &str, name: &str) -> TestClient {
    let redirect_uri = "http://rp.example.test/callback".to_owned();
    let new = NewClient {
        org_id: Some(org_id.to_owned()),
        name: name.to_owned(),
        client_type: Some(ClientType::Confidential),
        redirect_uris: vec![redirect_uri.clone()],
        first_party: true,
        ..NewClient::default()
    };
    let (client, secret) = app
        .state
        .accounts
        .database()
        .create_client(&new, &app.state.secrets, app.clock_now())
        .unwrap();
    TestClient {
        client_id: client.client_id,
        client_secret: secret,
        redirect_uri,
    }
}

fn stored_org(app: &TestApp, id_or_slug: &str) -> Option<orgs::Organization> {
    orgs::find(app.state.accounts.database(), id_or_slug).unwrap()
}

#[tokio::test]
async fn an_organisation_is_created_read_renamed_and_deleted() {
    let (app, token) = setup().await;
    let created = create_org(&app, &token, "acme", "Acme Corp").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["slug"], "acme");
    assert_eq!(created["name"], "Acme Corp");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["member_count"], 0);
    assert_eq!(created["client_count"], 0);
    let org_id: uuid::Uuid = id.parse().unwrap();
    assert_eq!(
        audited_in(&app, "admin.org_create", &id),
        [Some(org_id)],
        "audited once, in the organisation's context"
    );

    // By id and by slug, the same organisation.
    for name in [id.as_str(), "acme"] {
        let (status, shown) =
            status_and_json(call(&app, Method::GET, &format!("{BASE}/{name}"), &token, None).await)
                .await;
        assert_eq!(status, 200, "{name}: {shown}");
        assert_eq!(shown["id"], id.as_str());
        assert_eq!(shown["slug"], "acme");
    }
    create_org(&app, &token, "globex", "Globex").await;
    let (status, list) = status_and_json(call(&app, Method::GET, BASE, &token, None).await).await;
    assert_eq!(status, 200);
    assert_eq!(list["total"], 2);
    assert_eq!(list["next_cursor"], Value::Null);
    let slugs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "globex"]);

    let (status, edited) = status_and_json(
        call(
            &app,
            Method::PATCH,
            &format!("{BASE}/acme"),
            &token,
            Some(json!({"name": "Acme Europe"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["name"], "Acme Europe");
    assert_eq!(edited["slug"], "acme");
    assert_eq!(edited["enabled"], true);
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme Europe");
    assert_eq!(audited_in(&app, "admin.org_update", &id), [Some(org_id)]);

    let response = call(&app, Method::DELETE, &format!("{BASE}/{id}"), &token, None).await;
    assert_eq!(response.status(), 204);
    assert_eq!(audited_in(&app, "admin.org_delete", &id), [Some(org_id)]);
    assert!(stored_org(&app, "acme").is_none());
    let response = call(&app, Method::GET, &format!("{BASE}/acme"), &token, None).await;
    assert_problem(response, 404, "not-found", None).await;
}

#[tokio::test]
async fn members_are_added_their_role_changed_and_removed() {
    let (app, token) = setup().await;
    let org = create_org(&app, &token, "acme", "Acme Corp").await;
    let org_id: uuid::Uuid = org["id"].as_str().unwrap().parse().unwrap();
    app.create_user("alice").await;
    app.create_user("bob").await;
    let alice = app.user_id("alice");
    let bob = app.user_id("bob");
    let member = |user: uuid::Uuid| format!("{BASE}/acme/members/{user}");

    let (status, added) = status_and_json(
        call(
            &app,
            Method::PUT,
            &member(alice),
            &token,
            Some(json!({"role": "member"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "a new member: {added}");
    assert_eq!(added["user_id"], alice.to_string());
    assert_eq!(added["username"], "alice");
    assert_eq!(added["email"], "alice@example.com");
    assert_eq!(added["role"], "member");
    let (status, changed) = status_and_json(
        call(
            &app,
            Method::PUT,
            &member(alice),
            &token,
            Some(json!({"role": "org_admin"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "a role change: {changed}");
    assert_eq!(changed["role"], "org_admin");
    assert_eq!(changed["since"], added["since"]);
    let response = call(
        &app,
        Method::PUT,
        &member(bob),
        &token,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(response.status(), 201);

    let (status, members) = status_and_json(
        call(
            &app,
            Method::GET,
            &format!("{BASE}/acme/members"),
            &token,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(members["total"], 2);
    let shown: Vec<(&str, &str)> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["username"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [("alice", "org_admin"), ("bob", "member")]);
    let (_, shown) =
        status_and_json(call(&app, Method::GET, &format!("{BASE}/acme"), &token, None).await).await;
    assert_eq!(shown["member_count"], 2);

    let response = call(&app, Method::DELETE, &member(bob), &token, None).await;
    assert_eq!(response.status(), 204);
    let database = app.state.accounts.database();
    assert_eq!(orgs::role_of(database, org_id, bob).unwrap(), None);
    assert_eq!(
        orgs::role_of(database, org_id, alice).unwrap(),
        Some(OrgRole::OrgAdmin)
    );
    // Removing again: not a member.
    let response = call(&app, Method::DELETE, &member(bob), &token, None).await;
    assert_problem(response, 404, "not-found", None).await;

    assert_eq!(
        audited_in(&app, "admin.org_member_add", &alice.to_string()),
        [Some(org_id), Some(org_id)]
    );
    assert_eq!(
        audited_in(&app, "admin.org_member_remove", &bob.to_string()),
        [Some(org_id)]
    );
}

#[tokio::test]
async fn bad_fields_conflicts_and_unknown_names_are_problems() {
    let (app, token) = setup().await;
    for (body, field) in [
        (json!({"slug": "Acme", "name": "Acme"}), "slug"),
        (json!({"slug": "a", "name": "Acme"}), "slug"),
        (
            json!({"slug": "0b8f5c1e-6f3a-4d2b-9a51-7c0e2d9f4a10", "name": "Acme"}),
            "slug",
        ),
        (json!({"slug": "acme", "name": "  "}), "name"),
        (json!({"slug": "acme", "name": "x".repeat(101)}), "name"),
    ] {
        let response = call(&app, Method::POST, BASE, &token, Some(body.clone())).await;
        assert_problem(response, 400, "validation", Some(field)).await;
    }
    for body in [
        json!({"slug": "acme"}),
        json!({"slug": "acme", "name": "Acme", "enabled": false}),
        json!({"slug": 7, "name": "Acme"}),
    ] {
        let response = call(&app, Method::POST, BASE, &token, Some(body.clone())).await;
        assert_eq!(response.status(), 400, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:gatehouse:problem:"),
            "{problem}"
        );
    }
    let (_, list) = status_and_json(call(&app, Method::GET, BASE, &token, None).await).await;
    assert_eq!(list["total"], 0, "nothing written");

    let org = create_org(&app, &token, "acme", "Acme Corp").await;
    let response = call(
        &app,
        Method::POST,
        BASE,
        &token,
        Some(json!({"slug": "acme", "name": "Another"})),
    )
    .await;
    assert_problem(response, 409, "conflict", Some("slug")).await;
    // The slug cannot change; a blank name is refused.
    let one = format!("{BASE}/acme");
    let response = call(
        &app,
        Method::PATCH,
        &one,
        &token,
        Some(json!({"slug": "acme2"})),
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = call(&app, Method::PATCH, &one, &token, Some(json!({"name": ""}))).await;
    assert_problem(response, 400, "validation", Some("name")).await;
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let response = call(
        &app,
        Method::PUT,
        &format!("{one}/members/{alice}"),
        &token,
        Some(json!({"role": "owner"})),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme Corp");

    // An organisation with a client is not deleted.
    register_org_client(&app, org["id"].as_str().unwrap(), "Acme portal");
    let response = call(&app, Method::DELETE, &one, &token, None).await;
    assert_problem(response, 409, "conflict", None).await;
    assert!(stored_org(&app, "acme").is_some());

    // Unknown organisations, users and members.
    let unknown_org = uuid::Uuid::new_v4();
    let unknown_user = uuid::Uuid::new_v4();
    let member_body = Some(json!({"role": "member"}));
    for (method, path, body) in [
        (Method::GET, format!("{BASE}/globex"), None),
        (Method::GET, format!("{BASE}/{unknown_org}"), None),
        (Method::GET, format!("{BASE}/Not%20A%20Slug"), None),
        (
            Method::PATCH,
            format!("{BASE}/globex"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("{BASE}/globex"), None),
        (Method::GET, format!("{BASE}/globex/members"), None),
        (
            Method::PUT,
            format!("{BASE}/globex/members/{alice}"),
            member_body.clone(),
        ),
        (
            Method::PUT,
            format!("{one}/members/{unknown_user}"),
            member_body.clone(),
        ),
        (
            Method::PUT,
            format!("{one}/members/not-a-uuid"),
            member_body.clone(),
        ),
        (Method::DELETE, format!("{one}/members/{alice}"), None),
        (
            Method::DELETE,
            format!("{BASE}/globex/members/{alice}"),
            None,
        ),
    ] {
        let response = call(&app, method.clone(), &path, &token, body).await;
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_problem(response, 404, "not-found", None).await;
    }
}

#[tokio::test]
async fn an_auditor_reads_and_only_an_admin_changes_anything() {
    let (app, admin) = setup().await;
    let org = create_org(&app, &admin, "acme", "Acme Corp").await;
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let one = format!("{BASE}/acme");
    let member = format!("{one}/members/{alice}");
    let writes = [
        (
            Method::POST,
            BASE.to_owned(),
            Some(json!({"slug": "globex", "name": "Globex"})),
        ),
        (Method::PATCH, one.clone(), Some(json!({"enabled": false}))),
        (Method::PUT, member.clone(), Some(json!({"role": "member"}))),
        (Method::DELETE, member.clone(), None),
        (Method::DELETE, one.clone(), None),
    ];
    let reads = [
        (Method::GET, BASE.to_owned()),
        (Method::GET, one.clone()),
        (Method::GET, format!("{one}/members")),
    ];

    for (name, roles, may_read) in [
        ("watcher", vec![Role::Auditor], true),
        ("clerk", vec![Role::ClientAdmin], false),
        ("helpdesk", vec![Role::UserAdmin], false),
        ("nobody", vec![], false),
    ] {
        app.create_user_with_roles(name, &roles).await;
        let token = app.admin_token_for(name).await;
        for (method, path) in &reads {
            let response = call(&app, method.clone(), path, &token, None).await;
            if may_read {
                assert_eq!(response.status(), 200, "{name} {method} {path}");
            } else {
                assert_problem(response, 403, "forbidden", None).await;
            }
        }
        for (method, path, body) in &writes {
            let response = call(&app, method.clone(), path, &token, body.clone()).await;
            assert_eq!(response.status(), 403, "{name} {method} {path}");
            assert_problem(response, 403, "forbidden", None).await;
        }
    }
    // Nothing changed, and the refusals are on record.
    let stored = stored_org(&app, "acme").unwrap();
    assert!(stored.enabled);
    assert!(stored_org(&app, "globex").is_none());
    assert_eq!(org["id"], stored.id.to_string());
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, target)| action == "admin.denied"
                && target.as_deref() == Some("create_organization"))
    );

    // Without a token: 401 with the challenge.
    let response = app.client.get(app.url(BASE)).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    // A service account holding `admin` may.
    let (_, service) = app.service_account_token(&[Role::Admin]).await;
    let response = call(
        &app,
        Method::PUT,
        &member,
        &service,
        Some(json!({"role": "member"})),
    )
    .await;
    assert_eq!(response.status(), 201);
}

/// The new routes answer a method they do not serve like every other route: 405 with `Allow`,
/// problem+json under `/api`, the HTML error page under `/admin`.
#[tokio::test]
async fn wrong_methods_get_405_with_allow() {
    let app = TestApp::builder().spawn().await;
    for (path, allow, api) in [
        (BASE, "GET, HEAD, POST", true),
        (
            "/api/v1/admin/organizations/x",
            "GET, HEAD, PATCH, DELETE",
            true,
        ),
        ("/api/v1/admin/organizations/x/members", "GET, HEAD", true),
        (
            "/api/v1/admin/organizations/x/members/y",
            "PUT, DELETE",
            true,
        ),
        (CONSOLE, "GET, HEAD, POST", false),
        ("/admin/organizations/x", "GET, HEAD, POST", false),
        ("/admin/organizations/x/enable", "POST", false),
        ("/admin/organizations/x/disable", "POST", false),
        ("/admin/organizations/x/delete", "POST", false),
        ("/admin/organizations/x/members", "POST", false),
        ("/admin/organizations/x/members/y", "POST", false),
        ("/admin/organizations/x/members/y/remove", "POST", false),
    ] {
        let response = app
            .client
            .request(Method::TRACE, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{path}");
        assert_eq!(response.headers()["allow"], allow, "{path}");
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let expected = if api {
            "application/problem+json"
        } else {
            "text/html; charset=utf-8"
        };
        assert_eq!(content_type, expected, "{path}");
    }
}

/// The OpenAPI document describes every operation, with the schemas it names.
#[tokio::test]
async fn the_openapi_document_describes_the_organisation_api() {
    let app = TestApp::builder().spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, methods) in [
        (BASE, &["get", "post"][..]),
        (
            "/api/v1/admin/organizations/{id}",
            &["get", "patch", "delete"],
        ),
        ("/api/v1/admin/organizations/{id}/members", &["get"]),
        (
            "/api/v1/admin/organizations/{id}/members/{user_id}",
            &["put", "delete"],
        ),
    ] {
        for method in methods {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path}");
            assert_eq!(
                operation["security"][0]["bearer"][0], "admin",
                "{method} {path}"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "OrganizationView",
        "MemberView",
        "NewOrganizationRequest",
        "OrganizationPatchRequest",
        "MemberRoleRequest",
    ] {
        assert!(schemas[schema].is_object(), "{schema}");
    }
    assert_eq!(
        schemas["MemberRoleRequest"]["properties"]["role"]["enum"],
        json!(["member", "org_admin"])
    );
}
