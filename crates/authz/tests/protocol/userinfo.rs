//! `/userinfo` (OIDC Core §5.3) and its bearer errors (RFC 6750 §3).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use gatehouse_authz::ErrorCode;
use serde_json::json;

use crate::support::*;

backend_tests!(
    claims_follow_the_scope,
    missing_token_is_a_bare_401,
    tampered_expired_and_unsigned_tokens_are_invalid_token,
    token_without_openid_is_insufficient_scope,
    user_must_still_be_active,
);

async fn claims_follow_the_scope(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let body = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap();
    assert_eq!(
        body,
        json!({
            "sub": h.user.id.to_string(),
            "preferred_username": "alice",
            "name": "alice",
            "email": "alice@example.com",
            "email_verified": false,
        })
    );

    let code = h.code_with(&h.confidential, &[("scope", "openid")]).await;
    let tokens = h.exchange(&h.confidential, &code).await.unwrap();
    let body = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap();
    assert_eq!(body, json!({ "sub": h.user.id.to_string() }));
}

async fn missing_token_is_a_bare_401(backend: Backend) {
    let h = Harness::new(backend).await;
    let err = h.authz.userinfo("", t0()).await.unwrap_err();
    assert_eq!(err.code, None);
    assert_eq!(err.status(), 401);
    assert_eq!(err.www_authenticate(), "Bearer realm=\"gatehouse\"");
}

fn assert_invalid_token(err: &gatehouse_authz::BearerError) {
    assert_eq!(err.code, Some(ErrorCode::InvalidToken), "{err}");
    assert_eq!(err.status(), 401);
    assert!(
        err.www_authenticate()
            .starts_with("Bearer realm=\"gatehouse\", error=\"invalid_token\""),
        "{}",
        err.www_authenticate()
    );
    assert_eq!(err.body()["error"], "invalid_token");
}

async fn tampered_expired_and_unsigned_tokens_are_invalid_token(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let access = str_field(&tokens, "access_token");
    let mut parts = access.split('.');
    let (header, _payload, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );

    // Another user's id under the original signature.
    let mut claims = jwt_payload(access);
    claims["sub"] = json!(uuid::Uuid::new_v4().to_string());
    let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let tampered = format!("{header}.{forged_payload}.{signature}");
    assert_invalid_token(&h.authz.userinfo(&tampered, t0()).await.unwrap_err());

    // alg: none, no signature.
    let none_header = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&json!({"alg": "none", "typ": "at+jwt"})).unwrap());
    let unsigned = format!("{none_header}.{forged_payload}.");
    assert_invalid_token(&h.authz.userinfo(&unsigned, t0()).await.unwrap_err());

    // An ID token is not an access token (typ JWT, aud = client).
    assert_invalid_token(
        &h.authz
            .userinfo(str_field(&tokens, "id_token"), t0())
            .await
            .unwrap_err(),
    );
    // Expired, and garbage.
    assert_invalid_token(
        &h.authz
            .userinfo(access, t0() + Duration::minutes(10))
            .await
            .unwrap_err(),
    );
    assert_invalid_token(&h.authz.userinfo("garbage", t0()).await.unwrap_err());
}

async fn token_without_openid_is_insufficient_scope(backend: Backend) {
    let h = Harness::new(backend).await;
    let code = h
        .code_with(&h.confidential, &[("scope", "profile email")])
        .await;
    let tokens = h.exchange(&h.confidential, &code).await.unwrap();
    let err = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InsufficientScope));
    assert_eq!(err.status(), 403);
    assert!(
        err.www_authenticate()
            .contains("error=\"insufficient_scope\"")
    );
}

async fn user_must_still_be_active(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let failed = h
        .accounts
        .authenticate(
            "alice",
            "wrong-password-here",
            &gatehouse_identity::RequestContext::default(),
            t0(),
        )
        .await;
    assert!(failed.is_err());
    assert_invalid_token(
        &h.authz
            .userinfo(str_field(&tokens, "access_token"), t0())
            .await
            .unwrap_err(),
    );
}
