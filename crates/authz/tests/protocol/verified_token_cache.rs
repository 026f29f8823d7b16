//! The cache of verified access tokens (`verified_tokens` in the crate): a token introspected
//! or presented at userinfo again skips its signature check, and nothing else. Each test first
//! uses the token once, so that every later call is a cache hit, then changes what makes the
//! token invalid and expects introspection (`{"active": false}`, RFC 7662 §2.2) and userinfo
//! (`invalid_token`, RFC 6750 §3.1) to say so.

use chrono::Duration;
use gatehouse_authz::{BearerError, ErrorCode};
use serde_json::{Value, json};

use crate::support::*;

backend_tests!(
    a_revoked_token_is_inactive_while_cached,
    a_cached_token_expires_at_its_exp,
    a_token_of_an_ended_grant_is_inactive_while_cached,
    a_token_of_a_locked_user_is_inactive_while_cached,
    a_forged_token_sharing_a_cached_tokens_prefix_is_not_confused,
);

/// A user's access token from a code flow, introspected and used at userinfo once (so cached).
async fn cached_access_token(h: &Harness) -> String {
    let tokens = h.tokens(&h.confidential).await;
    let access = str_field(&tokens, "access_token").to_owned();
    assert_eq!(h.introspect(&access, t0()).await["active"], true);
    h.authz.userinfo(&access, t0()).await.unwrap();
    // Served from the cache from here on: still active, the same claims.
    let again = h.introspect(&access, t0()).await;
    assert_eq!(again["active"], true);
    assert_eq!(again["jti"], jwt_payload(&access)["jti"]);
    access
}

fn inactive() -> Value {
    json!({ "active": false })
}

fn assert_invalid_token(result: Result<Value, BearerError>) {
    let err = result.unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken), "{err}");
}

async fn a_revoked_token_is_inactive_while_cached(backend: Backend) {
    let h = Harness::new(backend).await;
    let access = cached_access_token(&h).await;
    h.authz
        .revoke(
            &params(&[("token", &access)]),
            h.confidential.credentials(),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(h.introspect(&access, t0()).await, inactive());
    assert_invalid_token(h.authz.userinfo(&access, t0()).await);
}

async fn a_cached_token_expires_at_its_exp(backend: Backend) {
    let h = Harness::new(backend).await;
    let access = cached_access_token(&h).await;
    let exp = jwt_payload(&access)["exp"].as_i64().unwrap();
    let last_second = t0() + Duration::seconds(exp - t0().timestamp() - 1);
    assert_eq!(h.introspect(&access, last_second).await["active"], true);
    h.authz.userinfo(&access, last_second).await.unwrap();
    let at_exp = last_second + Duration::seconds(1);
    assert_eq!(h.introspect(&access, at_exp).await, inactive());
    assert_invalid_token(h.authz.userinfo(&access, at_exp).await);
    // Before its `iat` it is not valid either, cached or not.
    let before_iat = t0() - Duration::seconds(1);
    assert_eq!(h.introspect(&access, before_iat).await, inactive());
}

async fn a_token_of_an_ended_grant_is_inactive_while_cached(backend: Backend) {
    let h = Harness::new(backend).await;
    let access = cached_access_token(&h).await;
    // Signing out of the session ends its grants, and with them their access tokens.
    h.authz
        .end_session_grants(SID, t0().timestamp())
        .await
        .unwrap();
    assert_eq!(h.introspect(&access, t0()).await, inactive());
    assert_invalid_token(h.authz.userinfo(&access, t0()).await);
}

async fn a_token_of_a_locked_user_is_inactive_while_cached(backend: Backend) {
    let h = Harness::new(backend).await;
    let access = cached_access_token(&h).await;
    gatehouse_identity::admin::users::lock_user(&h.db, h.user.id, None, t0())
        .unwrap()
        .unwrap();
    assert_eq!(h.introspect(&access, t0()).await, inactive());
    assert_invalid_token(h.authz.userinfo(&access, t0()).await);
}

async fn a_forged_token_sharing_a_cached_tokens_prefix_is_not_confused(backend: Backend) {
    let h = Harness::new(backend).await;
    let access = cached_access_token(&h).await;
    let other = str_field(&h.tokens(&h.confidential).await, "access_token").to_owned();
    let (signing_input, _) = access.rsplit_once('.').unwrap();
    let (_, other_signature) = other.rsplit_once('.').unwrap();
    let (header, _) = access.split_once('.').unwrap();
    let forged = [
        // The cached token's header and claims with another token's (valid) signature.
        format!("{signing_input}.{other_signature}"),
        // The cached token's header and claims without a signature.
        format!("{signing_input}."),
        // The cached token with its last signature character changed.
        format!(
            "{}{}",
            &access[..access.len() - 1],
            if access.ends_with('A') { 'B' } else { 'A' }
        ),
        // The cached token with something after it.
        format!("{access}.x"),
        format!("{access}A"),
    ];
    for token in forged {
        assert_eq!(h.introspect(&token, t0()).await, inactive(), "{token}");
        assert_invalid_token(h.authz.userinfo(&token, t0()).await);
    }
    // Another valid token sharing the cached token's header is still its own token.
    assert!(other.starts_with(&format!("{header}.")));
    assert_eq!(
        h.introspect(&other, t0()).await["jti"],
        jwt_payload(&other)["jti"]
    );
}
