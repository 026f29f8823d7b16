//! Sign-in with a TOTP second factor (RFC 6238) through the real pages: the pending step, its
//! limits, recovery codes, `amr`/`acr` in the ID token, step-up for clients that require a
//! second factor, and `prompt=none` without one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_tests::oauth::{VERIFIER, authorize_url, challenge, code_in_with, exchange, param};
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, hidden_value, new_client,
    page_marker, set_cookie_lines,
};
use serde_json::Value;

const MFA: &str = "urn:gatehouse:acr:mfa";

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn app_with_totp_user(username: &str) -> (TestApp, String, Vec<String>) {
    let app = TestApp::builder().with_user(username).spawn().await;
    let (secret, codes) = app.enrol_totp(username).await;
    // The enrolment spent the current step's code.
    app.advance_clock(chrono::Duration::seconds(30));
    (app, secret, codes)
}

/// The password step in `browser`: the response (303 to the second-factor page for TOTP users).
async fn password_step(
    app: &TestApp,
    browser: &reqwest::Client,
    username: &str,
) -> reqwest::Response {
    app.login_with(browser, username, GOOD_PASSWORD, None).await
}

/// Submits `code` on the second-factor page; returns the status, the Location (if any) and
/// the page.
async fn submit_code(
    app: &TestApp,
    browser: &reqwest::Client,
    code: &str,
) -> (u16, Option<String>, String) {
    let page = browser
        .get(app.url("/login/second-factor"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    if page_marker(&html).as_deref() != Some("second-factor") {
        return (0, None, html);
    }
    let response = browser
        .post(app.url("/login/second-factor"))
        .form(&[
            ("code", code),
            ("csrf_token", &csrf_from_html(&html)),
            ("return_to", &hidden_value(&html, "return_to")),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location, response.text().await.unwrap())
}

async fn is_signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    app.account_page(browser).await.0 == 200
}

#[tokio::test]
async fn a_totp_user_needs_a_code_after_the_password_and_gets_no_session_before() {
    let (app, secret, _) = app_with_totp_user("tess").await;
    let browser = new_client();
    let response = password_step(&app, &browser, "tess").await;
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/second-factor"),
    );
    // No session cookie yet: the pending sign-in has its own, scoped to /login.
    assert!(set_cookie_lines(response.headers(), "gh_session").is_empty());
    let pending = set_cookie_lines(response.headers(), "gh_login");
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].contains("Path=/login") && pending[0].contains("HttpOnly"),
        "{pending:?}"
    );
    assert!(!is_signed_in(&app, &browser).await);

    // The page asks for a one-time code the way browsers and password managers recognise.
    let html = browser
        .get(app.url("/login/second-factor"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(page_marker(&html).as_deref(), Some("second-factor"));
    assert!(html.contains(r#"inputmode="numeric""#), "{html}");
    assert!(html.contains(r#"autocomplete="one-time-code""#), "{html}");

    let (status, location, _) =
        submit_code(&app, &browser, &code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    assert!(is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn the_enrolment_code_is_refused_at_the_first_sign_in() {
    let app = TestApp::builder().with_user("ugo").spawn().await;
    let enrolled_at = app.clock_now();
    let (secret, _) = app.enrol_totp("ugo").await;
    let browser = new_client();
    password_step(&app, &browser, "ugo").await;
    // Same step as the confirmation: a replay (RFC 6238 §5.2).
    let (status, _, html) = submit_code(&app, &browser, &code_at(&secret, enrolled_at, 0)).await;
    assert_eq!(status, 401, "{html}");
    assert!(html.contains("Invalid code."), "{html}");
    assert!(!is_signed_in(&app, &browser).await);
    // The next step's code is accepted (one step of drift either side).
    let (status, _, _) = submit_code(&app, &browser, &code_at(&secret, enrolled_at, 1)).await;
    assert_eq!(status, 303);
    assert!(is_signed_in(&app, &browser).await);
}

#[tokio::test]
async fn five_wrong_codes_end_the_pending_sign_in_and_the_lockout_reveals_nothing() {
    // The account-wide ceiling at five and per-source delays off, so that one browser's five
    // wrong codes reach it (the delays have their own tests in `brute_force.rs`).
    let app = TestApp::builder()
        .configure(|settings| {
            settings.lockout.max_failures = 5;
            settings.lockout.delay_after = 0;
        })
        .with_user("vera")
        .spawn()
        .await;
    let (secret, _) = app.enrol_totp("vera").await;
    app.advance_clock(chrono::Duration::seconds(30));
    let browser = new_client();
    password_step(&app, &browser, "vera").await;
    for attempt in 1..=4 {
        let (status, _, html) = submit_code(&app, &browser, "000000").await;
        assert_eq!(status, 401, "attempt {attempt}");
        assert_eq!(page_marker(&html).as_deref(), Some("second-factor"));
    }
    let (status, _, html) = submit_code(&app, &browser, "000000").await;
    assert_eq!(status, 401);
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("sign-in-again"),
        "{html}"
    );
    // Even the right code is too late now: the pending sign-in is gone.
    let right = code_at(&secret, app.clock_now(), 0);
    let (status, _, html) = submit_code(&app, &browser, &right).await;
    assert_eq!(status, 0, "the code page is gone");
    assert_eq!(page_marker(&html).as_deref(), Some("sign-in-again"));
    assert!(!is_signed_in(&app, &browser).await);

    // The five wrong codes counted toward the lockout (5 failures): the right password is now
    // refused with the very message a wrong password gets.
    let locked = password_step(&app, &new_client(), "vera").await;
    assert_eq!(locked.status(), 401);
    let locked_page = locked.text().await.unwrap();
    let wrong = app
        .login_with(&new_client(), "vera", "not the password", None)
        .await;
    assert_eq!(wrong.status(), 401);
    let wrong_page = wrong.text().await.unwrap();
    assert!(locked_page.contains("Invalid username or password."));
    assert!(wrong_page.contains("Invalid username or password."));
    let lockouts = app
        .audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "account.lockout")
        .count();
    assert_eq!(lockouts, 1);
}

#[tokio::test]
async fn a_recovery_code_signs_in_once() {
    let (app, _, codes) = app_with_totp_user("wim").await;
    let browser = new_client();
    password_step(&app, &browser, "wim").await;
    let (status, _, _) = submit_code(&app, &browser, &codes[0]).await;
    assert_eq!(status, 303);
    assert!(is_signed_in(&app, &browser).await);

    let again = new_client();
    password_step(&app, &again, "wim").await;
    let (status, _, _) = submit_code(&app, &again, &codes[0]).await;
    assert_eq!(status, 401, "a spent recovery code");
    let (status, _, _) = submit_code(&app, &again, &codes[1]).await;
    assert_eq!(status, 303);
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "recovery_code.use")
    );
}

/// The code flow through the pages, answering the second factor with `code` if asked.
async fn id_token_in(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    extra: &[(&str, &str)],
    code: Option<&dyn Fn() -> String>,
) -> Value {
    let code = code_in_with(app, browser, rp, username, extra, code).await;
    let response = exchange(app, rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    claims_of(tokens["id_token"].as_str().unwrap())
}

#[tokio::test]
async fn the_id_token_says_how_the_user_signed_in_and_keeps_it_on_sso_reuse() {
    let (app, secret, _) = app_with_totp_user("xena").await;
    let rp = app.register_client(ClientSpec::default());
    let other = app.register_client(ClientSpec::default());
    let browser = new_client();
    let clock = app.clock_now();
    let code = move || code_at(&secret, clock, 0);
    let first = id_token_in(&app, &browser, &rp, "xena", &[], Some(&code)).await;
    assert_eq!(first["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(first["acr"], MFA);

    // A minute later another client signs in through the same session: no page, same facts.
    app.advance_clock(chrono::Duration::seconds(60));
    let reused = id_token_in(&app, &browser, &other, "xena", &[], None).await;
    assert_eq!(reused["amr"], first["amr"]);
    assert_eq!(reused["auth_time"], first["auth_time"]);
    assert_eq!(reused["sid"], first["sid"]);

    // A password-only user's token says so.
    app.create_user("yuri").await;
    let plain = id_token_in(&app, &new_client(), &rp, "yuri", &[], None).await;
    assert_eq!(plain["amr"], serde_json::json!(["pwd"]));
    assert_eq!(plain["acr"], "urn:gatehouse:acr:pwd");
}

#[tokio::test]
async fn discovery_lists_the_acr_values() {
    let app = TestApp::builder().spawn().await;
    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["urn:gatehouse:acr:pwd", MFA])
    );
}

/// A user signs in with the password only (the second factor is enrolled afterwards, so the
/// session has `amr: ["pwd"]`), then meets a client that requires a second factor.
#[tokio::test]
async fn a_client_that_requires_a_second_factor_steps_the_session_up() {
    let app = TestApp::builder().with_user("zoe").spawn().await;
    let strict = app.register_client(ClientSpec {
        require_2fa: true,
        ..ClientSpec::default()
    });
    let browser = new_client();
    assert_eq!(password_step(&app, &browser, "zoe").await.status(), 303);
    let sessions = |app: &TestApp| {
        let app_layer = app.state.app.clone();
        let user_id = app.user_id("zoe");
        let now = app.clock_now();
        async move { app_layer.list_sessions(user_id, now).await.unwrap() }
    };
    let before = sessions(&app).await;
    assert_eq!(before.len(), 1);
    let (secret, _) = app.enrol_totp("zoe").await;
    app.advance_clock(chrono::Duration::seconds(30));

    // prompt=none cannot step up: interaction_required (OIDC Core §3.1.2.6), and no code.
    let url = authorize_url(
        &app,
        &strict,
        &[
            ("code_challenge", &challenge(VERIFIER)),
            ("code_challenge_method", "S256"),
            ("prompt", "none"),
        ],
    );
    let response = browser.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("interaction_required")
    );
    assert_eq!(param(&location, "code"), None);

    // Without prompt=none the browser is sent to the step-up, answers the code, and comes back
    // to a code; the session is the same one (relying parties signed in through it stay).
    let response = browser
        .get(authorize_url(
            &app,
            &strict,
            &[
                ("code_challenge", &challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login/step-up?")
    );
    let clock = app.clock_now();
    let code = move || code_at(&secret, clock, 0);
    let claims = id_token_in(&app, &browser, &strict, "zoe", &[], Some(&code)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], MFA);
    let after = sessions(&app).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].handle, before[0].handle);
    assert_eq!(claims["sid"], before[0].handle.as_str());
    assert_eq!(after[0].session.amr, ["pwd", "otp", "mfa"]);
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "login.step_up")
    );
}

#[tokio::test]
async fn acr_values_naming_the_multi_factor_level_step_up_too() {
    let app = TestApp::builder().with_user("abe").spawn().await;
    let rp = app.register_client(ClientSpec::default());
    let browser = new_client();
    password_step(&app, &browser, "abe").await;
    let plain = id_token_in(&app, &browser, &rp, "abe", &[], None).await;
    assert_eq!(plain["acr"], "urn:gatehouse:acr:pwd");

    // No second factor enrolled: the step-up sends the user to enrolment first.
    let response = browser
        .get(authorize_url(
            &app,
            &rp,
            &[
                ("code_challenge", &challenge(VERIFIER)),
                ("code_challenge_method", "S256"),
                ("acr_values", MFA),
            ],
        ))
        .send()
        .await
        .unwrap();
    let step_up = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(step_up.starts_with("/login/step-up?"), "{step_up}");
    let response = browser.get(app.url(&step_up)).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/account/totp?return_to=%2Fauthorize"),
    );

    // Enrolled, the same request asks for the code and then issues one at the higher level.
    let (secret, _) = app.enrol_totp("abe").await;
    app.advance_clock(chrono::Duration::seconds(30));
    let clock = app.clock_now();
    let code = move || code_at(&secret, clock, 0);
    let stepped = id_token_in(
        &app,
        &browser,
        &rp,
        "abe",
        &[("acr_values", MFA)],
        Some(&code),
    )
    .await;
    assert_eq!(stepped["acr"], MFA);
}
