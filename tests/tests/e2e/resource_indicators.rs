//! Resource indicators (RFC 8707) over HTTP: `resource` on the authorization request and at
//! `/token` (code, refresh, client credentials) decides the access token's `aud`, which a
//! resource server reads after verifying the token offline against `/jwks.json`; the device
//! authorization grant carries the resources of its request to the tokens. What a grant
//! does not hold is `invalid_target`; without `resource` tokens are for the issuer; and a token
//! for another API is refused by Gatehouse's own userinfo, account and admin APIs.

use gatehouse_identity::{GrantType, Role};
use gatehouse_tests::oauth::{self, VERIFIER};
use gatehouse_tests::resource_server::{register_client_for, token_audience};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, new_client, page_marker,
    spawn_app,
};
use serde_json::Value;

const API: &str = "https://api.example.test/";
const FILES: &str = "https://files.example.test/v1";
const UNREGISTERED: &str = "https://other.example.test/";
/// Everything [`web_client`] may ask for.
const SCOPE: &str = "openid offline_access account";

/// A third-party web client (so the resources travel through the consent page too) with the
/// `account` scope, registered for [`API`] and [`FILES`].
fn web_client(app: &TestApp) -> TestClient {
    register_client_for(
        app,
        ClientSpec {
            first_party: false,
            scopes: SCOPE.split(' ').map(str::to_owned).collect(),
            ..ClientSpec::default()
        },
        &[API, FILES],
    )
}

/// A POST of `form` to `path` as `rp` (Basic for a confidential client, `client_id` in the form
/// for a public one); the status and the JSON body.
async fn client_post(
    app: &TestApp,
    rp: &TestClient,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path));
    let mut form = form.to_vec();
    match &rp.client_secret {
        Some(secret) => request = request.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", &rp.client_id)),
    }
    request.form(&form).send().await.unwrap()
}

/// A POST to `/token` as `rp`; the status and the JSON body.
async fn token_request(app: &TestApp, rp: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let response = client_post(app, rp, "/token", form).await;
    let status = response.status().as_u16();
    if status == 200 {
        assert_eq!(response.headers()["cache-control"], "no-store");
    }
    (status, response.json().await.unwrap())
}

async fn exchange(app: &TestApp, rp: &TestClient, code: &str, resources: &[&str]) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", VERIFIER),
    ];
    form.extend(resources.iter().map(|resource| ("resource", *resource)));
    token_request(app, rp, &form).await
}

async fn refresh(app: &TestApp, rp: &TestClient, token: &Value, resources: &[&str]) -> Value {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", token["refresh_token"].as_str().unwrap()),
    ];
    form.extend(resources.iter().map(|resource| ("resource", *resource)));
    let (status, body) = token_request(app, rp, &form).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_invalid_target((status, body): (u16, Value), case: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_target")),
        "{case}: {body}"
    );
}

/// GET `path` with `token` as the bearer: the status and the `WWW-Authenticate` challenge.
async fn with_bearer(app: &TestApp, path: &str, token: &str) -> (u16, String) {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status().as_u16(), challenge)
}

fn assert_refused_as_invalid_token((status, challenge): (u16, String), what: &str) {
    assert_eq!(status, 401, "{what}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{what}: {challenge}"
    );
}

#[tokio::test]
async fn the_code_flow_gives_tokens_for_the_resources_the_request_named() {
    let app = TestApp::builder().with_user("rita").spawn().await;
    let rp = web_client(&app);
    let browser = new_client();
    let code = oauth::code_in(
        &app,
        &browser,
        &rp,
        "rita",
        &[("scope", SCOPE), ("resource", API), ("resource", FILES)],
    )
    .await;
    // RFC 8707 §2.2: the token request narrows the grant to one of its resources.
    let (status, tokens) = exchange(&app, &rp, &code, &[FILES]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(token_audience(&app, &tokens).await, [FILES]);

    // The refresh token holds the whole grant: each refresh may ask for either, or both.
    let for_api = refresh(&app, &rp, &tokens, &[API]).await;
    assert_eq!(token_audience(&app, &for_api).await, [API]);
    let for_both = refresh(&app, &rp, &for_api, &[]).await;
    assert_eq!(token_audience(&app, &for_both).await, [API, FILES]);
    let (status, refused) = token_request(
        &app,
        &rp,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", for_both["refresh_token"].as_str().unwrap()),
            ("resource", UNREGISTERED),
        ],
    )
    .await;
    assert_invalid_target((status, refused), "refresh for an unregistered resource");

    // Valid tokens, but for other APIs: Gatehouse's own refuse them (RFC 9068 §4).
    let access = for_both["access_token"].as_str().unwrap();
    assert_refused_as_invalid_token(with_bearer(&app, "/userinfo", access).await, "userinfo");
    assert_refused_as_invalid_token(
        with_bearer(&app, "/api/v1/account", access).await,
        "account API",
    );

    // The same client asking for no resource gets tokens for Gatehouse, as before.
    let tokens = oauth::tokens_in(&app, &browser, &rp, "rita", &[("scope", SCOPE)]).await;
    assert_eq!(token_audience(&app, &tokens).await, [app.address.as_str()]);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(with_bearer(&app, "/userinfo", access).await.0, 200);
    assert_eq!(with_bearer(&app, "/api/v1/account", access).await.0, 200);
    let refreshed = refresh(&app, &rp, &tokens, &[]).await;
    assert_eq!(
        token_audience(&app, &refreshed).await,
        [app.address.as_str()]
    );
}

#[tokio::test]
async fn resources_outside_the_grant_are_invalid_target() {
    let app = TestApp::builder().with_user("sam").spawn().await;
    let rp = web_client(&app);
    let browser = new_client();

    // At the authorization request: a resource the client is not registered for comes back
    // to the client as `invalid_target` (RFC 8707 §2).
    let url = oauth::authorize_url(&app, &rp, &[("scope", SCOPE), ("resource", UNREGISTERED)]);
    let callback = app
        .browse_authorize(&browser, &url, Some(("sam", GOOD_PASSWORD)))
        .await;
    assert!(
        callback.as_str().starts_with(&rp.redirect_uri),
        "{callback}"
    );
    assert_eq!(
        oauth::param(&callback, "error").as_deref(),
        Some("invalid_target")
    );
    assert!(oauth::param(&callback, "code").is_none());

    // At the token request: registered for the client, but not asked for at authorization.
    let code = oauth::code_in(
        &app,
        &browser,
        &rp,
        "sam",
        &[("scope", SCOPE), ("resource", API)],
    )
    .await;
    assert_invalid_target(
        exchange(&app, &rp, &code, &[FILES]).await,
        "not in the grant",
    );
    // Malformed: refused before the code is spent, which then still works.
    let code = oauth::code_in(
        &app,
        &browser,
        &rp,
        "sam",
        &[("scope", SCOPE), ("resource", API)],
    )
    .await;
    for malformed in ["/v1", "https://api.example.test/#part"] {
        assert_invalid_target(exchange(&app, &rp, &code, &[malformed]).await, malformed);
    }
    let (status, tokens) = exchange(&app, &rp, &code, &[API]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(token_audience(&app, &tokens).await, [API]);
}

#[tokio::test]
async fn client_credentials_tokens_name_the_requested_resources() {
    let app = spawn_app().await;
    let machine = register_client_for(
        &app,
        ClientSpec {
            grants: vec![GrantType::ClientCredentials],
            scopes: vec!["admin".to_owned()],
            ..ClientSpec::default()
        },
        &[API, FILES],
    );
    let id = machine.client_id.clone();
    assert!(
        app.state
            .accounts
            .database()
            .run(move |db| db.set_client_roles(&id, &[Role::Admin]))
            .await
            .unwrap()
    );
    let grant = |resources: &'static [&'static str]| {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", "admin")];
        form.extend(resources.iter().map(|resource| ("resource", *resource)));
        let (app, machine) = (&app, &machine);
        async move { token_request(app, machine, &form).await }
    };

    let (status, for_api) = grant(&[API]).await;
    assert_eq!(status, 200, "{for_api}");
    assert_eq!(token_audience(&app, &for_api).await, [API]);
    let (status, for_both) = grant(&[API, FILES]).await;
    assert_eq!(status, 200, "{for_both}");
    assert_eq!(token_audience(&app, &for_both).await, [API, FILES]);
    for refused in [
        &[UNREGISTERED][..],
        &[API, "api.example.test"],
        &["https://api.example.test/#x"],
    ] {
        assert_invalid_target(grant(refused).await, refused.last().unwrap());
    }

    // The admin API is Gatehouse's: a token for another API is refused there, while the same
    // service account's token without `resource` (for the issuer) is let in.
    let (status, for_gatehouse) = grant(&[]).await;
    assert_eq!(status, 200, "{for_gatehouse}");
    assert_eq!(
        token_audience(&app, &for_gatehouse).await,
        [app.address.as_str()]
    );
    assert_eq!(
        with_bearer(
            &app,
            "/api/v1/admin/users",
            for_gatehouse["access_token"].as_str().unwrap()
        )
        .await
        .0,
        200
    );
    assert_refused_as_invalid_token(
        with_bearer(
            &app,
            "/api/v1/admin/users",
            for_api["access_token"].as_str().unwrap(),
        )
        .await,
        "admin API",
    );
}

/// A chat client linking an account without a browser: the device authorization request names
/// the resources, the user allows it on `/device`, and the poll may narrow them.
#[tokio::test]
async fn the_device_flow_gives_tokens_for_the_resources_the_request_named() {
    let app = TestApp::builder().with_user("dana").spawn().await;
    let bot = register_client_for(
        &app,
        ClientSpec {
            public: true,
            first_party: false,
            grants: vec![GrantType::DeviceCode, GrantType::RefreshToken],
            scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
            ..ClientSpec::default()
        },
        &[API, FILES],
    );
    let response = client_post(
        &app,
        &bot,
        "/device_authorization",
        &[
            ("scope", "openid offline_access"),
            ("resource", UNREGISTERED),
        ],
    )
    .await;
    let status = response.status().as_u16();
    assert_invalid_target(
        (status, response.json().await.unwrap()),
        "device authorization for an unregistered resource",
    );

    let response = client_post(
        &app,
        &bot,
        "/device_authorization",
        &[
            ("scope", "openid offline_access"),
            ("resource", API),
            ("resource", FILES),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    let device_code = started["device_code"].as_str().unwrap();
    allow_on_device_page(&app, "dana", started["user_code"].as_str().unwrap()).await;

    let poll = |resources: &'static [&'static str]| {
        let mut form = vec![
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ];
        form.extend(resources.iter().map(|resource| ("resource", *resource)));
        let (app, bot) = (&app, &bot);
        async move { token_request(app, bot, &form).await }
    };
    assert_invalid_target(poll(&[UNREGISTERED]).await, "poll, unregistered");
    let (status, tokens) = poll(&[FILES]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(token_audience(&app, &tokens).await, [FILES]);
    let refreshed = refresh(&app, &bot, &tokens, &[]).await;
    assert_eq!(token_audience(&app, &refreshed).await, [API, FILES]);
    assert_refused_as_invalid_token(
        with_bearer(
            &app,
            "/userinfo",
            refreshed["access_token"].as_str().unwrap(),
        )
        .await,
        "userinfo",
    );
}

/// Signs `username` in, enters `user_code` on `/device` and presses Allow.
async fn allow_on_device_page(app: &TestApp, username: &str, user_code: &str) {
    let browser = app.signed_in_browser(username, GOOD_PASSWORD).await;
    let (status, html) = app.get_page(&browser, "/device").await;
    assert_eq!(status, 200, "{html}");
    let mut page = html;
    for action in ["show", "approve"] {
        let response = app
            .post_form(
                &browser,
                "/device",
                &[
                    ("csrf_token", &csrf_from_html(&page)),
                    ("user_code", user_code),
                    ("action", action),
                ],
            )
            .await;
        assert_eq!(response.status(), 200, "{action}");
        page = response.text().await.unwrap();
    }
    assert_eq!(page_marker(&page).as_deref(), Some("device-done"), "{page}");
}
