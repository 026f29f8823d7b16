//! Organisation admins (issue 12): an `org_admin` of organisation A administers A through the
//! same admin REST API and console as platform admins, and sees nothing of organisation B.
//!
//! The core is a table over every admin REST endpoint: against B's user and client each answers
//! 404 (as for an id that does not exist) or, for what an organisation admin may never do (roles,
//! keys, organisations), 403; nothing of B changes. Lists, searches and totals leave B's rows
//! out. Then the same table's positive side on A's objects, the user who belongs to A and B (a
//! delete removes only the membership), the choice of organisation for an admin of several, and
//! the console (B's user page is a 404 page, the list shows only A, keys are out of the nav).
//! Backends: whatever `spawn_app` runs on.

use gatehouse_identity::organizations::{self, NewOrganization, OrgRole, Organization};
use gatehouse_identity::{ClientType, NewClient, Role};
use gatehouse_tests::{GOOD_PASSWORD, TestApp, page_marker};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const BASE: &str = "/api/v1/admin";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(&format!("{BASE}{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
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

/// Two organisations with members and clients, and an org admin of A with its token.
struct World {
    app: TestApp,
    a: Organization,
    b: Organization,
    /// `org_admin` of A, and its access token with the `admin` scope.
    a_admin: Uuid,
    token: String,
    a_user: Uuid,
    /// Member of A and B.
    both_user: Uuid,
    b_user: Uuid,
    /// In no organisation.
    loner: Uuid,
    /// A platform `user_admin` who is also a member of A.
    platform_in_a: Uuid,
    a_client: String,
    b_client: String,
}

fn org(app: &TestApp, slug: &str, name: &str) -> Organization {
    organizations::create(
        app.state.accounts.database(),
        &NewOrganization {
            slug: slug.to_owned(),
            name: name.to_owned(),
        },
        app.clock_now(),
    )
    .unwrap()
}

fn join(app: &TestApp, org: &Organization, user: Uuid, role: OrgRole) {
    assert!(
        organizations::add_member(
            app.state.accounts.database(),
            org.id,
            user,
            role,
            app.clock_now()
        )
        .unwrap()
    );
}

fn client_of(app: &TestApp, org: &Organization, name: &str) -> String {
    let new = NewClient {
        name: name.to_owned(),
        client_type: Some(ClientType::Confidential),
        redirect_uris: vec!["https://rp.example.test/callback".to_owned()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: Vec::new(),
        scopes: Vec::new(),
        token_endpoint_auth_method: None,
        id_token_signed_response_alg: None,
        first_party: false,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        require_2fa: false,
        org_id: Some(org.id.to_string()),
        resources: Vec::new(),
        exchange_audiences: Vec::new(),
        allow_impersonation: false,
    };
    let (client, _) = app
        .state
        .accounts
        .database()
        .create_client(&new, &app.state.secrets, app.clock_now())
        .unwrap();
    client.client_id
}

async fn world() -> World {
    let app = TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await;
    let a = org(&app, "org-a", "Org A");
    let b = org(&app, "org-b", "Org B");
    let a_admin = app.create_user_with_roles("a-admin", &[]).await;
    let a_user = app.create_user_with_roles("a-user", &[]).await;
    let both_user = app.create_user_with_roles("both-user", &[]).await;
    let b_user = app.create_user_with_roles("b-user", &[]).await;
    let loner = app.create_user_with_roles("loner", &[]).await;
    let platform_in_a = app
        .create_user_with_roles("platform-ua", &[Role::UserAdmin])
        .await;
    join(&app, &a, a_admin, OrgRole::OrgAdmin);
    join(&app, &a, a_user, OrgRole::Member);
    join(&app, &a, both_user, OrgRole::Member);
    join(&app, &b, both_user, OrgRole::Member);
    join(&app, &b, b_user, OrgRole::OrgAdmin);
    join(&app, &a, platform_in_a, OrgRole::Member);
    let a_client = client_of(&app, &a, "A portal");
    let b_client = client_of(&app, &b, "B portal");
    let token = app.admin_token_for("a-admin").await;
    World {
        app,
        a,
        b,
        a_admin,
        token,
        a_user,
        both_user,
        b_user,
        loner,
        platform_in_a,
        a_client,
        b_client,
    }
}

/// What an endpoint must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// This success status.
    Ok(u16),
    /// 404 problem: the object does not exist for this admin.
    NotFound,
    /// 403 problem `urn:gatehouse:problem:forbidden`.
    Refused,
}

fn check(expect: Expect, method: &Method, path: &str, status: u16, body: &Value) {
    match expect {
        Expect::Ok(want) => assert_eq!(status, want, "{method} {path}: {body}"),
        Expect::NotFound => {
            assert_eq!(status, 404, "{method} {path}: {body}");
            assert_eq!(
                body["type"], "urn:gatehouse:problem:not-found",
                "{method} {path}"
            );
        }
        Expect::Refused => {
            assert_eq!(status, 403, "{method} {path}: {body}");
            assert_eq!(
                body["type"], "urn:gatehouse:problem:forbidden",
                "{method} {path}"
            );
        }
    }
}

/// Every admin endpoint that names one user or one client, with `{user}` / `{client}` in its
/// path, and what an org admin of A gets against an object of B.
fn per_object_endpoints() -> Vec<(Method, &'static str, Option<Value>, Expect)> {
    use Expect::*;
    vec![
        (Method::GET, "/users/{user}", None, NotFound),
        (
            Method::PATCH,
            "/users/{user}",
            Some(json!({"email_verified": true})),
            NotFound,
        ),
        (
            Method::POST,
            "/users/{user}/lock",
            Some(json!({"reason": "probe"})),
            NotFound,
        ),
        (Method::POST, "/users/{user}/unlock", None, NotFound),
        // Role changes are refused on the roles alone, before the user is looked up.
        (
            Method::PUT,
            "/users/{user}/roles",
            Some(json!({"roles": []})),
            Refused,
        ),
        (Method::DELETE, "/users/{user}/totp", None, NotFound),
        (Method::POST, "/users/{user}/password-reset", None, NotFound),
        (Method::GET, "/users/{user}/sessions", None, NotFound),
        (Method::DELETE, "/users/{user}/sessions", None, NotFound),
        (Method::GET, "/users/{user}/grants", None, NotFound),
        (
            Method::DELETE,
            "/users/{user}/grants/AAAAAAAAAAAAAAAAAAAAAA",
            None,
            NotFound,
        ),
        (Method::DELETE, "/users/{user}", None, NotFound),
        (Method::GET, "/clients/{client}", None, NotFound),
        (
            Method::PATCH,
            "/clients/{client}",
            Some(json!({"name": "Renamed"})),
            NotFound,
        ),
        (Method::POST, "/clients/{client}/secret", None, NotFound),
        (
            Method::PUT,
            "/clients/{client}/roles",
            Some(json!({"roles": []})),
            Refused,
        ),
        (Method::POST, "/clients/{client}/disable", None, NotFound),
        (Method::POST, "/clients/{client}/enable", None, NotFound),
        (Method::DELETE, "/clients/{client}", None, NotFound),
    ]
}

/// The endpoints an org admin may never use, whatever the object.
fn platform_endpoints(w: &World) -> Vec<(Method, String, Option<Value>)> {
    let a = w.a.id;
    vec![
        (Method::GET, "/roles".into(), None),
        (Method::GET, "/keys".into(), None),
        (Method::POST, "/keys/rotate".into(), None),
        (Method::GET, "/organizations".into(), None),
        (
            Method::POST,
            "/organizations".into(),
            Some(json!({"slug": "org-c", "name": "C"})),
        ),
        (Method::GET, format!("/organizations/{a}"), None),
        (
            Method::PATCH,
            format!("/organizations/{a}"),
            Some(json!({"name": "Mine now"})),
        ),
        (Method::DELETE, format!("/organizations/{a}"), None),
        (Method::GET, format!("/organizations/{a}/members"), None),
        (
            Method::PUT,
            format!("/organizations/{a}/members/{}", w.a_user),
            Some(json!({"role": "org_admin"})),
        ),
        (
            Method::PUT,
            format!("/organizations/{}/members/{}", w.b.id, w.a_user),
            Some(json!({"role": "org_admin"})),
        ),
        (
            Method::DELETE,
            format!("/organizations/{a}/members/{}", w.a_user),
            None,
        ),
    ]
}

fn ids(page: &Value, field: &str) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a page: {page}"))
        .iter()
        .map(|item| item[field].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_org_admin_gets_404_or_403_for_everything_of_another_organisation() {
    let w = world().await;
    for target_user in [w.b_user, w.loner] {
        for (method, template, body, expect) in per_object_endpoints() {
            let path = template
                .replace("{user}", &target_user.to_string())
                .replace("{client}", &w.b_client);
            let (status, answer) =
                call(&w.app, method.clone(), &path, &w.token, body.as_ref()).await;
            check(expect, &method, &path, status, &answer);
        }
    }
    // A client of no organisation (the platform's) is just as absent.
    let platform_client = w.app.admin_console_client().client_id;
    for (method, template, body, expect) in per_object_endpoints() {
        if !template.contains("{client}") {
            continue;
        }
        let path = template.replace("{client}", &platform_client);
        let (status, answer) = call(&w.app, method.clone(), &path, &w.token, body.as_ref()).await;
        check(expect, &method, &path, status, &answer);
    }
    for (method, path, body) in platform_endpoints(&w) {
        let (status, answer) = call(&w.app, method.clone(), &path, &w.token, body.as_ref()).await;
        check(Expect::Refused, &method, &path, status, &answer);
    }
    // An id that exists in B answers exactly as one that exists nowhere.
    let (_, b_answer) = call(
        &w.app,
        Method::GET,
        &format!("/users/{}", w.b_user),
        &w.token,
        None,
    )
    .await;
    let (_, none_answer) = call(
        &w.app,
        Method::GET,
        &format!("/users/{}", Uuid::new_v4()),
        &w.token,
        None,
    )
    .await;
    assert_eq!(b_answer["detail"], none_answer["detail"]);
    assert_eq!(b_answer["title"], none_answer["title"]);

    // Nothing of B changed.
    let db = w.app.state.accounts.database();
    let b_user = db.find_user_by_typed_login("b-user").unwrap().unwrap();
    assert_eq!(b_user.status.as_str(), "active");
    assert!(!b_user.email_verified);
    let b_client = db.find_client(&w.b_client).unwrap().unwrap();
    assert!(b_client.enabled);
    assert_eq!(b_client.name, "B portal");
    assert!(db.find_user_by_typed_login("loner").unwrap().is_some());
    assert_eq!(
        organizations::role_of(db, w.a.id, w.a_user).unwrap(),
        Some(OrgRole::Member)
    );
    assert!(organizations::find(db, "org-c").unwrap().is_none());

    // Lists, searches and totals: A's rows only.
    let (status, users) = call(&w.app, Method::GET, "/users", &w.token, None).await;
    assert_eq!(status, 200, "{users}");
    let mut names = ids(&users, "username");
    names.sort();
    assert_eq!(names, ["a-admin", "a-user", "both-user", "platform-ua"]);
    assert_eq!(users["total"], 4);
    for search in ["b-", "lon", "admin@", "b-user@example.com"] {
        let (_, found) = call(
            &w.app,
            Method::GET,
            &format!("/users?search={search}"),
            &w.token,
            None,
        )
        .await;
        assert!(
            !ids(&found, "username")
                .iter()
                .any(|u| u == "b-user" || u == "loner" || u == "admin"),
            "search {search}: {found}"
        );
    }
    let (_, found) = call(&w.app, Method::GET, "/users?search=b", &w.token, None).await;
    assert_eq!(ids(&found, "username"), ["both-user"]);
    assert_eq!(found["total"], 1);
    let (_, by_status) = call(&w.app, Method::GET, "/users?status=active", &w.token, None).await;
    assert_eq!(by_status["total"], 4, "{by_status}");
    let (_, by_role) = call(&w.app, Method::GET, "/users?role=admin", &w.token, None).await;
    assert_eq!(
        by_role["total"], 0,
        "the bootstrap admin is not in A: {by_role}"
    );
    // Asking for B's members does not widen the list.
    let (status, asked_b) = call(
        &w.app,
        Method::GET,
        "/users?organization=org-b",
        &w.token,
        None,
    )
    .await;
    check(
        Expect::Refused,
        &Method::GET,
        "/users?organization=org-b",
        status,
        &asked_b,
    );

    let (status, clients) = call(&w.app, Method::GET, "/clients", &w.token, None).await;
    assert_eq!(status, 200, "{clients}");
    assert_eq!(ids(&clients, "client_id"), [w.a_client.as_str()]);
    assert_eq!(clients["total"], 1);
    let (_, searched) = call(
        &w.app,
        Method::GET,
        &format!("/clients?search={}", w.b_client),
        &w.token,
        None,
    )
    .await;
    assert_eq!(searched["total"], 0, "{searched}");
    let (_, searched) = call(&w.app, Method::GET, "/clients?search=B", &w.token, None).await;
    assert_eq!(searched["total"], 0, "{searched}");

    // The audit log: none of the refusals above (they name B's objects) nor anything outside A.
    let (status, events) = call(
        &w.app,
        Method::GET,
        "/audit-events?limit=200",
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{events}");
    for event in events["items"].as_array().unwrap() {
        let target = event["target"].as_str().unwrap_or_default();
        assert!(
            target != w.b_user.to_string() && target != w.b_client && target != w.loner.to_string(),
            "an event of B in A's log: {event}"
        );
    }
    // Its own refusals are there, naming the operation (not the object it tried).
    let (_, own) = call(
        &w.app,
        Method::GET,
        "/audit-events?action=admin.denied&target=change_client_roles",
        &w.token,
        None,
    )
    .await;
    assert_eq!(own["total"], 3, "{own}");
    let (_, stats) = call(&w.app, Method::GET, "/stats", &w.token, None).await;
    assert_eq!(stats["users"]["total"], 4, "{stats}");
    assert!(stats["active_sessions"].is_null(), "{stats}");

    // The platform's own audit log has the probes, without the organisation.
    w.app.create_user_with_roles("root", &[Role::Admin]).await;
    let platform = w.app.admin_token_for("root").await;
    let (_, denied) = call(
        &w.app,
        Method::GET,
        &format!("/audit-events?action=admin.denied&target={}", w.b_user),
        &platform,
        None,
    )
    .await;
    assert!(denied["total"].as_i64().unwrap() > 0, "{denied}");
    let (_, denied_in_a) = call(
        &w.app,
        Method::GET,
        &format!(
            "/audit-events?action=admin.denied&target={}&organization=org-a",
            w.b_user
        ),
        &platform,
        None,
    )
    .await;
    assert_eq!(denied_in_a["total"], 0, "{denied_in_a}");
}

#[tokio::test]
async fn an_org_admin_administers_the_users_and_clients_of_its_organisation() {
    let w = world().await;
    let a_user = w.a_user.to_string();
    let user = |suffix: &str| format!("/users/{a_user}{suffix}");
    let client = |suffix: &str| format!("/clients/{}{suffix}", w.a_client);
    let table: Vec<(Method, String, Option<Value>, Expect)> = vec![
        (Method::GET, user(""), None, Expect::Ok(200)),
        (
            Method::PATCH,
            user(""),
            Some(json!({"email_verified": true})),
            Expect::Ok(200),
        ),
        (
            Method::POST,
            user("/lock"),
            Some(json!({"reason": "reported"})),
            Expect::Ok(200),
        ),
        (Method::POST, user("/unlock"), None, Expect::Ok(200)),
        (
            Method::PUT,
            user("/roles"),
            Some(json!({"roles": ["auditor"]})),
            Expect::Refused,
        ),
        (Method::DELETE, user("/totp"), None, Expect::Ok(200)),
        (Method::POST, user("/password-reset"), None, Expect::Ok(202)),
        (Method::GET, user("/sessions"), None, Expect::Ok(200)),
        (Method::DELETE, user("/sessions"), None, Expect::Ok(200)),
        (Method::GET, user("/grants"), None, Expect::Ok(200)),
        (
            Method::DELETE,
            user("/grants/AAAAAAAAAAAAAAAAAAAAAA"),
            None,
            Expect::NotFound,
        ),
        (Method::GET, client(""), None, Expect::Ok(200)),
        (
            Method::PATCH,
            client(""),
            Some(json!({"name": "A portal 2"})),
            Expect::Ok(200),
        ),
        (
            Method::PATCH,
            client(""),
            Some(json!({"first_party": true})),
            Expect::Refused,
        ),
        (Method::POST, client("/secret"), None, Expect::Ok(200)),
        (
            Method::PUT,
            client("/roles"),
            Some(json!({"roles": ["user_admin"]})),
            Expect::Refused,
        ),
        (Method::POST, client("/disable"), None, Expect::Ok(200)),
        (Method::POST, client("/enable"), None, Expect::Ok(200)),
        // An account holding a platform role is read-only to an org admin.
        (
            Method::GET,
            format!("/users/{}", w.platform_in_a),
            None,
            Expect::Ok(200),
        ),
        (
            Method::POST,
            format!("/users/{}/lock", w.platform_in_a),
            Some(json!({"reason": "takeover"})),
            Expect::Refused,
        ),
        (
            Method::DELETE,
            format!("/users/{}", w.platform_in_a),
            None,
            Expect::Refused,
        ),
        // Not itself.
        (
            Method::DELETE,
            format!("/users/{}", w.a_admin),
            None,
            Expect::Refused,
        ),
    ];
    for (method, path, body, expect) in table {
        let (status, answer) = call(&w.app, method.clone(), &path, &w.token, body.as_ref()).await;
        check(expect, &method, &path, status, &answer);
    }
    let db = w.app.state.accounts.database();
    assert!(
        db.find_user_by_typed_login("a-user")
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_eq!(
        db.find_client(&w.a_client).unwrap().unwrap().name,
        "A portal 2"
    );
    assert!(db.roles_of(w.a_user).unwrap().is_empty());

    // A user it creates is a member of A; a client it registers belongs to A, whatever it asks.
    let (status, created) = call(
        &w.app,
        Method::POST,
        "/users",
        &w.token,
        Some(
            &json!({"username": "a-new", "email": "a-new@example.com", "password": GOOD_PASSWORD}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let new_id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        organizations::role_of(db, w.a.id, new_id).unwrap(),
        Some(OrgRole::Member)
    );
    let (status, refused) = call(
        &w.app,
        Method::POST,
        "/users",
        &w.token,
        Some(&json!({"username": "a-boss", "email": "a-boss@example.com",
            "password": GOOD_PASSWORD, "roles": ["user_admin"]})),
    )
    .await;
    check(Expect::Refused, &Method::POST, "/users", status, &refused);
    assert!(db.find_user_by_typed_login("a-boss").unwrap().is_none());
    let (status, registered) = call(
        &w.app,
        Method::POST,
        "/clients",
        &w.token,
        Some(&json!({"name": "A worker", "redirect_uris": ["https://a.example.test/cb"]})),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let new_client = registered["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        db.find_client(&new_client).unwrap().unwrap().org_id,
        Some(w.a.id.to_string())
    );
    let (_, clients) = call(&w.app, Method::GET, "/clients", &w.token, None).await;
    assert_eq!(clients["total"], 2, "{clients}");

    // Its actions are in A's audit log.
    let (_, events) = call(
        &w.app,
        Method::GET,
        &format!("/audit-events?action=admin.user_lock&target={a_user}"),
        &w.token,
        None,
    )
    .await;
    assert_eq!(events["total"], 1, "{events}");

    // Deleting: a user of A only is deleted; one also in B only leaves A.
    let (status, _) = call(
        &w.app,
        Method::DELETE,
        &format!("/users/{new_id}"),
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert!(db.find_user_by_typed_login("a-new").unwrap().is_none());
    let (status, left) = call(
        &w.app,
        Method::DELETE,
        &format!("/users/{}", w.both_user),
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{left}");
    assert_eq!(left["deleted"], false);
    assert_eq!(left["removed_from_organization"], "org-a");
    assert!(db.find_user_by_typed_login("both-user").unwrap().is_some());
    assert_eq!(
        organizations::role_of(db, w.a.id, w.both_user).unwrap(),
        None
    );
    assert_eq!(
        organizations::role_of(db, w.b.id, w.both_user).unwrap(),
        Some(OrgRole::Member)
    );
    // Now outside A: gone for A's admin.
    let (status, answer) = call(
        &w.app,
        Method::GET,
        &format!("/users/{}", w.both_user),
        &w.token,
        None,
    )
    .await;
    check(
        Expect::NotFound,
        &Method::GET,
        "/users/{both}",
        status,
        &answer,
    );
    let (status, _) = call(&w.app, Method::DELETE, &client(""), &w.token, None).await;
    assert_eq!(status, 204);
    assert!(db.find_client(&w.a_client).unwrap().is_none());
}

#[tokio::test]
async fn an_admin_of_several_organisations_names_the_one_it_acts_in() {
    let w = world().await;
    // a-admin also administers B from now on.
    join(&w.app, &w.b, w.a_admin, OrgRole::OrgAdmin);
    let (status, answer) = call(&w.app, Method::GET, "/users", &w.token, None).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["field"], "organization");
    let (status, in_b) = call(
        &w.app,
        Method::GET,
        "/users?organization=org-b",
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{in_b}");
    let mut names = ids(&in_b, "username");
    names.sort();
    assert_eq!(names, ["a-admin", "b-user", "both-user"]);
    let (status, _) = call(
        &w.app,
        Method::GET,
        &format!("/users/{}?organization={}", w.b_user, w.b.id),
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &w.app,
        Method::GET,
        &format!("/users/{}?organization=org-a", w.b_user),
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 404);
    // An organisation it does not administer, or a disabled one, is refused.
    let c = org(&w.app, "org-c", "Org C");
    let (status, _) = call(
        &w.app,
        Method::GET,
        "/users?organization=org-c",
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &w.app,
        Method::GET,
        &format!("/users?organization={}", c.id),
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    organizations::update(
        w.app.state.accounts.database(),
        w.b.id,
        &organizations::OrganizationPatch {
            enabled: Some(false),
            ..Default::default()
        },
        w.app.clock_now(),
    )
    .unwrap();
    let (status, _) = call(
        &w.app,
        Method::GET,
        "/users?organization=org-b",
        &w.token,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, only_a) = call(&w.app, Method::GET, "/users", &w.token, None).await;
    assert_eq!(status, 200, "only A is left, so it is implied: {only_a}");

    // A platform admin acts with its roles; `organization` narrows its lists.
    w.app.create_user_with_roles("root", &[Role::Admin]).await;
    let platform = w.app.admin_token_for("root").await;
    let (_, all) = call(&w.app, Method::GET, "/users", &platform, None).await;
    assert!(all["total"].as_i64().unwrap() >= 8, "{all}");
    let (_, narrowed) = call(
        &w.app,
        Method::GET,
        "/users?organization=org-a",
        &platform,
        None,
    )
    .await;
    assert_eq!(narrowed["total"], 4, "{narrowed}");
    let (_, clients) = call(
        &w.app,
        Method::GET,
        "/clients?organization=org-b",
        &platform,
        None,
    )
    .await;
    assert_eq!(ids(&clients, "client_id"), [w.b_client.as_str()]);
    let (status, unknown) = call(
        &w.app,
        Method::GET,
        "/users?organization=nope",
        &platform,
        None,
    )
    .await;
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(unknown["field"], "organization");
}

#[tokio::test]
async fn the_console_shows_an_org_admin_only_its_organisation() {
    let w = world().await;
    let browser = w.app.signed_in_browser("a-admin", GOOD_PASSWORD).await;
    let (status, html) = w.app.get_page(&browser, "/admin/users").await;
    assert_eq!(status, 200, "{html}");
    let listed = |name: &str| html.contains(&format!("data-user=\"{name}\""));
    assert!(listed("a-user") && listed("both-user") && listed("a-admin"));
    assert!(
        !listed("b-user") && !listed("loner") && !listed("admin"),
        "{html}"
    );
    assert!(
        html.contains("data-admin-organization>Organisation: <strong>Org A</strong>"),
        "the org is in the header: {html}"
    );
    assert!(!html.contains("href=\"/admin/keys\""), "no keys in the nav");
    assert!(
        !html.contains("href=\"/admin/roles\""),
        "no roles in the nav"
    );
    assert!(!html.contains("href=\"/admin/organizations\""));

    for path in [
        format!("/admin/users/{}", w.b_user),
        format!("/admin/users/{}", w.loner),
        format!("/admin/clients/{}", w.b_client),
    ] {
        let (status, html) = w.app.get_page(&browser, &path).await;
        assert_eq!(status, 404, "GET {path}: {html}");
    }
    let (status, html) = w
        .app
        .get_page(&browser, &format!("/admin/users/{}", w.a_user))
        .await;
    assert_eq!(status, 200, "{html}");
    let (status, html) = w.app.get_page(&browser, "/admin/clients").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&w.a_client) && !html.contains(&w.b_client),
        "{html}"
    );
    let (status, _) = w.app.get_page(&browser, "/admin/keys").await;
    assert_eq!(status, 403);
    let (status, html) = w.app.get_page(&browser, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-dashboard"));

    // A plain member of A has no console.
    let member = w.app.signed_in_browser("a-user", GOOD_PASSWORD).await;
    let (status, _) = w.app.get_page(&member, "/admin").await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn an_org_admin_without_a_second_factor_is_sent_to_enrol() {
    let app = TestApp::builder().spawn().await;
    let a = org(&app, "org-a", "Org A");
    let id = app.create_user_with_roles("a-admin", &[]).await;
    join(&app, &a, id, OrgRole::OrgAdmin);
    let browser = app.signed_in_browser("a-admin", GOOD_PASSWORD).await;
    let (status, html) = app.get_page(&browser, "/admin/users").await;
    assert_eq!(status, 403, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-enrol-2fa"));
}

#[tokio::test]
async fn the_console_switches_between_the_organisations_an_admin_administers() {
    let w = world().await;
    join(&w.app, &w.b, w.a_admin, OrgRole::OrgAdmin);
    let browser = w.app.signed_in_browser("a-admin", GOOD_PASSWORD).await;
    // Without a choice: the first by slug, with a switcher.
    let (status, html) = w.app.get_page(&browser, "/admin/users").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-form=\"switch-organization\""), "{html}");
    assert!(html.contains(r#"data-user="a-user""#) && !html.contains(r#"data-user="b-user""#));
    let csrf = gatehouse_tests::csrf_from_html(&html);
    let response = w
        .app
        .post_form(
            &browser,
            "/admin/organization",
            &[("organization", "org-b"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (status, html) = w.app.get_page(&browser, "/admin/users").await;
    assert_eq!(status, 200);
    assert!(
        html.contains(r#"data-user="b-user""#) && !html.contains(r#"data-user="a-user""#),
        "{html}"
    );
    assert!(html.contains("<strong>Org B</strong>"), "{html}");
    let (status, _) = w
        .app
        .get_page(&browser, &format!("/admin/users/{}", w.a_user))
        .await;
    assert_eq!(status, 404, "A's user is out of reach while acting in B");
    // An organisation it does not administer is refused, and the choice stays.
    org(&w.app, "org-c", "Org C");
    let response = w
        .app
        .post_form(
            &browser,
            "/admin/organization",
            &[("organization", "org-c"), ("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 404);
    let (_, html) = w.app.get_page(&browser, "/admin/users").await;
    assert!(html.contains(r#"data-user="b-user""#), "{html}");
}

#[tokio::test]
async fn clients_carry_their_organisation_resources_and_exchange_policy() {
    let w = world().await;
    w.app.create_user_with_roles("root", &[Role::Admin]).await;
    let platform = w.app.admin_token_for("root").await;
    let (status, created) = call(
        &w.app,
        Method::POST,
        "/clients",
        &platform,
        Some(&json!({
            "name": "A API client",
            "redirect_uris": ["https://a.example.test/cb"],
            "organization": "org-a",
            "resources": ["https://api.a.example.test/"]
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["org_id"], w.a.id.to_string());
    assert_eq!(created["resources"], json!(["https://api.a.example.test/"]));
    assert_eq!(created["exchange_audiences"], json!([]));
    assert_eq!(created["allow_impersonation"], false);
    let id = created["client_id"].as_str().unwrap().to_owned();
    // The organisation's admin sees it and edits its resources.
    let (status, patched) = call(
        &w.app,
        Method::PATCH,
        &format!("/clients/{id}"),
        &w.token,
        Some(&json!({"resources": ["https://api.a.example.test/v2"]})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["resources"],
        json!(["https://api.a.example.test/v2"])
    );
    let (status, bad) = call(
        &w.app,
        Method::PATCH,
        &format!("/clients/{id}"),
        &w.token,
        Some(&json!({"resources": ["not a uri"]})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "resources");
    // The token-exchange policy is the platform's; and no client of A's admin goes elsewhere.
    let (status, refused) = call(
        &w.app,
        Method::PATCH,
        &format!("/clients/{id}"),
        &w.token,
        Some(&json!({"allow_impersonation": true})),
    )
    .await;
    check(
        Expect::Refused,
        &Method::PATCH,
        "/clients/{id}",
        status,
        &refused,
    );
    let (status, elsewhere) = call(
        &w.app,
        Method::POST,
        "/clients",
        &w.token,
        Some(
            &json!({"name": "Sneaky", "redirect_uris": ["https://x.example.test/cb"],
            "organization": "org-b"}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{elsewhere}");
    assert_eq!(elsewhere["field"], "organization");
    let (status, unknown) = call(
        &w.app,
        Method::POST,
        "/clients",
        &platform,
        Some(
            &json!({"name": "Lost", "redirect_uris": ["https://x.example.test/cb"],
            "organization": "nope"}),
        ),
    )
    .await;
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(unknown["field"], "organization");
    // The console shows the new fields.
    let browser = w.app.signed_in_browser("root", GOOD_PASSWORD).await;
    let (status, html) = w
        .app
        .get_page(&browser, &format!("/admin/clients/{id}"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-client-organization"));
    assert!(html.contains(&w.a.id.to_string()));
    assert!(html.contains("https://api.a.example.test/v2"));
    assert!(
        html.contains("name=\"exchange_audiences\""),
        "a platform admin edits the policy"
    );
    let org_browser = w.app.signed_in_browser("a-admin", GOOD_PASSWORD).await;
    let (status, html) = w
        .app
        .get_page(&org_browser, &format!("/admin/clients/{id}"))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(
        !html.contains("name=\"exchange_audiences\""),
        "not an org admin"
    );
}
