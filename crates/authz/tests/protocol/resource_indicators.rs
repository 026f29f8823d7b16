//! Resource indicators (RFC 8707) at the token endpoint, grant by grant: the resources a
//! token request names become the access token's `aud`, within what the client is registered
//! for (`client_credentials`) or what the user granted (code, refresh token, device code);
//! anything else is `invalid_target`. Without `resource` tokens stay for the issuer, and a
//! token for another resource is refused by Gatehouse's own bearer-protected APIs.

use gatehouse_authz::{BearerSubject, DeviceAction, DeviceOutcome, ErrorCode, OAuthError};
use gatehouse_identity::{ClientType, GrantType, NewClient};
use gatehouse_tokens::verify_access_token;
use serde_json::Value;

use crate::support::*;

backend_tests!(
    a_code_grants_the_resources_of_its_authorization_request,
    the_code_exchange_narrows_and_the_family_keeps_every_resource,
    the_code_exchange_refuses_resources_not_granted,
    a_malformed_resource_does_not_burn_the_code,
    without_resource_tokens_stay_for_the_issuer,
    a_refresh_narrows_within_the_grant,
    client_credentials_tokens_are_for_registered_resources,
    a_device_code_grants_the_resources_of_its_request,
    a_token_for_another_resource_is_refused_by_gatehouse_apis,
    a_token_that_names_the_issuer_too_still_works_at_userinfo,
);

const API: &str = "https://api.example.test/";
const FILES: &str = "https://files.example.test/v1";
const UNREGISTERED: &str = "https://other.example.test/";
/// Absolute URIs only, never a fragment (RFC 8707 §2).
const MALFORMED: [&str; 3] = [
    "/v1/files",
    "files.example.test",
    "https://api.example.test/#x",
];
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A confidential client of every grant here, registered for [`API`] and [`FILES`].
fn resource_client(h: &Harness) -> TestClient {
    h.client(NewClient {
        name: "Calendar app".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ],
        scopes: ["openid", "profile", "email", "offline_access", "api:read"]
            .map(String::from)
            .to_vec(),
        resources: vec![API.into(), FILES.into()],
        ..NewClient::default()
    })
}

/// The `aud` of an access token that verifies against the published keys.
fn audience(h: &Harness, body: &Value) -> Vec<String> {
    verify_access_token(
        str_field(body, "access_token"),
        &h.key_set(),
        &h.validation(None, t0()),
    )
    .unwrap()
    .aud
}

/// A code for `client` from an authorization request naming `resources`.
async fn code_for(h: &Harness, client: &TestClient, resources: &[&str]) -> String {
    let mut request = h.authorize_params(client, &[("scope", "openid offline_access")]);
    for resource in resources {
        request.push(("resource".to_owned(), (*resource).to_owned()));
    }
    let outcome = h
        .authorize(&request, gatehouse_authz::ConsentDecision::Approved)
        .await;
    redirect_query(&outcome)
        .get("code")
        .unwrap_or_else(|| panic!("no code in {outcome:?}"))
        .clone()
}

/// `grant_type=authorization_code` naming `resources`.
async fn exchange_for(
    h: &Harness,
    client: &TestClient,
    code: &str,
    resources: &[&str],
) -> Result<Value, OAuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    form.extend(resources.iter().map(|resource| ("resource", *resource)));
    h.authz
        .token(&client.form(&form), client.credentials(), t0())
        .await
}

async fn refresh_for(
    h: &Harness,
    client: &TestClient,
    refresh_token: &str,
    resources: &[&str],
) -> Result<Value, OAuthError> {
    let extra: Vec<(&str, &str)> = resources.iter().map(|r| ("resource", *r)).collect();
    h.refresh_at(client, refresh_token, &extra, t0()).await
}

async fn client_credentials_for(
    h: &Harness,
    client: &TestClient,
    resources: &[&str],
) -> Result<Value, OAuthError> {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(resources.iter().map(|resource| ("resource", *resource)));
    h.authz
        .token(&params(&form), client.credentials(), t0())
        .await
}

fn assert_invalid_target(result: Result<Value, OAuthError>, case: &str) {
    let err = result.map(|body| body.to_string()).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidTarget, "{case}: {err}");
    assert_eq!(err.status(), 400, "{case}");
}

async fn a_code_grants_the_resources_of_its_authorization_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[API, FILES]).await;
    let tokens = exchange_for(&h, &client, &code, &[]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [API, FILES]);
    // Several resources are an array in the token (RFC 7519 §4.1.3).
    assert_eq!(
        jwt_payload(str_field(&tokens, "access_token"))["aud"],
        serde_json::json!([API, FILES])
    );
    // The ID token is still for the client.
    assert_eq!(
        jwt_payload(str_field(&tokens, "id_token"))["aud"],
        serde_json::json!(client.id())
    );

    let code = code_for(&h, &client, &[FILES]).await;
    let tokens = exchange_for(&h, &client, &code, &[FILES]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [FILES]);
    assert_eq!(
        jwt_payload(str_field(&tokens, "access_token"))["aud"],
        serde_json::json!(FILES)
    );
}

async fn the_code_exchange_narrows_and_the_family_keeps_every_resource(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[API, FILES]).await;
    let tokens = exchange_for(&h, &client, &code, &[FILES]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [FILES]);

    // The refresh token still carries the whole grant: a refresh may ask for the other one...
    let refreshed = refresh_for(&h, &client, str_field(&tokens, "refresh_token"), &[API])
        .await
        .unwrap();
    assert_eq!(audience(&h, &refreshed), [API]);
    // ... and without `resource` gets every granted resource, after a narrowed refresh too.
    let refreshed = refresh_for(&h, &client, str_field(&refreshed, "refresh_token"), &[])
        .await
        .unwrap();
    assert_eq!(audience(&h, &refreshed), [API, FILES]);
}

async fn the_code_exchange_refuses_resources_not_granted(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    // Registered for the client, but not asked for at authorization.
    let code = code_for(&h, &client, &[API]).await;
    assert_invalid_target(
        exchange_for(&h, &client, &code, &[API, FILES]).await,
        "registered, not granted",
    );
    let code = code_for(&h, &client, &[API]).await;
    assert_invalid_target(
        exchange_for(&h, &client, &code, &[UNREGISTERED]).await,
        "unregistered",
    );
    // A grant without resources is for the issuer; the token request cannot add one.
    let code = code_for(&h, &client, &[]).await;
    assert_invalid_target(
        exchange_for(&h, &client, &code, &[API]).await,
        "nothing granted",
    );
    // Refused before anything was written: no refresh-token family, no grant in the session
    // or user indexes (the codes are spent, as after any failed exchange).
    let keys = h.store_keys();
    assert!(
        keys.iter().all(|key| !key.starts_with("rtf:")
            && !key.starts_with("sid_grants:")
            && !key.starts_with("user_grants:")),
        "{keys:?}"
    );
}

async fn a_malformed_resource_does_not_burn_the_code(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[API]).await;
    for malformed in MALFORMED {
        assert_invalid_target(
            exchange_for(&h, &client, &code, &[API, malformed]).await,
            malformed,
        );
    }
    let tokens = exchange_for(&h, &client, &code, &[API]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [API]);
}

async fn without_resource_tokens_stay_for_the_issuer(backend: Backend) {
    let h = Harness::new(backend).await;
    // Registered for resources, asking for none: everything as before RFC 8707.
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[]).await;
    let tokens = exchange_for(&h, &client, &code, &[]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [ISSUER]);
    assert_eq!(
        jwt_payload(str_field(&tokens, "access_token"))["aud"],
        serde_json::json!(ISSUER)
    );
    h.authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap();
    let refresh_token = str_field(&tokens, "refresh_token");
    // The grant has no resource a refresh could narrow to; the refused request keeps the token.
    assert_invalid_target(
        refresh_for(&h, &client, refresh_token, &[API]).await,
        "refresh",
    );
    let refreshed = refresh_for(&h, &client, refresh_token, &[]).await.unwrap();
    assert_eq!(audience(&h, &refreshed), [ISSUER]);

    let service = client_credentials_for(&h, &client, &[]).await.unwrap();
    assert_eq!(audience(&h, &service), [ISSUER]);
    // And a client registered for none at all.
    let tokens = h.tokens(&h.confidential).await;
    assert_eq!(audience(&h, &tokens), [ISSUER]);
}

async fn a_refresh_narrows_within_the_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[API, FILES]).await;
    let tokens = exchange_for(&h, &client, &code, &[]).await.unwrap();
    let refresh_token = str_field(&tokens, "refresh_token");

    let mut refused: Vec<&str> = vec![UNREGISTERED, ISSUER];
    refused.extend(MALFORMED);
    for resource in refused {
        assert_invalid_target(
            refresh_for(&h, &client, refresh_token, &[FILES, resource]).await,
            resource,
        );
    }
    // None of the refusals used the token up.
    let narrowed = refresh_for(&h, &client, refresh_token, &[FILES])
        .await
        .unwrap();
    assert_eq!(audience(&h, &narrowed), [FILES]);
    let both = refresh_for(
        &h,
        &client,
        str_field(&narrowed, "refresh_token"),
        &[FILES, API],
    )
    .await
    .unwrap();
    assert_eq!(audience(&h, &both), [FILES, API]);
}

async fn client_credentials_tokens_are_for_registered_resources(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let body = client_credentials_for(&h, &client, &[API]).await.unwrap();
    assert_eq!(audience(&h, &body), [API]);
    assert_eq!(body["scope"], "profile email api:read");
    // The API may introspect it instead of verifying it itself.
    let introspected = h.introspect(str_field(&body, "access_token"), t0()).await;
    assert_eq!(
        (&introspected["active"], &introspected["aud"]),
        (&Value::Bool(true), &Value::from(API)),
        "{introspected}"
    );
    let body = client_credentials_for(&h, &client, &[API, FILES, API])
        .await
        .unwrap();
    assert_eq!(audience(&h, &body), [API, FILES]);

    let mut refused: Vec<&str> = vec![UNREGISTERED, "https://api.example.test"];
    refused.extend(MALFORMED);
    for resource in refused {
        assert_invalid_target(
            client_credentials_for(&h, &client, &[API, resource]).await,
            resource,
        );
    }
    // A client registered for no resource may name none.
    assert_invalid_target(
        client_credentials_for(&h, &h.confidential, &[API]).await,
        "client without resources",
    );
}

async fn a_device_code_grants_the_resources_of_its_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let tv = h.client(NewClient {
        name: "Kitchen TV".into(),
        client_type: Some(ClientType::Public),
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: ["openid", "offline_access"].map(String::from).to_vec(),
        resources: vec![API.into(), FILES.into()],
        ..NewClient::default()
    });
    let started = h
        .authz
        .device_authorization(
            &tv.form(&[
                ("scope", "openid offline_access"),
                ("resource", API),
                ("resource", FILES),
            ]),
            tv.credentials(),
            t0(),
        )
        .await
        .unwrap();
    let outcome = h
        .authz
        .verify_device(
            str_field(&started, "user_code"),
            &h.session,
            DeviceAction::Approve,
            t0(),
        )
        .await
        .unwrap();
    assert!(matches!(outcome, DeviceOutcome::Approved(_)), "{outcome:?}");
    let poll = |resources: &[&str]| {
        let mut form = vec![
            ("grant_type", DEVICE_GRANT),
            ("device_code", str_field(&started, "device_code")),
        ];
        form.extend(resources.iter().map(|resource| ("resource", *resource)));
        let form = tv.form(&form);
        let authz = &h.authz;
        let credentials = tv.credentials();
        async move { authz.token(&form, credentials, t0()).await }
    };
    // Refusals come before the approval is redeemed.
    for resource in [UNREGISTERED, MALFORMED[0], MALFORMED[2]] {
        assert_invalid_target(poll(&[resource]).await, resource);
    }
    let tokens = poll(&[FILES]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [FILES]);
    // Redeemed once, whatever the resource.
    let err = poll(&[]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    // The refresh token holds both resources.
    let refreshed = refresh_for(&h, &tv, str_field(&tokens, "refresh_token"), &[])
        .await
        .unwrap();
    assert_eq!(audience(&h, &refreshed), [API, FILES]);
}

async fn a_token_for_another_resource_is_refused_by_gatehouse_apis(backend: Backend) {
    let h = Harness::new(backend).await;
    let client = resource_client(&h);
    let code = code_for(&h, &client, &[API]).await;
    let tokens = exchange_for(&h, &client, &code, &[]).await.unwrap();
    let access = str_field(&tokens, "access_token");
    assert_eq!(jwt_payload(access)["scope"], "openid offline_access");

    // RFC 6750 §3.1 / RFC 9068 §4: valid, but not for Gatehouse.
    let err = h.authz.userinfo(access, t0()).await.unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken), "{err}");
    assert_eq!(err.status(), 401);
    // The account and admin APIs share the rule (the server's extractors call these).
    let err = h
        .authz
        .authenticate_bearer(access, "openid", t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken));
    let err = h
        .authz
        .authenticate_subject(access, "openid", t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken));

    // A service account's token for an API is not one for the admin API either; its token for
    // the issuer still is.
    let service = client_credentials_for(&h, &client, &[API]).await.unwrap();
    let err = h
        .authz
        .authenticate_subject(str_field(&service, "access_token"), "api:read", t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken));
    let service = client_credentials_for(&h, &client, &[]).await.unwrap();
    let subject = h
        .authz
        .authenticate_subject(str_field(&service, "access_token"), "api:read", t0())
        .await
        .unwrap();
    assert!(
        matches!(&subject, BearerSubject::ServiceAccount { client_id, .. } if client_id == client.id()),
        "{subject:?}"
    );
}

async fn a_token_that_names_the_issuer_too_still_works_at_userinfo(backend: Backend) {
    let h = Harness::new(backend).await;
    // A client may register Gatehouse itself as one of its resources.
    let client = h.client(NewClient {
        name: "Dashboard".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "offline_access"].map(String::from).to_vec(),
        resources: vec![API.into(), ISSUER.into()],
        ..NewClient::default()
    });
    let code = code_for(&h, &client, &[API, ISSUER]).await;
    let tokens = exchange_for(&h, &client, &code, &[]).await.unwrap();
    assert_eq!(audience(&h, &tokens), [API, ISSUER]);
    let claims = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap();
    assert_eq!(claims["sub"], h.user.id.to_string());

    // Narrowed to the API alone, it is not for Gatehouse any more.
    let refreshed = refresh_for(&h, &client, str_field(&tokens, "refresh_token"), &[API])
        .await
        .unwrap();
    let err = h
        .authz
        .userinfo(str_field(&refreshed, "access_token"), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken));
}
