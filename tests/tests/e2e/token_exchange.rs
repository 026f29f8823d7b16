//! Token exchange (RFC 8693) over HTTP with raw form posts: a chatbot registered through
//! `gatehouse client create` exchanges a user's token for one addressed to an API, as a
//! delegate (`act`) or, when registered for it, as the user; the result introspects with its
//! actor and audience, dies with the user's session, and every exchange is audited. The errors
//! are RFC 6749 §5.2 JSON with the codes of RFC 8693 §2.2.2.

use gatehouse_identity::{ClientType, GrantType, NewClient, Role};
use gatehouse_server::cli::{Command, run};
use gatehouse_server::cli_clients::{ClientCommand, CreateClient, GrantArg};
use gatehouse_tests::oauth::{introspect, tokens_in};
use gatehouse_tests::{TestApp, TestClient, jwt_claims, new_client};
use serde_json::{Value, json};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const API: &str = "https://api.example.test/";
const ORDERS: &str = "orders-service";
const REDIRECT: &str = "http://rp.example.test/callback";
const SCOPE: &str = "openid profile api:read";

/// Registers a client as an operator would, through `gatehouse client create` with the options
/// the issue names (`--grant urn:ietf:params:oauth:grant-type:token-exchange`,
/// `--exchange-audience` twice, `--allow-impersonation` when asked), run in-process against the
/// app's database; then gives it a secret the test can read through the admin API (the command
/// prints its secret to standard output).
///
/// The command is built as clap would build it from those flags: this crate does not depend on
/// clap, so the spellings themselves are not parsed here.
async fn cli_client(app: &TestApp, name: &str, allow_impersonation: bool) -> TestClient {
    let create = CreateClient {
        name: name.to_owned(),
        redirect_uris: vec![REDIRECT.to_owned()],
        public: false,
        grants: [
            GrantType::AuthorizationCode,
            GrantType::ClientCredentials,
            GrantType::TokenExchange,
        ]
        .map(GrantArg)
        .to_vec(),
        scopes: vec![SCOPE.to_owned()],
        first_party: true,
        post_logout_redirect_uris: Vec::new(),
        auth_method: None,
        id_token_alg: None,
        backchannel_logout_uri: None,
        backchannel_logout_session_required: false,
        require_2fa: false,
        roles: Vec::new(),
        org: None,
        resources: Vec::new(),
        exchange_audiences: vec![API.to_owned(), ORDERS.to_owned()],
        allow_impersonation,
        json: true,
    };
    run(
        Command::Client(ClientCommand::Create(Box::new(create))),
        app.state.settings.clone(),
    )
    .await
    .unwrap();
    let wanted = name.to_owned();
    let client = app
        .state
        .accounts
        .database()
        .run(move |db| db.list_clients())
        .await
        .unwrap()
        .into_iter()
        .find(|client| client.name == wanted)
        .unwrap();
    assert!(client.allows_grant(GrantType::TokenExchange));
    assert_eq!(client.exchange_audiences, [API, ORDERS]);

    let (_, admin) = app.service_account_token(&[Role::Admin]).await;
    let response = app
        .client
        .post(app.url(&format!(
            "/api/v1/admin/clients/{}/secret",
            client.client_id
        )))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let secret: Value = response.json().await.unwrap();
    TestClient {
        client_id: client.client_id,
        client_secret: Some(secret["client_secret"].as_str().unwrap().to_owned()),
        redirect_uri: REDIRECT.to_owned(),
    }
}

/// A confidential client registered directly in the identity store, without the grant.
fn plain_client(app: &TestApp) -> TestClient {
    let new = NewClient {
        name: "No exchange".into(),
        client_type: Some(ClientType::Confidential),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
        scopes: SCOPE.split(' ').map(str::to_owned).collect(),
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
        redirect_uri: REDIRECT.to_owned(),
    }
}

/// The client's own `client_credentials` token.
async fn service_token(app: &TestApp, client: &TestClient) -> String {
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// POST /token with the token-exchange grant and `form`, authenticating as `client`: the
/// status, the `Cache-Control` header and the JSON body.
async fn exchange(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
) -> (u16, Option<String>, Value) {
    let mut fields = vec![("grant_type", EXCHANGE)];
    fields.extend_from_slice(form);
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.client_id, client.client_secret.as_deref())
        .form(&fields)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|value| value.to_str().unwrap().to_owned());
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    (status, cache, response.json().await.unwrap())
}

fn exchange_audits(app: &TestApp) -> Vec<Option<String>> {
    app.audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "token.exchange")
        .map(|(_, target)| target)
        .collect()
}

#[tokio::test]
async fn a_chatbot_acts_for_a_user_and_the_api_sees_who() {
    let app = TestApp::builder().with_user("alice").spawn().await;
    let bot = cli_client(&app, "Chat bot", false).await;
    let browser = new_client();
    let tokens = tokens_in(&app, &browser, &bot, "alice", &[("scope", SCOPE)]).await;
    let subject = tokens["access_token"].as_str().unwrap();
    let actor = service_token(&app, &bot).await;

    let (status, cache, body) = exchange(
        &app,
        &bot,
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", API),
            ("scope", "api:read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        body,
        json!({
            "access_token": access,
            "issued_token_type": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": body["expires_in"],
            "scope": "api:read",
        })
    );
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    let claims = jwt_claims(&access);
    let alice = app.user_id("alice").to_string();
    assert_eq!(claims["sub"], alice);
    assert_eq!(claims["client_id"], bot.client_id);
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["act"], json!({ "sub": bot.client_id }));
    assert!(claims["exp"].as_i64() <= jwt_claims(subject)["exp"].as_i64());

    // A resource server introspects it (with its own credentials): active, for the API, with
    // the chatbot as actor.
    let api = plain_client(&app);
    let response = introspect(&app, &api, &access).await;
    assert_eq!(response.status(), 200);
    let introspected: Value = response.json().await.unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["sub"], alice);
    assert_eq!(introspected["username"], "alice");
    assert_eq!(introspected["aud"], API);
    assert_eq!(introspected["scope"], "api:read");
    assert_eq!(introspected["act"], json!({ "sub": bot.client_id }));

    // Exchanged again for the second service: the earlier actor is nested.
    let (status, _, again) = exchange(
        &app,
        &bot,
        &[
            ("subject_token", &access),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("resource", API),
            ("audience", ORDERS),
        ],
    )
    .await;
    assert_eq!(status, 200, "{again}");
    let again = again["access_token"].as_str().unwrap().to_owned();
    let claims = jwt_claims(&again);
    assert_eq!(claims["aud"], json!([ORDERS, API]));
    assert_eq!(
        claims["act"],
        json!({ "sub": bot.client_id, "act": { "sub": bot.client_id } })
    );
    let introspected: Value = introspect(&app, &api, &again).await.json().await.unwrap();
    assert_eq!(introspected["aud"], json!([ORDERS, API]));
    assert_eq!(introspected["act"], claims["act"]);

    assert_eq!(exchange_audits(&app), [Some(alice.clone()), Some(alice)]);

    // Signing out ends the user's grant, and with it every token exchanged from it.
    app.sign_out(&browser).await;
    for token in [&access, &again] {
        let introspected: Value = introspect(&app, &api, token).await.json().await.unwrap();
        assert_eq!(introspected, json!({ "active": false }));
    }
    let (status, _, body) = exchange(
        &app,
        &bot,
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", &actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", API),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn impersonation_needs_the_allow_impersonation_flag() {
    let app = TestApp::builder().with_user("alice").spawn().await;
    let strict = cli_client(&app, "Strict bot", false).await;
    let lenient = cli_client(&app, "Trusted bot", true).await;

    for (bot, allowed) in [(&strict, false), (&lenient, true)] {
        let tokens = tokens_in(&app, &new_client(), bot, "alice", &[("scope", SCOPE)]).await;
        let subject = tokens["access_token"].as_str().unwrap();
        let (status, _, body) = exchange(
            &app,
            bot,
            &[
                ("subject_token", subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("audience", ORDERS),
            ],
        )
        .await;
        if allowed {
            assert_eq!(status, 200, "{body}");
            let claims = jwt_claims(body["access_token"].as_str().unwrap());
            assert_eq!(claims["sub"], app.user_id("alice").to_string());
            assert_eq!(claims["aud"], ORDERS);
            assert!(claims.get("act").is_none(), "{claims}");
        } else {
            assert_eq!(status, 400, "{body}");
            assert_eq!(body["error"], "invalid_request");
            assert!(
                body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains("actor_token")
            );
        }
    }
}

#[tokio::test]
async fn refusals_are_oauth_errors_and_are_audited() {
    let app = TestApp::builder().with_user("alice").spawn().await;
    let bot = cli_client(&app, "Chat bot", false).await;
    let tokens = tokens_in(&app, &new_client(), &bot, "alice", &[("scope", SCOPE)]).await;
    let subject = tokens["access_token"].as_str().unwrap();
    let actor = service_token(&app, &bot).await;
    let delegation = |extra: &[(&'static str, &'static str)]| {
        let mut form = vec![
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor.as_str()),
            ("actor_token_type", ACCESS_TOKEN),
        ];
        form.extend_from_slice(extra);
        form
    };

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("subject_token_type", ACCESS_TOKEN), ("audience", API)],
            "invalid_request",
        ),
        (
            vec![("subject_token", subject), ("audience", API)],
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", &actor),
                ("audience", API),
            ],
            "invalid_request",
        ),
        (
            vec![
                ("subject_token", "not-a-token"),
                ("subject_token_type", ACCESS_TOKEN),
                ("audience", API),
            ],
            "invalid_request",
        ),
        (
            delegation(&[("audience", "https://evil.example.test/")]),
            "invalid_target",
        ),
        (delegation(&[]), "invalid_target"),
        (
            delegation(&[("audience", API), ("scope", "api:read email")]),
            "invalid_scope",
        ),
        (
            delegation(&[
                ("audience", API),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:id_token",
                ),
            ]),
            "invalid_request",
        ),
    ];
    let count = cases.len();
    for (form, code) in cases {
        let (status, cache, body) = exchange(&app, &bot, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(code)),
            "{form:?}: {body}"
        );
        assert!(body["error_description"].is_string(), "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
    }

    // A client not registered for the grant.
    let other = plain_client(&app);
    let (status, _, body) = exchange(&app, &other, &delegation(&[("audience", API)])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );

    // A wrong secret is the client's failure, before anything else: 401 with a challenge.
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&bot.client_id, Some("wrong secret"))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", API),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // Every decided refusal is in the audit trail (not the unauthenticated one).
    assert_eq!(exchange_audits(&app).len(), count + 1);
}

#[tokio::test]
async fn discovery_advertises_the_grant() {
    let app = TestApp::builder().spawn().await;
    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants = discovery["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|grant| grant == EXCHANGE), "{grants:?}");
}
