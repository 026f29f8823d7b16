//! `/introspect` (RFC 7662).

use chrono::Duration;
use gatehouse_authz::{ClientCredentials, ErrorCode};
use serde_json::json;

use crate::support::*;

backend_tests!(
    active_access_token_reports_its_claims,
    active_refresh_token_reports_its_grant,
    anything_invalid_is_just_inactive,
    introspection_requires_a_confidential_client,
    token_type_hint_only_orders_the_lookup,
);

async fn active_access_token_reports_its_claims(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.public).await;
    let access = str_field(&tokens, "access_token");
    let body = h.introspect(access, t0()).await;
    let claims = jwt_payload(access);
    assert_eq!(
        body,
        json!({
            "active": true,
            "scope": "openid profile email",
            "client_id": h.public.id(),
            "username": "alice",
            "token_type": "Bearer",
            "exp": t0().timestamp() + 600,
            "iat": t0().timestamp(),
            "sub": h.user.id.to_string(),
            "aud": ISSUER,
            "iss": ISSUER,
            "jti": claims["jti"],
        })
    );
}

async fn active_refresh_token_reports_its_grant(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.public).await;
    let body = h
        .introspect(str_field(&tokens, "refresh_token"), t0())
        .await;
    assert_eq!(
        body,
        json!({
            "active": true,
            "scope": "openid profile email",
            "client_id": h.public.id(),
            "username": "alice",
            "sub": h.user.id.to_string(),
            "exp": t0().timestamp() + 30 * 24 * 3600,
            "iat": t0().timestamp(),
            "token_type": "refresh_token",
        })
    );
}

async fn anything_invalid_is_just_inactive(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let access = str_field(&tokens, "access_token");
    let refresh = str_field(&tokens, "refresh_token");
    let inactive = json!({ "active": false });

    for garbage in ["garbage", "a.b.c", "", " "] {
        if garbage.is_empty() {
            continue;
        }
        assert_eq!(h.introspect(garbage, t0()).await, inactive, "{garbage:?}");
    }
    // An ID token is not an access token.
    assert_eq!(
        h.introspect(str_field(&tokens, "id_token"), t0()).await,
        inactive
    );
    // Expired.
    let later = t0() + Duration::minutes(11);
    assert_eq!(h.introspect(access, later).await, inactive);
    let much_later = t0() + Duration::days(31);
    assert_eq!(h.introspect(refresh, much_later).await, inactive);
    // Revoked.
    h.authz
        .revoke(
            &params(&[("token", access)]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(h.introspect(access, t0()).await, inactive);
}

async fn introspection_requires_a_confidential_client(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    let access = str_field(&tokens, "access_token");

    let err = h
        .authz
        .introspect(&params(&[("token", access)]), ClientCredentials::None, t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    assert_eq!(err.status(), 401);
    assert!(err.www_authenticate().is_some());

    let err = h
        .authz
        .introspect(
            &h.public.form(&[("token", access)]),
            ClientCredentials::None,
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);

    let err = h
        .authz
        .introspect(&params(&[]), h.confidential.credentials(), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
}

async fn token_type_hint_only_orders_the_lookup(backend: Backend) {
    let h = Harness::new(backend).await;
    let tokens = h.tokens(&h.confidential).await;
    for (token, hint) in [
        (str_field(&tokens, "access_token"), "refresh_token"),
        (str_field(&tokens, "refresh_token"), "access_token"),
        (str_field(&tokens, "refresh_token"), "something_else"),
    ] {
        let body = h
            .authz
            .introspect(
                &params(&[("token", token), ("token_type_hint", hint)]),
                h.confidential.credentials(),
                t0(),
            )
            .await
            .unwrap();
        assert_eq!(body["active"], true, "{hint}");
    }
}
