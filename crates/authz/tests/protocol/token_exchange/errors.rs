//! Token exchange refusals: every `invalid_request` of RFC 8693 §2.2.2 (parameters, subject
//! and actor tokens) and `unauthorized_client`, each audited.

use chrono::Duration;
use gatehouse_authz::ErrorCode;
use gatehouse_identity::RequestContext;
use serde_json::Value;

use super::*;

backend_tests!(
    parameter_errors_are_invalid_request,
    bad_subject_tokens_are_invalid_request,
    bad_actor_tokens_are_invalid_request,
    only_clients_registered_for_the_grant_may_exchange,
);

async fn parameter_errors_are_invalid_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, true);
    let subject = user_token(&h, &bot).await;
    let actor = service_token(&h, &bot, t0()).await;
    let s = subject.as_str();
    let a = actor.as_str();
    let id_token_type = "urn:ietf:params:oauth:token-type:id_token";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("subject_token_type", ACCESS_TOKEN)],
            "subject_token is missing",
        ),
        (vec![("subject_token", s)], "subject_token_type is missing"),
        (
            vec![("subject_token", s), ("subject_token_type", id_token_type)],
            "subject_token_type must be",
        ),
        (
            vec![("subject_token", s), ("subject_token_type", "access_token")],
            "subject_token_type must be",
        ),
        (
            vec![
                ("subject_token", s),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", a),
            ],
            "actor_token_type is missing",
        ),
        (
            vec![
                ("subject_token", s),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", a),
                ("actor_token_type", id_token_type),
            ],
            "actor_token_type must be",
        ),
        (
            vec![
                ("subject_token", s),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token_type", ACCESS_TOKEN),
            ],
            "actor_token_type is only allowed with an actor_token",
        ),
        (
            vec![
                ("subject_token", s),
                ("subject_token_type", ACCESS_TOKEN),
                (
                    "requested_token_type",
                    "urn:ietf:params:oauth:token-type:refresh_token",
                ),
            ],
            "requested_token_type must be",
        ),
        (
            vec![
                ("subject_token", s),
                ("subject_token", s),
                ("subject_token_type", ACCESS_TOKEN),
            ],
            "subject_token",
        ),
    ];
    for (mut pairs, expected) in cases {
        pairs.push(("audience", API));
        let err = assert_error(
            exchange_at(&h, &bot, &pairs, t0()).await,
            ErrorCode::InvalidRequest,
            expected,
        );
        assert!(err.description.contains(expected), "{expected}: {err}");
    }
    // An explicit request for an access token is fine.
    let body = exchange_at(
        &h,
        &bot,
        &[
            ("subject_token", s),
            ("subject_token_type", ACCESS_TOKEN),
            ("requested_token_type", ACCESS_TOKEN),
            ("audience", API),
        ],
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
}

async fn bad_subject_tokens_are_invalid_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, true);
    let subject = user_token(&h, &bot).await;
    let id_token = {
        let tokens = h.tokens_in(&h.session, &bot, &[("scope", "openid")]).await;
        str_field(&tokens, "id_token").to_owned()
    };
    let foreign = foreign_token(&h).await;
    let service = service_token(&h, &bot, t0()).await;

    let refuse = |token: String, now: chrono::DateTime<chrono::Utc>, why: &'static str| {
        let h = &h;
        let bot = &bot;
        async move {
            let result = exchange_at(
                h,
                bot,
                &[
                    ("subject_token", token.as_str()),
                    ("subject_token_type", ACCESS_TOKEN),
                    ("audience", API),
                ],
                now,
            )
            .await;
            assert_error(result, ErrorCode::InvalidRequest, why)
        }
    };

    refuse("garbage".into(), t0(), "not a token").await;
    refuse(id_token, t0(), "an ID token").await;
    refuse(
        subject.clone(),
        t0() + Duration::seconds(601),
        "an expired token",
    )
    .await;
    let err = refuse(foreign, t0(), "another client's token").await;
    assert!(
        err.description.contains("neither issued to this client"),
        "{err}"
    );
    let err = refuse(service.clone(), t0(), "a service account's token").await;
    assert!(err.description.contains("a user's access token"), "{err}");

    // A token of a user locked since (one wrong password locks under the harness policy).
    let (bob_token, _) = other_user_token(&h, &bot, "bob").await;
    assert!(
        h.accounts
            .authenticate(
                "bob",
                "wrong-password-here",
                &RequestContext::default(),
                t0()
            )
            .await
            .is_err()
    );
    let err = refuse(bob_token, t0(), "a locked user's token").await;
    assert!(err.description.contains("not active"), "{err}");

    // Revoked by itself (RFC 7009).
    h.authz
        .revoke(&params(&[("token", &subject)]), bot.credentials(), t0())
        .await
        .unwrap();
    refuse(subject, t0(), "a revoked token").await;

    // Every refusal was audited, none wrote a subject that did not pass.
    let events = exchange_events(&h);
    assert_eq!(events.len(), 7, "{events:?}");
    assert!(events.iter().all(|(outcome, _, _)| outcome == "failure"));
    assert_eq!(events[0].1, None);
}

async fn bad_actor_tokens_are_invalid_request(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, false);
    let subject = user_token(&h, &bot).await;
    let other_bot = chatbot(&h, false);
    let others_service = service_token(&h, &other_bot, t0()).await;
    let others_user = foreign_token(&h).await;
    let service = service_token(&h, &bot, t0()).await;
    let expired_service = service_token(&h, &bot, t0() - Duration::seconds(700)).await;

    for (actor, now, why) in [
        ("garbage".to_owned(), t0(), "not a token"),
        (others_service, t0(), "another client's service account"),
        (others_user, t0(), "a user token of another client"),
        (
            expired_service,
            t0(),
            "an expired token of its own service account",
        ),
    ] {
        assert_error(
            exchange_at(
                &h,
                &bot,
                &[
                    ("subject_token", subject.as_str()),
                    ("subject_token_type", ACCESS_TOKEN),
                    ("actor_token", actor.as_str()),
                    ("actor_token_type", ACCESS_TOKEN),
                    ("audience", API),
                ],
                now,
            )
            .await,
            ErrorCode::InvalidRequest,
            why,
        );
    }
    // A revoked actor token.
    h.authz
        .revoke(&params(&[("token", &service)]), bot.credentials(), t0())
        .await
        .unwrap();
    let err = assert_error(
        delegate(&h, &bot, &subject, &service, API).await,
        ErrorCode::InvalidRequest,
        "a revoked actor token",
    );
    assert!(err.description.starts_with("actor_token"), "{err}");
    let last = exchange_events(&h).pop().unwrap();
    assert_eq!(last.2["subject"], h.user.id.to_string());
    assert_eq!(last.2["actor"], Value::Null);
}

async fn only_clients_registered_for_the_grant_may_exchange(backend: Backend) {
    let h = Harness::new(backend).await;
    let bot = chatbot(&h, true);
    let subject = user_token(&h, &bot).await;
    let pairs = [
        ("subject_token", subject.as_str()),
        ("subject_token_type", ACCESS_TOKEN),
        ("audience", API),
    ];
    // A confidential client without the grant, and a public one.
    for client in [&h.confidential, &h.public] {
        let err = assert_error(
            exchange_at(&h, client, &pairs, t0()).await,
            ErrorCode::UnauthorizedClient,
            "a client without the grant",
        );
        assert_eq!(err.body()["error"], "unauthorized_client");
    }
    // Without client authentication nothing is looked at, nor audited.
    let err = h
        .authz
        .token(
            &params(&[
                ("grant_type", EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("audience", API),
                ("client_id", bot.id()),
            ]),
            gatehouse_authz::ClientCredentials::None,
            t0(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidClient);
    let events = exchange_events(&h);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|(_, _, details)| details["error"] == "unauthorized_client")
    );
}
