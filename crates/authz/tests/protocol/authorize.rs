//! `/authorize`: which failures get an error page, which redirect, and the login and consent
//! decisions (RFC 6749 §4.1.2.1, RFC 9207, OIDC Core §3.1.2).

use chrono::Duration;
use gatehouse_authz::{AuthSession, AuthorizeOutcome, ConsentDecision};
use gatehouse_identity::{NewClient, RequestContext};

use crate::support::*;

backend_tests!(
    unknown_or_missing_client_gets_an_error_page,
    bad_redirect_uri_gets_an_error_page_never_a_redirect,
    later_errors_redirect_with_state_and_iss,
    repeated_parameters_are_invalid_request,
    scope_must_be_present_and_allowed,
    public_clients_must_use_pkce,
    plain_and_malformed_challenges_are_refused,
    request_objects_are_not_supported,
    no_session_asks_for_login,
    prompt_none_without_session_is_login_required,
    prompt_login_and_max_age_force_a_new_login,
    users_no_longer_active_must_log_in_again,
    third_party_consent_is_asked_then_remembered,
    denied_consent_is_access_denied,
    prompt_none_needing_consent_is_consent_required,
    first_party_clients_skip_consent,
    prompt_consent_asks_even_when_remembered,
    success_redirect_carries_code_state_and_iss,
);

async fn unknown_or_missing_client_gets_an_error_page(backend: Backend) {
    let h = Harness::new(backend).await;
    let unknown = h.authorize_params(&h.confidential, &[("client_id", "nope")]);
    assert_error_page(
        &h.authorize(&unknown, ConsentDecision::NotAsked).await,
        "invalid_client",
    );
    let missing = h.authorize_params(&h.confidential, &[("client_id", "")]);
    assert_error_page(
        &h.authorize(&missing, ConsentDecision::NotAsked).await,
        "invalid_request",
    );
    let mut twice = h.authorize_params(&h.confidential, &[]);
    twice.push(("client_id".into(), h.public.id().to_owned()));
    assert_error_page(
        &h.authorize(&twice, ConsentDecision::NotAsked).await,
        "invalid_request",
    );
}

async fn bad_redirect_uri_gets_an_error_page_never_a_redirect(backend: Backend) {
    let h = Harness::new(backend).await;
    for redirect in [
        "",
        "https://evil.example/callback",
        "https://rp.example.test/callback/",
        "https://RP.example.test/callback",
        "https://rp.example.test/callback?x=1",
        "https://rp.example.test/callback#frag",
        "not a url",
    ] {
        let params = h.authorize_params(&h.confidential, &[("redirect_uri", redirect)]);
        let outcome = h.authorize(&params, ConsentDecision::Approved).await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage { .. }),
            "{redirect:?} gave {outcome:?}"
        );
    }
    // A URI registered for another client is just as unregistered.
    let other = h.client(NewClient {
        name: "Other".into(),
        redirect_uris: vec!["https://other.example/cb".into()],
        ..NewClient::default()
    });
    let params = h.authorize_params(
        &h.confidential,
        &[("redirect_uri", &other.client.redirect_uris[0])],
    );
    assert_error_page(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "invalid_request",
    );
}

async fn later_errors_redirect_with_state_and_iss(backend: Backend) {
    let h = Harness::new(backend).await;
    for (overrides, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (
            vec![("response_type", "code id_token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("response_mode", "fragment")], "invalid_request"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "sometimes")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("max_age", "soon")], "invalid_request"),
    ] {
        let params = h.authorize_params(&h.confidential, &overrides);
        assert_redirect_error(
            &h.authorize(&params, ConsentDecision::Approved).await,
            error,
        );
    }

    // A client not registered for the code grant.
    let machine = h.client(NewClient {
        name: "Machine".into(),
        grant_types: vec![gatehouse_identity::GrantType::ClientCredentials],
        redirect_uris: vec![REDIRECT.into()],
        ..NewClient::default()
    });
    let params = h.authorize_params(&machine, &[]);
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "unauthorized_client",
    );
}

async fn repeated_parameters_are_invalid_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let mut params = h.authorize_params(&h.confidential, &[]);
    params.push(("scope".into(), "openid".into()));
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "invalid_request",
    );

    // A repeated redirect_uri cannot be redirected to.
    let mut params = h.authorize_params(&h.confidential, &[]);
    params.push(("redirect_uri".into(), OTHER_REDIRECT.into()));
    assert_error_page(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "invalid_request",
    );

    // A repeated state is not echoed.
    let mut params = h.authorize_params(&h.confidential, &[]);
    params.push(("state".into(), "second".into()));
    let query = redirect_query(&h.authorize(&params, ConsentDecision::Approved).await);
    assert_eq!(query["error"], "invalid_request");
    assert!(!query.contains_key("state"));
    assert_eq!(query["iss"], ISSUER);
}

async fn scope_must_be_present_and_allowed(backend: Backend) {
    let h = Harness::new(backend).await;
    for scope in ["", "openid admin", "openid \"quoted\""] {
        let params = h.authorize_params(&h.public, &[("scope", scope)]);
        assert_redirect_error(
            &h.authorize(&params, ConsentDecision::Approved).await,
            "invalid_scope",
        );
    }
    let params = h.authorize_params(&h.confidential, &[("scope", "openid api:read")]);
    let query = redirect_query(&h.authorize(&params, ConsentDecision::Approved).await);
    assert!(query.contains_key("code"), "{query:?}");
}

async fn public_clients_must_use_pkce(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(
        &h.public,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "invalid_request",
    );
    // Confidential clients may omit it.
    let params = h.authorize_params(
        &h.confidential,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let query = redirect_query(&h.authorize(&params, ConsentDecision::Approved).await);
    assert!(query.contains_key("code"));
}

async fn plain_and_malformed_challenges_are_refused(backend: Backend) {
    let h = Harness::new(backend).await;
    let too_short = "a".repeat(42);
    let too_long = "a".repeat(129);
    let bad_char = format!("{}+", "a".repeat(43));
    for overrides in [
        vec![
            ("code_challenge_method", "plain"),
            ("code_challenge", VERIFIER),
        ],
        vec![("code_challenge_method", "")],
        vec![("code_challenge_method", "S512")],
        vec![("code_challenge", "")],
        vec![("code_challenge", too_short.as_str())],
        vec![("code_challenge", too_long.as_str())],
        vec![("code_challenge", bad_char.as_str())],
    ] {
        for client in [&h.public, &h.confidential] {
            let params = h.authorize_params(client, &overrides);
            assert_redirect_error(
                &h.authorize(&params, ConsentDecision::Approved).await,
                "invalid_request",
            );
        }
    }
}

async fn request_objects_are_not_supported(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[("request", "eyJhbGciOiJub25lIn0.e30.")]);
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "request_not_supported",
    );
    let params = h.authorize_params(
        &h.confidential,
        &[("request_uri", "https://rp.example.test/request.jwt")],
    );
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "request_uri_not_supported",
    );
}

async fn no_session_asks_for_login(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[]);
    let outcome = h
        .authz
        .authorize(&params, None, ConsentDecision::NotAsked, t0())
        .await;
    assert!(matches!(
        outcome,
        AuthorizeOutcome::LoginRequired { force: false }
    ));
}

async fn prompt_none_without_session_is_login_required(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[("prompt", "none")]);
    let outcome = h
        .authz
        .authorize(&params, None, ConsentDecision::NotAsked, t0())
        .await;
    assert_redirect_error(&outcome, "login_required");
}

async fn prompt_login_and_max_age_force_a_new_login(backend: Backend) {
    let h = Harness::new(backend).await;
    // The session authenticated 60 s before t0.
    for overrides in [
        vec![("prompt", "login")],
        vec![("prompt", "select_account")],
        vec![("max_age", "30")],
        vec![("max_age", "0")],
    ] {
        let params = h.authorize_params(&h.confidential, &overrides);
        let outcome = h.authorize(&params, ConsentDecision::Approved).await;
        assert!(
            matches!(outcome, AuthorizeOutcome::LoginRequired { force: true }),
            "{overrides:?} gave {outcome:?}"
        );
    }
    let params = h.authorize_params(&h.confidential, &[("max_age", "60")]);
    let query = redirect_query(&h.authorize(&params, ConsentDecision::Approved).await);
    assert!(query.contains_key("code"));

    // With prompt=none the same situation is an error for the client.
    let params = h.authorize_params(&h.confidential, &[("max_age", "30"), ("prompt", "none")]);
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "login_required",
    );
}

async fn users_no_longer_active_must_log_in_again(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[]);

    let deleted = AuthSession {
        user_id: uuid::Uuid::new_v4(),
        ..h.session.clone()
    };
    let outcome = h
        .authz
        .authorize(&params, Some(&deleted), ConsentDecision::Approved, t0())
        .await;
    assert!(matches!(
        outcome,
        AuthorizeOutcome::LoginRequired { force: true }
    ));

    // One wrong password locks the account under the harness's lockout policy.
    let bob = h.register("bob").await;
    let failed = h
        .accounts
        .authenticate(
            "bob",
            "wrong-password-here",
            &RequestContext::default(),
            t0(),
        )
        .await;
    assert!(failed.is_err());
    let locked = AuthSession {
        user_id: bob.id,
        ..h.session.clone()
    };
    let outcome = h
        .authz
        .authorize(&params, Some(&locked), ConsentDecision::Approved, t0())
        .await;
    assert!(
        matches!(outcome, AuthorizeOutcome::LoginRequired { force: true }),
        "{outcome:?}"
    );
    // Once the lock is over the session is good again.
    let later = t0() + Duration::hours(1);
    let params = h.authorize_params(&h.confidential, &[]);
    let outcome = h
        .authz
        .authorize(&params, Some(&locked), ConsentDecision::Approved, later)
        .await;
    assert!(redirect_query(&outcome).contains_key("code"));
}

async fn third_party_consent_is_asked_then_remembered(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[]);
    match h.authorize(&params, ConsentDecision::NotAsked).await {
        AuthorizeOutcome::ConsentRequired {
            client_id,
            client_name,
            scopes,
        } => {
            assert_eq!(client_id, h.confidential.id());
            assert_eq!(client_name, "Confidential RP");
            assert_eq!(scopes, ["openid", "profile", "email"]);
        }
        other => panic!("expected consent, got {other:?}"),
    }
    let approved = h.authorize(&params, ConsentDecision::Approved).await;
    assert!(redirect_query(&approved).contains_key("code"));

    // Remembered: the same or a narrower scope goes straight through.
    let again = h.authorize(&params, ConsentDecision::NotAsked).await;
    assert!(redirect_query(&again).contains_key("code"));
    let narrower = h.authorize_params(&h.confidential, &[("scope", "openid email")]);
    let again = h.authorize(&narrower, ConsentDecision::NotAsked).await;
    assert!(redirect_query(&again).contains_key("code"));

    // A wider scope asks again, listing everything requested.
    let wider = h.authorize_params(&h.confidential, &[("scope", "openid api:read")]);
    assert!(matches!(
        h.authorize(&wider, ConsentDecision::NotAsked).await,
        AuthorizeOutcome::ConsentRequired { .. }
    ));
    let consents = h.db.find_consent(h.user.id, h.confidential.id()).unwrap();
    assert_eq!(consents.unwrap().len(), 3);
}

async fn denied_consent_is_access_denied(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[]);
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Denied).await,
        "access_denied",
    );
    assert!(
        h.db.find_consent(h.user.id, h.confidential.id())
            .unwrap()
            .is_none()
    );
}

async fn prompt_none_needing_consent_is_consent_required(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[("prompt", "none")]);
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::NotAsked).await,
        "consent_required",
    );
}

async fn first_party_clients_skip_consent(backend: Backend) {
    let h = Harness::new(backend).await;
    let first = h.client(NewClient {
        name: "Gatehouse Console".into(),
        redirect_uris: vec![REDIRECT.into()],
        first_party: true,
        ..NewClient::default()
    });
    let params = h.authorize_params(&first, &[("prompt", "none")]);
    let query = redirect_query(&h.authorize(&params, ConsentDecision::NotAsked).await);
    assert!(query.contains_key("code"), "{query:?}");
}

async fn prompt_consent_asks_even_when_remembered(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[]);
    h.authorize(&params, ConsentDecision::Approved).await;
    let params = h.authorize_params(&h.confidential, &[("prompt", "consent")]);
    assert!(matches!(
        h.authorize(&params, ConsentDecision::NotAsked).await,
        AuthorizeOutcome::ConsentRequired { .. }
    ));
    let query = redirect_query(&h.authorize(&params, ConsentDecision::Approved).await);
    assert!(query.contains_key("code"));
}

async fn success_redirect_carries_code_state_and_iss(backend: Backend) {
    let h = Harness::new(backend).await;
    let params = h.authorize_params(&h.confidential, &[("redirect_uri", OTHER_REDIRECT)]);
    let outcome = h.authorize(&params, ConsentDecision::Approved).await;
    let location = redirect_location(&outcome);
    assert!(
        location.starts_with(&format!("{OTHER_REDIRECT}?code=")),
        "{location}"
    );
    let query: std::collections::HashMap<String, String> = url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], ISSUER);
    // 256 random bits, base64url.
    // grant id (16 bytes) ‖ HMAC-SHA256 (32), base64url.
    assert_eq!(query["code"].len(), 64);
    assert_eq!(query.len(), 3);
}
