//! Token exchange (RFC 8693): delegation and impersonation, `act` nesting, the audience,
//! resource and scope rules, the `exp` cap, the grant link, every error code, introspection of
//! the result and the audit trail.

use chrono::Duration;
use gatehouse_authz::{AuthSession, ErrorCode, OAuthError};
use gatehouse_identity::{GrantType, NewClient};
use serde_json::{Value, json};

use crate::support::*;

mod errors;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The API the chatbot may address (a resource URI) and a service named by its client id.
const API: &str = "https://api.example.test/";
const ORDERS: &str = "orders-service";
const USER_SCOPE: &str = "openid profile api:read api:write";

backend_tests!(
    delegation_to_the_clients_service_account,
    delegation_to_a_user,
    impersonation_only_when_the_client_allows_it,
    act_nests_when_a_delegated_token_is_exchanged_again,
    a_delegated_token_stays_delegated_without_an_actor,
    a_token_naming_the_client_as_audience_is_its_to_exchange,
    audience_and_resource_must_be_registered_and_become_aud,
    scope_can_only_narrow,
    exp_never_passes_the_subject_or_actor_token,
    revoking_the_users_grant_revokes_the_exchanged_token,
);

/// A confidential chatbot: code flow for its users, `client_credentials` for its service
/// account, token exchange for [`API`] and [`ORDERS`].
fn chatbot(h: &Harness, allow_impersonation: bool) -> TestClient {
    h.client(NewClient {
        allow_impersonation,
        ..chatbot_registration()
    })
}

/// The harness user's access token for `client` (code flow at `t0`, [`USER_SCOPE`]).
async fn user_token(h: &Harness, client: &TestClient) -> String {
    user_token_with(h, client, USER_SCOPE).await
}

async fn user_token_with(h: &Harness, client: &TestClient, scope: &str) -> String {
    let tokens = h.tokens_in(&h.session, client, &[("scope", scope)]).await;
    str_field(&tokens, "access_token").to_owned()
}

/// A user token of the harness's other confidential client (which has no `api:write`).
async fn foreign_token(h: &Harness) -> String {
    user_token_with(h, &h.confidential, "openid profile api:read").await
}

/// Another user's access token for `client`, signed in in their own session.
async fn other_user_token(h: &Harness, client: &TestClient, username: &str) -> (String, String) {
    let user = h.register(username).await;
    let session = AuthSession {
        user_id: user.id,
        sid: format!("sid-{username}"),
        ..h.session.clone()
    };
    let tokens = h
        .tokens_in(&session, client, &[("scope", USER_SCOPE)])
        .await;
    (
        str_field(&tokens, "access_token").to_owned(),
        user.id.to_string(),
    )
}

/// The client's own `client_credentials` token at `now`.
async fn service_token(
    h: &Harness,
    client: &TestClient,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let body = h
        .authz
        .token(
            &client.form(&[("grant_type", "client_credentials"), ("scope", "api:read")]),
            client.credentials(),
            now,
        )
        .await
        .unwrap();
    str_field(&body, "access_token").to_owned()
}

/// A token-exchange request by `client` at `now`: the grant type plus `pairs`.
async fn exchange_at(
    h: &Harness,
    client: &TestClient,
    pairs: &[(&str, &str)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, OAuthError> {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(pairs);
    h.authz
        .token(&client.form(&form), client.credentials(), now)
        .await
}

/// Delegation of `subject` to `actor` for `audience` at `t0`.
async fn delegate(
    h: &Harness,
    client: &TestClient,
    subject: &str,
    actor: &str,
    audience: &str,
) -> Result<Value, OAuthError> {
    exchange_at(
        h,
        client,
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", audience),
        ],
        t0(),
    )
    .await
}

/// Impersonation (no actor token) of `subject` for `audience` at `t0`.
async fn impersonate(
    h: &Harness,
    client: &TestClient,
    subject: &str,
    audience: &str,
) -> Result<Value, OAuthError> {
    exchange_at(
        h,
        client,
        &[
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN),
            ("audience", audience),
        ],
        t0(),
    )
    .await
}

fn assert_error(result: Result<Value, OAuthError>, code: ErrorCode, context: &str) -> OAuthError {
    match result {
        Ok(body) => panic!("{context}: expected {code}, got {body}"),
        Err(err) => {
            assert_eq!(err.code, code, "{context}: {err}");
            assert_eq!(err.status(), 400, "{context}");
            err
        }
    }
}

/// The `token.exchange` audit events, oldest first: (outcome, target, details).
fn exchange_events(h: &Harness) -> Vec<(String, Option<String>, Value)> {
    let mut events: Vec<_> =
        h.db.recent_audit_events(1000)
            .unwrap()
            .into_iter()
            .filter(|event| event.action == "token.exchange")
            .map(|event| {
                assert_eq!(event.actor_kind.as_str(), "service_account");
                (
                    event.outcome.as_str().to_owned(),
                    event.target,
                    event.details,
                )
            })
            .collect();
    events.reverse();
    events
}

async fn delegation_to_the_clients_service_account(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let actor = service_token(&h, &bot, t0()).await;

    let body = delegate(&h, &bot, &subject, &actor, API).await.unwrap();
    // RFC 8693 §2.2.1: no refresh token, no ID token.
    let access = str_field(&body, "access_token").to_owned();
    assert_eq!(
        body,
        json!({
            "access_token": access,
            "issued_token_type": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 600,
            "scope": USER_SCOPE,
        })
    );
    let claims = jwt_payload(&access);
    let subject_claims = jwt_payload(&subject);
    assert_eq!(claims["sub"], h.user.id.to_string());
    assert_eq!(claims["client_id"], bot.id());
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["act"], json!({ "sub": bot.id() }));
    assert_eq!(claims["scope"], USER_SCOPE);
    // The user's grant and session, so that ending them ends this token too.
    for same in ["grant_id", "sid", "auth_time"] {
        assert_eq!(claims[same], subject_claims[same], "{same}");
    }
    assert_ne!(claims["jti"], subject_claims["jti"]);

    // Introspection: active, with the real audience and the actor.
    let introspected = h.introspect(&access, t0()).await;
    assert_eq!(
        introspected,
        json!({
            "active": true,
            "scope": USER_SCOPE,
            "client_id": bot.id(),
            "username": "alice",
            "token_type": "Bearer",
            "exp": t0().timestamp() + 600,
            "iat": t0().timestamp(),
            "sub": h.user.id.to_string(),
            "aud": API,
            "iss": ISSUER,
            "jti": claims["jti"],
            "act": { "sub": bot.id() },
        })
    );
    // An API token is not one for Gatehouse's own userinfo.
    assert!(
        h.authz
            .authenticate_bearer(&access, "openid", t0())
            .await
            .is_err()
    );

    let events = exchange_events(&h);
    assert_eq!(events.len(), 1, "{events:?}");
    let (outcome, target, details) = &events[0];
    assert_eq!(outcome, "success");
    assert_eq!(target.as_deref(), Some(h.user.id.to_string().as_str()));
    assert_eq!(details["client_id"], bot.id());
    assert_eq!(details["subject"], h.user.id.to_string());
    assert_eq!(details["actor"], bot.id());
    assert_eq!(details["audience"], json!([API]));
    assert_eq!(details["mode"], "delegation");
    assert_eq!(details["act"], json!({ "sub": bot.id() }));
}

async fn delegation_to_a_user(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let (actor, bob) = other_user_token(&h, &bot, "bob").await;

    let body = delegate(&h, &bot, &subject, &actor, ORDERS).await.unwrap();
    let claims = jwt_payload(str_field(&body, "access_token"));
    assert_eq!(claims["sub"], h.user.id.to_string());
    assert_eq!(claims["act"], json!({ "sub": bob }));
    assert_eq!(claims["aud"], ORDERS);
}

async fn impersonation_only_when_the_client_allows_it(backend: Backend) {
    let h = Harness::new(backend).await;
    let strict = chatbot(&h, false);
    let subject = user_token(&h, &strict).await;
    let err = assert_error(
        impersonate(&h, &strict, &subject, API).await,
        ErrorCode::InvalidRequest,
        "impersonation by a client without the policy",
    );
    assert!(err.description.contains("actor_token"), "{err}");
    let events = exchange_events(&h);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "failure");
    assert_eq!(events[0].2["error"], "invalid_request");
    assert_eq!(events[0].2["subject"], h.user.id.to_string());
    assert_eq!(events[0].2["actor"], Value::Null);

    let lenient = chatbot(&h, true);
    let subject = user_token(&h, &lenient).await;
    let body = impersonate(&h, &lenient, &subject, API).await.unwrap();
    let access = str_field(&body, "access_token");
    let claims = jwt_payload(access);
    assert_eq!(claims["sub"], h.user.id.to_string());
    assert_eq!(claims["client_id"], lenient.id());
    assert!(claims.get("act").is_none(), "{claims}");
    let introspected = h.introspect(access, t0()).await;
    assert_eq!(introspected["active"], true);
    assert!(introspected.get("act").is_none(), "{introspected}");
    let events = exchange_events(&h);
    assert_eq!(events[1].0, "success");
    assert_eq!(events[1].2["mode"], "impersonation");
}

async fn act_nests_when_a_delegated_token_is_exchanged_again(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let service = service_token(&h, &bot, t0()).await;
    let (bob_token, bob) = other_user_token(&h, &bot, "bob").await;

    let first = delegate(&h, &bot, &subject, &service, API).await.unwrap();
    let first = str_field(&first, "access_token").to_owned();
    // The delegated token names the API, not Gatehouse, yet it is the chatbot's to exchange.
    let second = delegate(&h, &bot, &first, &bob_token, ORDERS)
        .await
        .unwrap();
    let second = str_field(&second, "access_token").to_owned();
    let nested = json!({ "sub": bob, "act": { "sub": bot.id() } });
    assert_eq!(jwt_payload(&second)["act"], nested);
    assert_eq!(jwt_payload(&second)["sub"], h.user.id.to_string());
    assert_eq!(h.introspect(&second, t0()).await["act"], nested);

    // And once more: three actors, newest outermost.
    let third = delegate(&h, &bot, &second, &service, API).await.unwrap();
    assert_eq!(
        jwt_payload(str_field(&third, "access_token"))["act"],
        json!({ "sub": bot.id(), "act": nested })
    );
}

async fn a_delegated_token_stays_delegated_without_an_actor(backend: Backend) {
    // keycloak#52691: exchanging a delegated token again without an actor token must not
    // drop `act`, which would say the user acted alone.
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, true);
    let subject = user_token(&h, &bot).await;
    let service = service_token(&h, &bot, t0()).await;
    let delegated = delegate(&h, &bot, &subject, &service, API).await.unwrap();
    let delegated = str_field(&delegated, "access_token");

    let again = impersonate(&h, &bot, delegated, ORDERS).await.unwrap();
    let claims = jwt_payload(str_field(&again, "access_token"));
    assert_eq!(claims["act"], json!({ "sub": bot.id() }));
    assert_eq!(claims["aud"], ORDERS);
}

async fn a_token_naming_the_client_as_audience_is_its_to_exchange(backend: Backend) {
    // The chatbot exchanges the user's token for the orders service, itself a client that may
    // exchange: the token names it in `aud`, so it may pass it on, and the chain grows.
    let h = Harness::new(backend).await;
    let orders = chatbot(&h, false);
    let bot = h.client(NewClient {
        exchange_audiences: vec![orders.id().to_owned(), API.into()],
        ..chatbot_registration()
    });
    let subject = user_token(&h, &bot).await;
    let bot_service = service_token(&h, &bot, t0()).await;
    let for_orders = delegate(&h, &bot, &subject, &bot_service, orders.id())
        .await
        .unwrap();
    let for_orders = str_field(&for_orders, "access_token").to_owned();
    assert_eq!(jwt_payload(&for_orders)["aud"], orders.id());

    let orders_service = service_token(&h, &orders, t0()).await;
    let onward = delegate(&h, &orders, &for_orders, &orders_service, API)
        .await
        .unwrap();
    let claims = jwt_payload(str_field(&onward, "access_token"));
    assert_eq!(claims["client_id"], orders.id());
    assert_eq!(claims["sub"], h.user.id.to_string());
    assert_eq!(
        claims["act"],
        json!({ "sub": orders.id(), "act": { "sub": bot.id() } })
    );

    // The chatbot's token for the API was neither issued to the orders service nor names it:
    // not the orders service's to exchange.
    let for_api = delegate(&h, &bot, &subject, &bot_service, API)
        .await
        .unwrap();
    let err = assert_error(
        delegate(
            &h,
            &orders,
            str_field(&for_api, "access_token"),
            &orders_service,
            API,
        )
        .await,
        ErrorCode::InvalidRequest,
        "a token neither issued to nor addressed to the caller",
    );
    assert!(err.description.contains("neither issued"), "{err}");
}

async fn audience_and_resource_must_be_registered_and_become_aud(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let actor = service_token(&h, &bot, t0()).await;
    let base = [
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("actor_token", actor.as_str()),
        ("actor_token_type", ACCESS_TOKEN),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        pairs
    };

    // Both parameters, repeated: every target becomes `aud`, once each, in order.
    let body = exchange_at(
        &h,
        &bot,
        &with(&[
            ("audience", ORDERS),
            ("resource", API),
            ("audience", ORDERS),
        ]),
        t0(),
    )
    .await
    .unwrap();
    let access = str_field(&body, "access_token");
    assert_eq!(jwt_payload(access)["aud"], json!([ORDERS, API]));
    assert_eq!(
        h.introspect(access, t0()).await["aud"],
        json!([ORDERS, API])
    );
    // A resource alone.
    let body = exchange_at(&h, &bot, &with(&[("resource", API)]), t0())
        .await
        .unwrap();
    assert_eq!(jwt_payload(str_field(&body, "access_token"))["aud"], API);

    for (extra, why) in [
        (vec![], "no target at all (RFC 8707 §2)"),
        (vec![("audience", "")], "an empty audience is no audience"),
        (
            vec![("audience", "billing-service")],
            "an audience not registered",
        ),
        (
            vec![("audience", ORDERS), ("audience", "billing-service")],
            "one of two audiences not registered",
        ),
        (
            vec![("resource", "https://other.example.test/")],
            "a resource not registered",
        ),
        (
            vec![("resource", ORDERS)],
            "a resource must be an absolute URI",
        ),
        (
            vec![("resource", "https://api.example.test/#frag")],
            "a resource with a fragment",
        ),
        (
            vec![("audience", ISSUER)],
            "Gatehouse itself, not registered",
        ),
    ] {
        let err = assert_error(
            exchange_at(&h, &bot, &with(&extra), t0()).await,
            ErrorCode::InvalidTarget,
            why,
        );
        assert_eq!(err.body()["error"], "invalid_target");
    }
    let refused = exchange_events(&h)
        .into_iter()
        .filter(|(outcome, _, details)| {
            outcome == "failure" && details["error"] == "invalid_target"
        })
        .count();
    assert_eq!(refused, 8);
}

async fn scope_can_only_narrow(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let actor = service_token(&h, &bot, t0()).await;
    let request = |scope: &'static str| {
        let subject = subject.clone();
        let actor = actor.clone();
        let h = &h;
        let bot = &bot;
        async move {
            exchange_at(
                h,
                bot,
                &[
                    ("subject_token", subject.as_str()),
                    ("subject_token_type", ACCESS_TOKEN),
                    ("actor_token", actor.as_str()),
                    ("actor_token_type", ACCESS_TOKEN),
                    ("audience", API),
                    ("scope", scope),
                ],
                t0(),
            )
            .await
        }
    };

    let narrowed = request("api:read").await.unwrap();
    assert_eq!(narrowed["scope"], "api:read");
    assert_eq!(
        jwt_payload(str_field(&narrowed, "access_token"))["scope"],
        "api:read"
    );
    // Absent (an empty value reads as absent): the subject token's scope.
    let same = request("").await.unwrap();
    assert_eq!(same["scope"], USER_SCOPE);

    for (scope, why) in [
        (
            "api:read email",
            "email was not granted to the subject token",
        ),
        ("api:admin", "a scope the subject token lacks"),
        ("api\"read", "malformed"),
    ] {
        assert_error(request(scope).await, ErrorCode::InvalidScope, why);
    }

    // A narrowed token cannot be widened back by exchanging it again.
    let narrowed = str_field(&narrowed, "access_token").to_owned();
    let err = exchange_at(
        &h,
        &bot,
        &[
            ("subject_token", narrowed.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor.as_str()),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", API),
            ("scope", "api:read api:write"),
        ],
        t0(),
    )
    .await;
    assert_error(err, ErrorCode::InvalidScope, "widening a narrowed token");
}

async fn exp_never_passes_the_subject_or_actor_token(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    // Subject issued at t0 (expires t0 + 600); actor issued later.
    let subject = user_token(&h, &bot).await;
    let actor = service_token(&h, &bot, t0() + Duration::seconds(300)).await;
    let at = t0() + Duration::seconds(500);
    let body = exchange_at(
        &h,
        &bot,
        &[
            ("subject_token", subject.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", actor.as_str()),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", API),
        ],
        at,
    )
    .await
    .unwrap();
    assert_eq!(body["expires_in"], 100);
    let claims = jwt_payload(str_field(&body, "access_token"));
    assert_eq!(claims["exp"], jwt_payload(&subject)["exp"]);
    assert_eq!(claims["iat"], at.timestamp());

    // An actor token that ends first caps the delegation too.
    let old_actor = service_token(&h, &bot, t0()).await;
    let later_subject = {
        let code = h
            .authz
            .authorize(
                &h.authorize_params(&bot, &[("scope", USER_SCOPE)]),
                Some(&h.session),
                gatehouse_authz::ConsentDecision::Approved,
                t0() + Duration::seconds(300),
            )
            .await;
        let code = redirect_query(&code)["code"].clone();
        let body = h
            .authz
            .token(
                &bot.form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ]),
                bot.credentials(),
                t0() + Duration::seconds(300),
            )
            .await
            .unwrap();
        str_field(&body, "access_token").to_owned()
    };
    let body = exchange_at(
        &h,
        &bot,
        &[
            ("subject_token", later_subject.as_str()),
            ("subject_token_type", ACCESS_TOKEN),
            ("actor_token", old_actor.as_str()),
            ("actor_token_type", ACCESS_TOKEN),
            ("audience", API),
        ],
        at,
    )
    .await
    .unwrap();
    assert_eq!(body["expires_in"], 100);
    assert_eq!(
        jwt_payload(str_field(&body, "access_token"))["exp"],
        jwt_payload(&old_actor)["exp"]
    );

    // The exchanged token dies with its subject: inactive past that `exp`.
    let exchanged = str_field(&body, "access_token");
    assert_eq!(h.introspect(exchanged, at).await["active"], true);
    let after = t0() + Duration::seconds(601);
    assert_eq!(
        h.introspect(exchanged, after).await,
        json!({ "active": false })
    );
}

async fn revoking_the_users_grant_revokes_the_exchanged_token(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = h.client(NewClient {
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::TokenExchange,
        ],
        ..chatbot_registration()
    });
    let tokens = h
        .tokens_in(&h.session, &bot, &[("scope", USER_SCOPE)])
        .await;
    let subject = str_field(&tokens, "access_token");
    let refresh = str_field(&tokens, "refresh_token");
    let actor = service_token(&h, &bot, t0()).await;
    let exchanged = delegate(&h, &bot, subject, &actor, API).await.unwrap();
    let exchanged = str_field(&exchanged, "access_token");
    assert_eq!(h.introspect(exchanged, t0()).await["active"], true);

    // RFC 7009: revoking the refresh token revokes its grant, with every access token of it.
    h.authz
        .revoke(&params(&[("token", refresh)]), bot.credentials(), t0())
        .await
        .unwrap();
    assert_eq!(
        h.introspect(exchanged, t0()).await,
        json!({ "active": false })
    );
    assert_error(
        delegate(&h, &bot, subject, &actor, API).await,
        ErrorCode::InvalidRequest,
        "a subject token of a revoked grant",
    );
}

/// [`chatbot`]'s registration, to vary.
fn chatbot_registration() -> NewClient {
    NewClient {
        name: "Chatbot".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::ClientCredentials,
            GrantType::TokenExchange,
        ],
        scopes: ["openid", "profile", "api:read", "api:write"]
            .map(String::from)
            .to_vec(),
        exchange_audiences: vec![API.into(), ORDERS.into()],
        ..NewClient::default()
    }
}
