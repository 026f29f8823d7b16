//! The second factor's lifecycle through the account API: enrolment, the re-authentication
//! window, recovery codes, switching it off.

use super::*;

#[tokio::test]
async fn totp_enrolment_is_confirmed_with_a_code_that_is_then_spent() {
    let app = spawn_app().await;
    app.create_user("jonas").await;
    let rp = account_client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "jonas").await;
    let token = access(&tokens);

    // Nothing to confirm before an enrolment starts.
    let code_now = |secret: &str| code_at(secret, app.clock_now(), 0);
    let answer = confirm_totp(&app, token, "123456").await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:no-pending-enrolment"
    );

    let secret = begin_totp(&app, token).await;
    // Pending is not on.
    assert!(!totp_enabled(&app, token).await);
    let answer = confirm_totp(&app, token, &wrong_code(&code_now(&secret))).await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(answer.problem_type(), "urn:gatehouse:problem:invalid-code");
    assert_eq!(answer.body["field"], "code");
    assert!(!totp_enabled(&app, token).await);

    let code = code_now(&secret);
    let answer = confirm_totp(&app, token, &code).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header(CACHE_CONTROL), "no-store");
    assert_eq!(recovery_codes(&answer).len(), 10);
    assert!(totp_enabled(&app, token).await);

    // The same code again: nothing is pending any more, and a new enrolment is refused.
    let answer = confirm_totp(&app, token, &code).await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:no-pending-enrolment"
    );
    let answer = call(
        &app,
        Method::POST,
        "/api/v1/account/totp",
        Some(token),
        None,
    )
    .await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:two-factor-enabled"
    );

    // The enrolment spent its code (RFC 6238 §5.2): signing in with it is refused; the next
    // step's code works.
    assert_eq!(second_factor_sign_in(&app, "jonas", &code).await, 401);
    app.clock.advance(Duration::seconds(30));
    assert_eq!(
        second_factor_sign_in(&app, "jonas", &code_now(&secret)).await,
        303
    );
}

#[tokio::test]
async fn enrolment_needs_a_sign_in_within_the_reauthentication_window() {
    let app = spawn_app().await;
    app.create_user("kai").await;
    let rp = account_client(&app);
    let browser = new_client();
    account_tokens(&app, &browser, &rp, "kai").await;

    // Past the ten-minute window, a new token from the same session keeps the old auth_time.
    app.clock.advance(Duration::seconds(601));
    let stale = account_tokens(&app, &browser, &rp, "kai").await;
    assert_eq!(
        get(&app, "/api/v1/account", access(&stale)).await.status,
        200
    );
    let answer = call(
        &app,
        Method::POST,
        "/api/v1/account/totp",
        Some(access(&stale)),
        None,
    )
    .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:reauthentication-required"
    );
    assert!(answer.headers.get(WWW_AUTHENTICATE).is_none());

    // A fresh sign-in is recent enough.
    let fresh = account_tokens(&app, &new_client(), &rp, "kai").await;
    begin_totp(&app, access(&fresh)).await;
}

#[tokio::test]
async fn recovery_codes_and_switching_off_need_the_password() {
    let app = spawn_app().await;
    app.create_user("lena").await;
    let rp = account_client(&app);
    let tokens = account_tokens(&app, &new_client(), &rp, "lena").await;
    let token = access(&tokens);
    let regenerate = |password: &str| {
        call(
            &app,
            Method::POST,
            "/api/v1/account/recovery-codes",
            Some(token),
            Some(json!({ "password": password })),
        )
    };
    let disable = |password: &str| {
        call(
            &app,
            Method::DELETE,
            "/api/v1/account/totp",
            Some(token),
            Some(json!({ "password": password })),
        )
    };

    let (_, first_codes) = enable_totp(&app, token).await;
    assert_eq!(first_codes.len(), 10);

    let answer = regenerate("not the password at all").await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:wrong-password"
    );
    assert_eq!(answer.body["field"], "password");
    let answer = regenerate(GOOD_PASSWORD).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header(CACHE_CONTROL), "no-store");
    let new_codes = recovery_codes(&answer);
    assert_eq!(new_codes.len(), 10);
    assert!(
        new_codes.iter().all(|code| !first_codes.contains(code)),
        "{first_codes:?} {new_codes:?}"
    );

    let answer = disable("not the password at all").await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:wrong-password"
    );
    assert!(totp_enabled(&app, token).await);
    let answer = disable(GOOD_PASSWORD).await;
    assert_eq!((answer.status, answer.body), (204, Value::Null));
    assert!(!totp_enabled(&app, token).await);

    // Nothing left to switch off or to make codes for.
    let answer = disable(GOOD_PASSWORD).await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:two-factor-not-enabled"
    );
    let answer = regenerate(GOOD_PASSWORD).await;
    assert_eq!(answer.status, 409);
    assert_eq!(
        answer.problem_type(),
        "urn:gatehouse:problem:two-factor-not-enabled"
    );
}
