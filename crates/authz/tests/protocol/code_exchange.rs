//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3) and
//! client authentication at the token endpoint (RFC 6749 §2.3.1, §5.2).

use chrono::Duration;
use gatehouse_authz::{ClientCredentials, ErrorCode, OAuthError};
use gatehouse_tokens::{
    AccessTokenClaims, Algorithm, at_hash, verify_access_token, verify_id_token,
};
use serde_json::Value;

use crate::support::*;

backend_tests!(
    code_flow_with_pkce_returns_the_documented_token_response,
    id_token_carries_the_login_and_verifies,
    id_token_claims_follow_the_scope,
    public_client_exchange_uses_es256_id_tokens,
    code_reuse_is_refused_and_revokes_the_first_exchange,
    wrong_or_missing_verifier_is_invalid_grant,
    verifier_without_challenge_is_invalid_grant,
    expired_code_is_invalid_grant,
    code_of_another_client_or_redirect_is_invalid_grant,
    missing_parameters_do_not_burn_the_code,
    wrong_secret_is_invalid_client_with_a_challenge,
    client_authentication_rules,
    grant_type_must_be_known,
    repeated_token_parameters_are_invalid_request,
);

async fn code_flow_with_pkce_returns_the_documented_token_response(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h.tokens(&h.confidential).await;
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "id_token",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["scope"], "openid profile email");
    // family (16 bytes) ‖ generation (8) ‖ HMAC-SHA256 (32), base64url.
    assert_eq!(str_field(&body, "refresh_token").len(), 75);

    let access = str_field(&body, "access_token");
    assert_eq!(jwt_header(access)["typ"], "at+jwt");
    assert_eq!(jwt_header(access)["alg"], "ES256");
    let claims =
        verify_access_token(access, &h.key_set(), &h.validation(Some(ISSUER), t0())).unwrap();
    assert_eq!(claims.sub, h.user.id.to_string());
    assert_eq!(claims.aud, [ISSUER]);
    assert_eq!(claims.client_id, h.confidential.id());
    assert_eq!(claims.scope, "openid profile email");
    assert_eq!(claims.iat, t0().timestamp());
    assert_eq!(claims.exp, t0().timestamp() + 600);
    assert_eq!(claims.auth_time, Some(h.session.auth_time));
    assert_eq!(claims.sid.as_deref(), Some(SID));
    assert!(!claims.jti.is_empty());
    assert_eq!(claims.grant_id.as_deref().map(str::len), Some(22));
}

async fn id_token_carries_the_login_and_verifies(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h.tokens(&h.confidential).await;
    let id_token = str_field(&body, "id_token");
    let client_id = h.confidential.id();
    let claims =
        verify_id_token(id_token, &h.key_set(), &h.validation(Some(client_id), t0())).unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "RS256");
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, h.user.id.to_string());
    assert_eq!(claims.aud, [client_id]);
    assert_eq!(claims.azp.as_deref(), Some(client_id));
    assert_eq!(claims.nonce.as_deref(), Some(NONCE));
    assert_eq!(claims.auth_time, Some(h.session.auth_time));
    assert_eq!(claims.sid.as_deref(), Some(SID));
    assert_eq!(claims.amr, Some(vec!["pwd".to_owned()]));
    assert_eq!(
        claims.at_hash.as_deref(),
        Some(at_hash(str_field(&body, "access_token"), Algorithm::RS256).as_str())
    );
    // Integer NumericDates (josekit would write floats).
    let raw = jwt_payload(id_token);
    for name in ["iat", "exp", "auth_time"] {
        assert!(raw[name].is_i64(), "{name} is {}", raw[name]);
    }
    assert_eq!(
        raw["exp"].as_i64().unwrap() - raw["iat"].as_i64().unwrap(),
        600
    );
}

async fn id_token_claims_follow_the_scope(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h.tokens(&h.confidential).await;
    let claims = jwt_payload(str_field(&body, "id_token"));
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["name"], "alice");

    let code = h
        .code_with(&h.confidential, &[("scope", "openid"), ("nonce", "")])
        .await;
    let body = h.exchange(&h.confidential, &code).await.unwrap();
    let claims = jwt_payload(str_field(&body, "id_token"));
    for absent in [
        "email",
        "email_verified",
        "preferred_username",
        "name",
        "nonce",
    ] {
        assert!(claims.get(absent).is_none(), "{absent} in {claims}");
    }

    // Without openid it is plain OAuth: no ID token.
    let code = h.code_with(&h.confidential, &[("scope", "api:read")]).await;
    let body = h.exchange(&h.confidential, &code).await.unwrap();
    assert!(body.get("id_token").is_none());
    assert_eq!(body["scope"], "api:read");
}

async fn public_client_exchange_uses_es256_id_tokens(backend: Backend) {
    let h = Harness::new(backend).await;
    let body = h.tokens(&h.public).await;
    let id_token = str_field(&body, "id_token");
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    assert_eq!(
        jwt_payload(id_token)["at_hash"],
        at_hash(str_field(&body, "access_token"), Algorithm::ES256)
    );
    assert!(body.get("refresh_token").is_some());
}

async fn code_reuse_is_refused_and_revokes_the_first_exchange(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.confidential).await;
    let first = h.exchange(&h.confidential, &code).await.unwrap();
    let access = str_field(&first, "access_token");
    let refresh = str_field(&first, "refresh_token");
    assert_eq!(h.introspect(access, t0()).await["active"], true);

    let second = h.exchange(&h.confidential, &code).await.unwrap_err();
    assert_eq!(second.code, ErrorCode::InvalidGrant);

    let claims: AccessTokenClaims = serde_json::from_value(jwt_payload(access)).unwrap();
    assert!(h.authz.is_revoked(&claims).await.unwrap());
    assert_eq!(h.introspect(access, t0()).await["active"], false);
    let refreshed = h.refresh(&h.confidential, refresh).await.unwrap_err();
    assert_eq!(refreshed.code, ErrorCode::InvalidGrant);
}

async fn wrong_or_missing_verifier_is_invalid_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let wrong = "x".repeat(43);
    for verifier in [wrong.as_str(), "", "short"] {
        let code = h.code(&h.public).await;
        let err = h
            .authz
            .token(
                &h.public.form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ]),
                ClientCredentials::None,
                t0(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant, "{verifier:?}: {err}");
    }
}

async fn verifier_without_challenge_is_invalid_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h
        .code_with(
            &h.confidential,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )
        .await;
    let err = h.exchange(&h.confidential, &code).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);

    // Without a challenge and without a verifier, a confidential client succeeds.
    let code = h
        .code_with(
            &h.confidential,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        )
        .await;
    let ok = h
        .authz
        .token(
            &params(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ]),
            h.confidential.credentials(),
            t0(),
        )
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

async fn expired_code_is_invalid_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.confidential).await;
    let err = h
        .authz
        .token(
            &params(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ]),
            h.confidential.credentials(),
            t0() + Duration::seconds(61),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn code_of_another_client_or_redirect_is_invalid_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.public).await;
    let err = h.exchange(&h.confidential, &code).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);

    let code = h.code(&h.confidential).await;
    let err = h
        .authz
        .token(
            &params(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", OTHER_REDIRECT),
                ("code_verifier", VERIFIER),
            ]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);

    let err = h.exchange(&h.confidential, "not-a-code").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn missing_parameters_do_not_burn_the_code(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.confidential).await;
    for form in [
        params(&[("grant_type", "authorization_code"), ("code", &code)]),
        params(&[
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
        ]),
    ] {
        let err = h
            .authz
            .token(&form, h.confidential.credentials(), t0())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }
    assert!(h.exchange(&h.confidential, &code).await.is_ok());
}

fn assert_invalid_client(err: &OAuthError) {
    assert_eq!(err.code, ErrorCode::InvalidClient, "{err}");
    assert_eq!(err.status(), 401);
    assert_eq!(
        err.www_authenticate().as_deref(),
        Some("Basic realm=\"gatehouse\"")
    );
    assert_eq!(err.body()["error"], "invalid_client");
}

async fn wrong_secret_is_invalid_client_with_a_challenge(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.confidential).await;
    let form = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let err = h
        .authz
        .token(
            &form,
            ClientCredentials::Basic {
                client_id: h.confidential.id().to_owned(),
                client_secret: "wrong".into(),
            },
            t0(),
        )
        .await
        .unwrap_err();
    assert_invalid_client(&err);
    assert!(err.basic_attempted);
    // The failed attempt did not consume the code.
    assert!(h.exchange(&h.confidential, &code).await.is_ok());
}

async fn client_authentication_rules(backend: Backend) {
    let h = Harness::new(backend).await;
    let secret = h.confidential.secret.clone().unwrap();
    let id = h.confidential.id().to_owned();
    let grant = [("grant_type", "client_credentials")];

    // Unknown client, malformed Basic, nothing at all.
    let unknown = ClientCredentials::Basic {
        client_id: "nobody".into(),
        client_secret: secret.clone(),
    };
    for auth in [
        unknown,
        ClientCredentials::MalformedBasic,
        ClientCredentials::None,
    ] {
        let err = h
            .authz
            .token(&params(&grant), auth, t0())
            .await
            .unwrap_err();
        assert_invalid_client(&err);
    }

    // Basic and a body secret together.
    let mut form = params(&grant);
    form.push(("client_secret".into(), secret.clone()));
    let err = h
        .authz
        .token(&form, h.confidential.credentials(), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);

    // The registered method is client_secret_basic: the same secret in the body is refused.
    let mut form = params(&grant);
    form.push(("client_id".into(), id.clone()));
    form.push(("client_secret".into(), secret.clone()));
    let err = h
        .authz
        .token(&form, ClientCredentials::None, t0())
        .await
        .unwrap_err();
    assert_invalid_client(&err);
    assert!(!err.basic_attempted);

    // A confidential client cannot pass as public by omitting its secret.
    let mut form = params(&grant);
    form.push(("client_id".into(), id.clone()));
    let err = h
        .authz
        .token(&form, ClientCredentials::None, t0())
        .await
        .unwrap_err();
    assert_invalid_client(&err);

    // A client_secret_post client authenticates in the body.
    let post = h.client(gatehouse_identity::NewClient {
        name: "Post".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![gatehouse_identity::GrantType::ClientCredentials],
        scopes: vec!["api:read".into()],
        token_endpoint_auth_method: Some(
            gatehouse_identity::TokenEndpointAuthMethod::ClientSecretPost,
        ),
        ..Default::default()
    });
    let post_secret = post.secret.clone().unwrap();
    let form = params(&[
        ("grant_type", "client_credentials"),
        ("client_id", post.id()),
        ("client_secret", &post_secret),
    ]);
    let body: Value = h
        .authz
        .token(&form, ClientCredentials::None, t0())
        .await
        .unwrap();
    assert_eq!(body["scope"], "api:read");

    // A public client sending a secret is refused.
    let form = params(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", h.public.id()),
        ("client_secret", "anything"),
    ]);
    let err = h
        .authz
        .token(&form, ClientCredentials::None, t0())
        .await
        .unwrap_err();
    assert_invalid_client(&err);
}

async fn grant_type_must_be_known(backend: Backend) {
    let h = Harness::new(backend).await;
    for (grant_type, expected) in [
        ("password", ErrorCode::UnsupportedGrantType),
        (
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
            ErrorCode::UnsupportedGrantType,
        ),
        // Known (RFC 8628), but this client is not registered for it.
        (
            "urn:ietf:params:oauth:grant-type:device_code",
            ErrorCode::UnauthorizedClient,
        ),
        ("", ErrorCode::InvalidRequest),
    ] {
        let err = h
            .authz
            .token(
                &params(&[("grant_type", grant_type)]),
                h.confidential.credentials(),
                t0(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code, expected, "{grant_type}");
        assert_eq!(err.status(), 400);
        assert!(err.www_authenticate().is_none());
    }
}

async fn repeated_token_parameters_are_invalid_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h.code(&h.confidential).await;
    let form = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]);
    let err = h
        .authz
        .token(&form, h.confidential.credentials(), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
    assert_eq!(
        err.body(),
        serde_json::json!({"error": "invalid_request", "error_description": "parameter code is repeated"})
    );
}
