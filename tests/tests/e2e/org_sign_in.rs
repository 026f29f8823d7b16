//! Sign-in in an organisation's context over HTTP, through the real login page: a member of
//! the client's organisation gets `org_id`, `org_slug` and `org_roles` in the ID token, the
//! access token and userinfo (with scope `organization` only); a non-member, or anyone while
//! the organisation is disabled, comes back to the client with `access_denied` and never a
//! code; the device confirmation page names the organisation and refuses non-members;
//! discovery lists the scope and the claims; and `resource` at `/authorize` (RFC 8707) must be
//! registered for the client.

use gatehouse_identity::admin::audit::{AuditFilter, list_audit_events};
use gatehouse_identity::organizations::{self, NewOrganization, OrganizationPatch};
use gatehouse_identity::{
    ClientType, GrantType, NewClient, OrgRole, Organization, TokenEndpointAuthMethod,
};
use gatehouse_tests::oauth::{VERIFIER, authorize_url, challenge, exchange, param, refresh};
use gatehouse_tests::{
    GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, jwt_claims, new_client, page_marker,
};
use serde_json::{Value, json};

const REDIRECT: &str = "http://rp.example.test/callback";
const API: &str = "https://api.example.test/";

fn create_org(app: &TestApp, slug: &str, name: &str) -> Organization {
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

/// `gatehouse org add-member --org S --user U [--role org_admin]`.
fn add_member(app: &TestApp, org: &Organization, username: &str, role: OrgRole) {
    let user_id = app.user_id(username);
    assert!(
        organizations::add_member(
            app.state.accounts.database(),
            org.id,
            user_id,
            role,
            app.clock_now()
        )
        .unwrap()
    );
}

fn set_enabled(app: &TestApp, org: &Organization, enabled: bool) {
    organizations::update(
        app.state.accounts.database(),
        org.id,
        &OrganizationPatch {
            enabled: Some(enabled),
            ..OrganizationPatch::default()
        },
        app.clock_now(),
    )
    .unwrap()
    .unwrap();
}

/// `gatehouse client create … --org S --resource API`: a confidential, third-party code-flow
/// client allowed scope `organization`.
fn portal(app: &TestApp, org: Option<&Organization>) -> TestClient {
    register(
        app,
        NewClient {
            name: "Vendor portal".to_owned(),
            redirect_uris: vec![REDIRECT.to_owned()],
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: [
                "openid",
                "profile",
                "email",
                "offline_access",
                "organization",
            ]
            .map(str::to_owned)
            .to_vec(),
            org_id: org.map(|org| org.id.to_string()),
            resources: vec![API.to_owned()],
            ..NewClient::default()
        },
    )
}

fn register(app: &TestApp, new: NewClient) -> TestClient {
    let (client, secret) = app
        .state
        .accounts
        .database()
        .create_client(&new, &app.state.secrets, app.clock_now())
        .unwrap();
    TestClient {
        client_id: client.client_id,
        client_secret: secret,
        redirect_uri: REDIRECT.to_owned(),
    }
}

/// The browser's way through authorize → login → consent, to where it lands at the client.
async fn land(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    extra: &[(&str, &str)],
) -> reqwest::Url {
    let challenge = challenge(VERIFIER);
    let mut params = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let url = authorize_url(app, rp, &params);
    let callback = app
        .browse_authorize(browser, &url, Some((username, GOOD_PASSWORD)))
        .await;
    assert!(callback.as_str().starts_with(REDIRECT), "{callback}");
    assert_eq!(param(&callback, "state").as_deref(), Some("st-123"));
    callback
}

async fn tokens(app: &TestApp, rp: &TestClient, callback: &reqwest::Url) -> Value {
    let code = param(callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let response = exchange(app, rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn userinfo(app: &TestApp, access_token: &str) -> (u16, Value) {
    let response = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        return (status, response.json().await.unwrap());
    }
    (status, Value::Null)
}

fn org_claims(claims: &Value) -> Value {
    json!({
        "org_id": claims.get("org_id"),
        "org_slug": claims.get("org_slug"),
        "org_roles": claims.get("org_roles"),
    })
}

fn refusals(app: &TestApp, org: &Organization) -> Vec<gatehouse_identity::AuditEvent> {
    let filter = AuditFilter {
        action: Some("org.sign_in_refused".to_owned()),
        org_id: Some(org.id),
        ..AuditFilter::default()
    };
    list_audit_events(app.state.accounts.database(), &filter, None, 50)
        .unwrap()
        .events
}

#[tokio::test]
async fn a_member_gets_the_organisation_claims_only_with_the_scope() {
    let app = TestApp::builder().with_user("mia").spawn().await;
    let acme = create_org(&app, "acme", "Acme Corp");
    add_member(&app, &acme, "mia", OrgRole::OrgAdmin);
    let rp = portal(&app, Some(&acme));
    let browser = new_client();

    let callback = land(
        &app,
        &browser,
        &rp,
        "mia",
        &[("scope", "openid profile organization offline_access")],
    )
    .await;
    let body = tokens(&app, &rp, &callback).await;
    let expected = json!({
        "org_id": acme.id.to_string(),
        "org_slug": "acme",
        "org_roles": ["org_admin"],
    });
    let id_token = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(org_claims(&id_token), expected);
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(org_claims(&jwt_claims(access_token)), expected);
    let (status, info) = userinfo(&app, access_token).await;
    assert_eq!(status, 200);
    assert_eq!(org_claims(&info), expected);
    assert_eq!(info["sub"], id_token["sub"]);

    // Refresh keeps them while she is a member; removed, the grant ends and userinfo refuses.
    let refreshed = refresh(&app, &rp, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(
        org_claims(&jwt_claims(refreshed["access_token"].as_str().unwrap())),
        expected
    );
    assert!(
        organizations::remove_member(app.state.accounts.database(), acme.id, app.user_id("mia"))
            .unwrap()
    );
    let denied = refresh(&app, &rp, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(denied.status(), 400);
    let denied: Value = denied.json().await.unwrap();
    assert_eq!(denied["error"], "invalid_grant", "{denied}");
    assert_eq!(userinfo(&app, access_token).await.0, 401);

    // Back in, without the scope: no organisation claims anywhere (same browser session).
    add_member(&app, &acme, "mia", OrgRole::Member);
    let callback = land(&app, &browser, &rp, "mia", &[("scope", "openid profile")]).await;
    let body = tokens(&app, &rp, &callback).await;
    let none = json!({ "org_id": null, "org_slug": null, "org_roles": null });
    assert_eq!(
        org_claims(&jwt_claims(body["id_token"].as_str().unwrap())),
        none
    );
    let access_token = body["access_token"].as_str().unwrap();
    assert_eq!(org_claims(&jwt_claims(access_token)), none);
    assert_eq!(org_claims(&userinfo(&app, access_token).await.1), none);
}

#[tokio::test]
async fn a_non_member_comes_back_with_access_denied_and_no_code() {
    let app = TestApp::builder()
        .with_user("mia")
        .with_user("otto")
        .spawn()
        .await;
    let acme = create_org(&app, "acme", "Acme Corp");
    add_member(&app, &acme, "mia", OrgRole::Member);
    let rp = portal(&app, Some(&acme));

    let callback = land(&app, &new_client(), &rp, "otto", &[]).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&callback, "code"), None);
    assert_eq!(
        param(&callback, "iss").as_deref(),
        Some(app.address.as_str())
    );

    // The same by parameter, for a client of no organisation.
    let global = portal(&app, None);
    let callback = land(
        &app,
        &new_client(),
        &global,
        "otto",
        &[("organization", acme.id.to_string().as_str())],
    )
    .await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    // An organisation that does not exist is the request's fault.
    let callback = land(
        &app,
        &new_client(),
        &global,
        "otto",
        &[("organization", "nope")],
    )
    .await;
    assert_eq!(
        param(&callback, "error").as_deref(),
        Some("invalid_request")
    );
    // A member signing in by slug through the same client gets in.
    let callback = land(
        &app,
        &new_client(),
        &global,
        "mia",
        &[("organization", "acme"), ("scope", "openid organization")],
    )
    .await;
    let body = tokens(&app, &global, &callback).await;
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["org_slug"],
        "acme"
    );

    // Audited in Acme's trail, with the caller's address and the user as actor.
    let events = refusals(&app, &acme);
    assert_eq!(events.len(), 2, "{events:?}");
    let otto = app.user_id("otto").to_string();
    for event in &events {
        assert_eq!(event.org_id, Some(acme.id));
        assert_eq!(event.actor.as_deref(), Some(otto.as_str()));
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(event.details["reason"], "not_a_member");
    }
}

#[tokio::test]
async fn a_disabled_organisation_refuses_its_members() {
    let app = TestApp::builder().with_user("mia").spawn().await;
    let acme = create_org(&app, "acme", "Acme Corp");
    add_member(&app, &acme, "mia", OrgRole::Member);
    let rp = portal(&app, Some(&acme));
    let browser = new_client();
    let callback = land(
        &app,
        &browser,
        &rp,
        "mia",
        &[("scope", "openid offline_access")],
    )
    .await;
    let body = tokens(&app, &rp, &callback).await;

    set_enabled(&app, &acme, false);
    let callback = land(&app, &browser, &rp, "mia", &[]).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    assert_eq!(param(&callback, "code"), None);
    let events = refusals(&app, &acme);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["reason"], "organization_disabled");
    let denied = refresh(&app, &rp, body["refresh_token"].as_str().unwrap()).await;
    assert_eq!(denied.status(), 400);

    set_enabled(&app, &acme, true);
    let callback = land(&app, &browser, &rp, "mia", &[]).await;
    assert!(param(&callback, "code").is_some(), "{callback}");
}

#[tokio::test]
async fn the_device_page_names_the_organisation_and_refuses_non_members() {
    let app = TestApp::builder()
        .with_user("mia")
        .with_user("otto")
        .spawn()
        .await;
    let acme = create_org(&app, "acme", "Acme Corp");
    add_member(&app, &acme, "mia", OrgRole::Member);
    let bot = register(
        &app,
        NewClient {
            name: "Acme chatbot".to_owned(),
            client_type: Some(ClientType::Public),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: vec![GrantType::DeviceCode],
            scopes: ["openid", "organization"].map(str::to_owned).to_vec(),
            org_id: Some(acme.id.to_string()),
            ..NewClient::default()
        },
    );
    let started: Value = app
        .client
        .post(app.url("/device_authorization"))
        .form(&[
            ("client_id", bot.client_id.as_str()),
            ("scope", "openid organization"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = started["user_code"].as_str().expect("a user code");

    let show = |browser: reqwest::Client| {
        let app = &app;
        async move {
            let (_, entry) = app.get_page(&browser, "/device").await;
            let response = app
                .post_form(
                    &browser,
                    "/device",
                    &[
                        ("csrf_token", &csrf_from_html(&entry)),
                        ("user_code", user_code),
                        ("action", "show"),
                    ],
                )
                .await;
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, page) = show(app.signed_in_browser("otto", GOOD_PASSWORD).await).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Acme Corp"), "{page}");
    assert_ne!(page_marker(&page).as_deref(), Some("device-confirm"));

    let (status, page) = show(app.signed_in_browser("mia", GOOD_PASSWORD).await).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("device-confirm"));
    assert!(
        page.contains(r#"<dd id="organisation">Acme Corp</dd>"#),
        "{page}"
    );
    assert_eq!(refusals(&app, &acme).len(), 1);
}

#[tokio::test]
async fn discovery_lists_the_scope_and_its_claims() {
    let app = gatehouse_tests::spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = |field: &str, value: &str| {
        document[field]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == value)
    };
    assert!(listed("scopes_supported", "organization"), "{document}");
    for claim in ["org_id", "org_slug", "org_roles"] {
        assert!(listed("claims_supported", claim), "{claim}: {document}");
    }
}

#[tokio::test]
async fn a_resource_the_client_is_not_registered_for_is_invalid_target() {
    let app = TestApp::builder().with_user("mia").spawn().await;
    let rp = portal(&app, None);
    let browser = new_client();

    let callback = land(
        &app,
        &browser,
        &rp,
        "mia",
        &[("resource", "https://elsewhere.example.test/")],
    )
    .await;
    assert_eq!(param(&callback, "error").as_deref(), Some("invalid_target"));
    assert_eq!(param(&callback, "code"), None);
    // Not an absolute URI: invalid_target too (RFC 8707 §2).
    let callback = land(&app, &browser, &rp, "mia", &[("resource", "api")]).await;
    assert_eq!(param(&callback, "error").as_deref(), Some("invalid_target"));

    // The registered one becomes the access token's audience (one value: a string, RFC 7519
    // §4.1.3).
    let callback = land(&app, &browser, &rp, "mia", &[("resource", API)]).await;
    let body = tokens(&app, &rp, &callback).await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["aud"],
        json!(API)
    );
}
