//! `grant_type=refresh_token`: rotation, replay detection, scope narrowing (RFC 6749 §6,
//! RFC 9700 §4.14.2, OIDC Core §12).

use chrono::Duration;
use gatehouse_authz::ErrorCode;
use gatehouse_tokens::verify_id_token;

use crate::support::*;

backend_tests!(
    refresh_rotates_and_the_old_token_is_refused,
    reuse_revokes_the_whole_family,
    refresh_may_narrow_but_not_widen_the_scope,
    refresh_issues_a_new_id_token_without_nonce,
    refresh_tokens_are_bound_to_their_client,
    refresh_tokens_expire_and_slide,
    refresh_requires_an_active_user,
    rotation_keeps_one_record_per_family,
    forged_and_foreign_tokens_are_refused_without_harm,
);

async fn refresh_rotates_and_the_old_token_is_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let rt1 = str_field(&first, "refresh_token");
    let second = h.refresh(&h.confidential, rt1).await.unwrap();
    let rt2 = str_field(&second, "refresh_token");
    assert_ne!(rt1, rt2);
    assert_eq!(second["token_type"], "Bearer");
    assert_eq!(second["scope"], "openid profile email");
    assert_ne!(second["access_token"], first["access_token"]);

    // The rotated-away token is refused (and that reuse kills the family, see below).
    let err = h.refresh(&h.confidential, rt1).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn reuse_revokes_the_whole_family(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let rt1 = str_field(&first, "refresh_token").to_owned();
    let second = h.refresh(&h.confidential, &rt1).await.unwrap();
    let rt2 = str_field(&second, "refresh_token").to_owned();
    let access2 = str_field(&second, "access_token").to_owned();

    assert!(h.refresh(&h.confidential, &rt1).await.is_err());
    // The newest token of the family died with it, and so did its access token.
    let err = h.refresh(&h.confidential, &rt2).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    assert_eq!(h.introspect(&rt2, t0()).await["active"], false);
    assert_eq!(h.introspect(&access2, t0()).await["active"], false);

    // Another login's family is untouched.
    let other = h.tokens(&h.confidential).await;
    assert!(
        h.refresh(&h.confidential, str_field(&other, "refresh_token"))
            .await
            .is_ok()
    );
}

async fn refresh_may_narrow_but_not_widen_the_scope(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let rt1 = str_field(&first, "refresh_token");

    let err = h
        .refresh_at(&h.confidential, rt1, &[("scope", "openid api:read")], t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidScope);

    // The refused request did not use up the token.
    let narrowed = h
        .refresh_at(&h.confidential, rt1, &[("scope", "email")], t0())
        .await
        .unwrap();
    assert_eq!(narrowed["scope"], "email");
    assert!(narrowed.get("id_token").is_none());

    // The new refresh token keeps the original scope (RFC 6749 §6).
    let again = h
        .refresh(&h.confidential, str_field(&narrowed, "refresh_token"))
        .await
        .unwrap();
    assert_eq!(again["scope"], "openid profile email");
}

async fn refresh_issues_a_new_id_token_without_nonce(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let later = t0() + Duration::minutes(30);
    let second = h
        .refresh_at(
            &h.confidential,
            str_field(&first, "refresh_token"),
            &[],
            later,
        )
        .await
        .unwrap();
    let claims = verify_id_token(
        str_field(&second, "id_token"),
        &h.key_set(),
        &h.validation(Some(h.confidential.id()), later),
    )
    .unwrap();
    assert_eq!(claims.nonce, None);
    assert_eq!(claims.auth_time, Some(h.session.auth_time));
    assert_eq!(claims.iat, later.timestamp());
    assert_eq!(claims.sub, h.user.id.to_string());
    assert_eq!(claims.sid.as_deref(), Some(SID));
}

async fn refresh_tokens_are_bound_to_their_client(backend: Backend) {
    let h = Harness::new(backend).await;
    let public = h.tokens(&h.public).await;
    let rt = str_field(&public, "refresh_token");
    let err = h.refresh(&h.confidential, rt).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    // The owner can still use it.
    assert!(h.refresh(&h.public, rt).await.is_ok());

    let err = h.refresh(&h.public, "garbage").await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
    let err = h
        .authz
        .token(
            &h.public.form(&[("grant_type", "refresh_token")]),
            h.public.credentials(),
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest);
}

async fn refresh_tokens_expire_and_slide(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let rt1 = str_field(&first, "refresh_token");
    // 29 days later the token is still good, and its successor gets a fresh 30 days.
    let day29 = t0() + Duration::days(29);
    let second = h
        .refresh_at(&h.confidential, rt1, &[], day29)
        .await
        .unwrap();
    let rt2 = str_field(&second, "refresh_token");
    let day58 = t0() + Duration::days(58);
    let third = h
        .refresh_at(&h.confidential, rt2, &[], day58)
        .await
        .unwrap();
    let rt3 = str_field(&third, "refresh_token");
    // ... but not past its own 30 days.
    let day89 = t0() + Duration::days(89);
    let err = h
        .refresh_at(&h.confidential, rt3, &[], day89)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn refresh_requires_an_active_user(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
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
    let err = h
        .refresh(&h.confidential, str_field(&first, "refresh_token"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant);
}

async fn rotation_keeps_one_record_per_family(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let after_exchange = h.grant_keys();
    let families: Vec<&String> = after_exchange
        .iter()
        .filter(|key| key.starts_with("rtf:"))
        .collect();
    assert_eq!(families.len(), 1, "{after_exchange:?}");
    assert_eq!(after_exchange.len(), 1, "{after_exchange:?}");

    // Besides the store's epoch and the session and user indexes, the code exchange left
    // exactly one key: the family (the code is gone, no tombstone).
    // A hundred rotations later the store holds exactly the same: the family record is
    // rewritten in place, with no per-rotation tombstone.
    let mut token = str_field(&first, "refresh_token").to_owned();
    for _ in 0..100 {
        let next = h.refresh(&h.confidential, &token).await.unwrap();
        token = str_field(&next, "refresh_token").to_owned();
    }
    assert_eq!(h.grant_keys(), after_exchange);

    // Each rotation's access token names the grant, and the grant keys the family.
    let claims = jwt_payload(str_field(&first, "access_token"));
    assert_eq!(
        families[0],
        &format!("rtf:{}", claims["grant_id"].as_str().unwrap())
    );

    // Reuse revokes: the family record goes, the grant's revocation marker comes.
    let rotated_away = str_field(&first, "refresh_token");
    assert!(h.refresh(&h.confidential, rotated_away).await.is_err());
    let after_reuse = h.store_keys();
    assert!(
        !after_reuse.iter().any(|key| key.starts_with("rtf:")),
        "{after_reuse:?}"
    );
    assert!(
        after_reuse.contains(&format!(
            "grant_revoked:{}",
            claims["grant_id"].as_str().unwrap()
        )),
        "{after_reuse:?}"
    );
}

async fn forged_and_foreign_tokens_are_refused_without_harm(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.tokens(&h.confidential).await;
    let live = str_field(&first, "refresh_token").to_owned();

    // The same shape with the generation bumped and the MAC left alone, a token of the right
    // length from nowhere, and a truncated token: none is ours.
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = engine.decode(&live).unwrap();
    bytes[23] ^= 1;
    let forged_generation = engine.encode(&bytes);
    let random = engine.encode([7u8; 56]);
    for forged in [forged_generation.as_str(), random.as_str(), &live[..74]] {
        let err = h.refresh(&h.confidential, forged).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidGrant, "{forged}");
        assert_eq!(h.introspect(forged, t0()).await["active"], false);
    }
    // A forgery naming the family did not revoke it: the live token still works.
    assert!(h.refresh(&h.confidential, &live).await.is_ok());
}
