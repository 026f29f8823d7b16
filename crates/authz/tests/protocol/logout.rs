//! RP-Initiated Logout 1.0 request validation.

use chrono::Duration;
use gatehouse_authz::LogoutRequest;
use gatehouse_tokens::{Algorithm, IdTokenClaims, SigningKey, mint_id_token};
use serde_json::Map;

use crate::support::*;

backend_tests!(
    valid_hint_and_registered_redirect_with_state,
    unregistered_or_clientless_redirects_are_refused,
    expired_hints_are_accepted,
    hints_from_another_issuer_or_key_are_refused,
    client_id_must_agree_with_the_hint,
);

async fn id_token(h: &Harness) -> String {
    let tokens = h.tokens(&h.confidential).await;
    str_field(&tokens, "id_token").to_owned()
}

async fn valid_hint_and_registered_redirect_with_state(backend: Backend) {
    let h = Harness::new(backend).await;
    let hint = id_token(&h).await;
    let request = h
        .authz
        .logout_request(
            &params(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", LOGOUT_REDIRECT),
                ("state", "xyz 1"),
                ("ui_locales", "fr"),
            ]),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(
        request,
        LogoutRequest {
            client_id: Some(h.confidential.id().to_owned()),
            redirect: Some(format!("{LOGOUT_REDIRECT}?state=xyz+1")),
            hinted_subject: Some(h.user.id.to_string()),
            hinted_sid: Some(SID.to_owned()),
        }
    );

    // client_id instead of a hint works for the redirect too; no state, no query.
    let request = h
        .authz
        .logout_request(
            &params(&[
                ("client_id", h.confidential.id()),
                ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ]),
            t0(),
        )
        .await
        .unwrap();
    assert_eq!(request.redirect.as_deref(), Some(LOGOUT_REDIRECT));
    assert_eq!(request.hinted_subject, None);

    // Nothing at all is a plain logout.
    let request = h.authz.logout_request(&params(&[]), t0()).await.unwrap();
    assert_eq!(request.redirect, None);
    assert_eq!(request.client_id, None);
}

async fn unregistered_or_clientless_redirects_are_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    let hint = id_token(&h).await;
    for redirect in [
        REDIRECT,
        "https://evil.example/",
        "https://rp.example.test/logged-out/",
    ] {
        let err = h
            .authz
            .logout_request(
                &params(&[
                    ("id_token_hint", &hint),
                    ("post_logout_redirect_uri", redirect),
                ]),
                t0(),
            )
            .await
            .unwrap_err();
        assert!(err.description.contains("not registered"), "{err}");
    }
    let err = h
        .authz
        .logout_request(
            &params(&[("post_logout_redirect_uri", LOGOUT_REDIRECT)]),
            t0(),
        )
        .await
        .unwrap_err();
    assert!(err.description.contains("requires"), "{err}");
    let err = h
        .authz
        .logout_request(
            &params(&[
                ("client_id", "nobody"),
                ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ]),
            t0(),
        )
        .await
        .unwrap_err();
    assert!(err.description.contains("unknown"), "{err}");
}

async fn expired_hints_are_accepted(backend: Backend) {
    let h = Harness::new(backend).await;
    let hint = id_token(&h).await;
    let request = h
        .authz
        .logout_request(
            &params(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", LOGOUT_REDIRECT),
            ]),
            t0() + Duration::days(1),
        )
        .await
        .unwrap();
    assert_eq!(request.hinted_subject, Some(h.user.id.to_string()));
    assert!(request.redirect.is_some());
}

fn claims(issuer: &str, client_id: &str) -> IdTokenClaims {
    IdTokenClaims {
        iss: issuer.to_owned(),
        sub: "someone".to_owned(),
        aud: vec![client_id.to_owned()],
        iat: t0().timestamp(),
        exp: t0().timestamp() + 600,
        auth_time: None,
        nonce: None,
        at_hash: None,
        amr: None,
        sid: None,
        azp: None,
        extra: Map::new(),
    }
}

async fn hints_from_another_issuer_or_key_are_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    let keys = h.key_set();
    let our_key = keys.active(Algorithm::RS256).unwrap();
    let other_issuer = mint_id_token(
        our_key,
        &claims("https://evil.example", h.confidential.id()),
    )
    .unwrap();
    let foreign_key = SigningKey::generate(Algorithm::ES256).unwrap();
    let foreign = mint_id_token(&foreign_key, &claims(ISSUER, h.confidential.id())).unwrap();
    for hint in [other_issuer.as_str(), foreign.as_str(), "garbage"] {
        let err = h
            .authz
            .logout_request(&params(&[("id_token_hint", hint)]), t0())
            .await
            .unwrap_err();
        assert!(err.description.contains("id_token_hint"), "{err}");
    }
    // An access token is no ID token.
    let tokens = h.tokens(&h.confidential).await;
    assert!(
        h.authz
            .logout_request(
                &params(&[("id_token_hint", str_field(&tokens, "access_token"))]),
                t0()
            )
            .await
            .is_err()
    );
}

async fn client_id_must_agree_with_the_hint(backend: Backend) {
    let h = Harness::new(backend).await;
    let hint = id_token(&h).await;
    let err = h
        .authz
        .logout_request(
            &params(&[("id_token_hint", &hint), ("client_id", h.public.id())]),
            t0(),
        )
        .await
        .unwrap_err();
    assert!(err.description.contains("client_id"), "{err}");
    let ok = h
        .authz
        .logout_request(
            &params(&[("id_token_hint", &hint), ("client_id", h.confidential.id())]),
            t0(),
        )
        .await;
    assert!(ok.is_ok());
}
