//! The account's second factor through its pages: enrolment (QR code, key, first code, recovery
//! codes), the re-authentication window, new recovery codes and switching it off, each behind
//! the password, and the CSRF and sign-in gates in front of all of them.

use chrono::Duration;
use gatehouse_tests::totp::{code_at, secret_of_uri};
use gatehouse_tests::{
    GOOD_PASSWORD, TestApp, csrf_from_html, hidden_value, new_client, page_marker,
};

/// The value of the first `attribute="…"` on the page.
fn attribute(html: &str, attribute: &str) -> Option<String> {
    let marker = format!(r#"{attribute}=""#);
    let start = html.find(&marker)? + marker.len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_owned())
}

/// Undoes the escaping askama applies to text and attribute values.
fn unescape(text: &str) -> String {
    text.replace("&#38;", "&")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
}

/// The text of the element with `id`, unescaped.
fn text_of_id(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}""#);
    let at = html.find(&marker)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(unescape(&html[start..end]))
}

/// The `href` of the link with `id`, unescaped.
fn href_of_id(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"id="{id}""#);
    let at = html.find(&marker)?;
    let tag_start = html[..at].rfind('<')?;
    let tag = &html[tag_start..at + html[at..].find('>')?];
    attribute(tag, "href").map(|href| unescape(&href))
}

/// The texts of the `<li class="recovery-code">` items.
fn recovery_codes(html: &str) -> Vec<String> {
    html.split(r#"<li class="recovery-code">"#)
        .skip(1)
        .map(|item| item.split("</li>").next().unwrap().trim().to_owned())
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn get(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let response = browser.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(app.url(path)).form(form).send().await.unwrap()
}

async fn post_page(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, String) {
    let response = post(app, browser, path, form).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn signed_in(app: &TestApp, username: &str) -> reqwest::Client {
    let browser = new_client();
    let response = app
        .login_with(&browser, username, GOOD_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    browser
}

/// Start → enrol (within the window, no password): the enrol page and the secret it shows.
async fn begin(app: &TestApp, browser: &reqwest::Client, return_to: &str) -> (String, String) {
    let (status, start) = get(
        app,
        browser,
        &format!("/account/totp?return_to={}", urlencode(return_to)),
    )
    .await;
    assert_eq!(status, 200, "{start}");
    assert_eq!(page_marker(&start).as_deref(), Some("totp-start"));
    assert!(!start.contains(r#"name="password""#), "{start}");
    let csrf = csrf_from_html(&start);
    let (status, enrol) = post_page(
        app,
        browser,
        "/account/totp/enrol",
        &[("csrf_token", &csrf), ("return_to", return_to)],
    )
    .await;
    assert_eq!(status, 200, "{enrol}");
    let secret = text_of_id(&enrol, "totp-secret").expect("the key as text");
    (enrol, secret)
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn confirm(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    code: &str,
) -> (u16, String) {
    post_page(
        app,
        browser,
        "/account/totp/confirm",
        &[
            ("csrf_token", &csrf_from_html(page)),
            ("return_to", &hidden_value(page, "return_to")),
            ("code", code),
        ],
    )
    .await
}

#[tokio::test]
async fn enrolling_shows_the_key_once_and_turns_two_factor_on() {
    let app = TestApp::builder().with_user("ines").spawn().await;
    let browser = signed_in(&app, "ines").await;

    let (_, account) = app.account_page(&browser).await;
    assert_eq!(attribute(&account, "data-totp").as_deref(), Some("off"));
    assert!(account.contains(r#"<section id="security">"#), "{account}");
    assert!(account.contains(r#"href="/account/totp"#), "{account}");

    let (enrol, secret) = begin(&app, &browser, "/account").await;
    assert_eq!(page_marker(&enrol).as_deref(), Some("totp-enrol"));
    assert!(enrol.contains("<svg"), "an inline QR code: {enrol}");
    let uri = text_of_id(&enrol, "totp-uri").expect("the otpauth URI");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert_eq!(secret_of_uri(&uri), secret);
    assert!(enrol.contains(r#"action="/account/totp/confirm""#));
    assert!(enrol.contains(r#"inputmode="numeric""#));
    assert!(enrol.contains(r#"autocomplete="one-time-code""#));

    // A wrong code: the code form again, without the key.
    let (status, retry) = confirm(&app, &browser, &enrol, "000000").await;
    assert_eq!(status, 400, "{retry}");
    assert_eq!(page_marker(&retry).as_deref(), Some("totp-confirm"));
    assert!(!retry.contains(&secret), "the key is shown once");

    let code = code_at(&secret, app.clock_now(), 0);
    let (status, done) = confirm(&app, &browser, &retry, &code).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(page_marker(&done).as_deref(), Some("recovery-codes"));
    let codes = recovery_codes(&done);
    assert_eq!(codes.len(), 10, "{done}");
    assert!(done.contains("shown only once"), "{done}");
    assert_eq!(href_of_id(&done, "continue").as_deref(), Some("/account"));

    let (_, account) = app.account_page(&browser).await;
    assert_eq!(attribute(&account, "data-totp").as_deref(), Some("on"));
    assert_eq!(
        attribute(&account, "data-recovery-remaining").as_deref(),
        Some("10")
    );
    // This browser's session proved the second factor while enrolling.
    assert!(account.contains(r#"data-amr="pwd otp mfa""#), "{account}");
    assert!(account.contains(r#"action="/account/totp/disable""#));
    assert!(account.contains(r#"action="/account/recovery-codes""#));

    // The same code again is refused: nothing waits for it, and it is spent (RFC 6238 §5.2).
    let (status, again) = confirm(&app, &browser, &account, &code).await;
    assert_eq!(status, 409, "{again}");
    assert!(
        again.contains(r#"href="/account/totp?return_to="#),
        "{again}"
    );
    // Starting over is refused while it is on.
    assert_eq!(get(&app, &browser, "/account/totp").await.0, 409);
    let (status, _) = post_page(
        &app,
        &browser,
        "/account/totp/enrol",
        &[("csrf_token", &csrf_from_html(&account))],
    )
    .await;
    assert_eq!(status, 409);

    let actions: Vec<String> = app.audit_actions().into_iter().map(|(a, _)| a).collect();
    assert!(actions.iter().any(|a| a == "totp.enrol"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "totp.enable"), "{actions:?}");
}

#[tokio::test]
async fn an_old_sign_in_needs_the_password_and_every_change_after_needs_it_too() {
    let app = TestApp::builder().with_user("jon").spawn().await;
    let browser = signed_in(&app, "jon").await;
    app.advance_clock(Duration::seconds(601));

    let (status, start) = get(&app, &browser, "/account/totp").await;
    assert_eq!(status, 200);
    assert_eq!(page_marker(&start).as_deref(), Some("totp-start"));
    assert!(start.contains(r#"name="password""#), "{start}");
    let csrf = csrf_from_html(&start);
    let enrol = |password: &'static str| {
        let csrf = csrf.clone();
        let app = &app;
        let browser = &browser;
        async move {
            let mut form = vec![("csrf_token", csrf), ("return_to", "/account".to_owned())];
            if !password.is_empty() {
                form.push(("password", password.to_owned()));
            }
            let response = browser
                .post(app.url("/account/totp/enrol"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, page) = enrol("").await;
    assert_eq!(status, 401, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("totp-start"));
    assert!(page.contains(r#"name="password""#));
    let (status, page) = enrol("not the password").await;
    assert_eq!(status, 403, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("totp-start"));
    assert!(page.contains("password is not correct"), "{page}");
    let (status, page) = enrol(GOOD_PASSWORD).await;
    assert_eq!(status, 200, "{page}");
    let secret = text_of_id(&page, "totp-secret").unwrap();
    let (status, done) =
        confirm(&app, &browser, &page, &code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!(status, 200, "{done}");
    let first_codes = recovery_codes(&done);
    assert_eq!(first_codes.len(), 10);

    // New recovery codes: the password every time.
    let (_, account) = app.account_page(&browser).await;
    let csrf = csrf_from_html(&account);
    let (status, page) = post_page(
        &app,
        &browser,
        "/account/recovery-codes",
        &[("csrf_token", &csrf), ("password", "not the password")],
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("password is not correct"), "{page}");
    let (status, page) = post_page(
        &app,
        &browser,
        "/account/recovery-codes",
        &[("csrf_token", &csrf), ("password", GOOD_PASSWORD)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("recovery-codes"));
    let new_codes = recovery_codes(&page);
    assert_eq!(new_codes.len(), 10);
    assert!(
        new_codes.iter().all(|code| !first_codes.contains(code)),
        "{first_codes:?} / {new_codes:?}"
    );
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(
        attribute(&account, "data-recovery-remaining").as_deref(),
        Some("10")
    );

    // Switching it off: the password again.
    let (status, page) = post_page(
        &app,
        &browser,
        "/account/totp/disable",
        &[("csrf_token", &csrf), ("password", "not the password")],
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("password is not correct"), "{page}");
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(attribute(&account, "data-totp").as_deref(), Some("on"));
    let response = post(
        &app,
        &browser,
        "/account/totp/disable",
        &[("csrf_token", &csrf), ("password", GOOD_PASSWORD)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/account");
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(attribute(&account, "data-totp").as_deref(), Some("off"));
    // Off, there are no recovery codes to renew.
    let (status, _) = post_page(
        &app,
        &browser,
        "/account/recovery-codes",
        &[("csrf_token", &csrf), ("password", GOOD_PASSWORD)],
    )
    .await;
    assert_eq!(status, 409);

    let actions: Vec<String> = app.audit_actions().into_iter().map(|(a, _)| a).collect();
    for action in ["recovery_codes.regenerate", "totp.disable"] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn the_pages_need_a_session_and_their_own_form() {
    let app = TestApp::builder().with_user("kai").spawn().await;

    // No session: sign in first, then back to where the browser was going.
    let stranger = new_client();
    let response = stranger
        .get(app.url("/account/totp?return_to=%2Fauthorize%3Fx%3D1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let to = location(&response);
    assert!(to.starts_with("/login?return_to="), "{to}");
    let resume = reqwest::Url::parse(&app.url(&to)).unwrap();
    let resume = resume
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(resume, "/account/totp?return_to=%2Fauthorize%3Fx%3D1");
    // A POST with a valid CSRF pair but no session also goes to sign in.
    let csrf = app.login_form(&stranger).await;
    let response = post(
        &app,
        &stranger,
        "/account/totp/enrol",
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?return_to="));

    // A return_to elsewhere is not followed.
    let browser = signed_in(&app, "kai").await;
    let (status, start) = get(
        &app,
        &browser,
        "/account/totp?return_to=https://evil.example/",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hidden_value(&start, "return_to"), "/account#security");

    // A forged form is refused on every POST, and changes nothing.
    for path in [
        "/account/totp/enrol",
        "/account/totp/confirm",
        "/account/totp/disable",
        "/account/recovery-codes",
        "/account/apps/revoke",
    ] {
        let (status, page) = post_page(
            &app,
            &browser,
            path,
            &[
                ("csrf_token", "forged"),
                ("password", GOOD_PASSWORD),
                ("code", "123456"),
            ],
        )
        .await;
        assert_eq!(status, 403, "{path}: {page}");
    }
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(attribute(&account, "data-totp").as_deref(), Some("off"));
    assert!(
        !app.audit_actions()
            .iter()
            .any(|(action, _)| action.starts_with("totp."))
    );

    // Nothing to confirm: a 409 page that leads back to the start.
    let (status, page) = post_page(
        &app,
        &browser,
        "/account/totp/confirm",
        &[
            ("csrf_token", &csrf_from_html(&account)),
            ("code", "123456"),
            ("return_to", "/account"),
        ],
    )
    .await;
    assert_eq!(status, 409, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("totp-restart"));
}

/// A client's step-up sends a user without a second factor through these pages; the last one
/// leads back to the authorization request.
#[tokio::test]
async fn the_recovery_codes_page_continues_to_return_to() {
    let app = TestApp::builder().with_user("lea").spawn().await;
    let browser = signed_in(&app, "lea").await;
    let return_to = "/authorize?client_id=x&scope=openid";
    let (enrol, secret) = begin(&app, &browser, return_to).await;
    assert_eq!(hidden_value(&enrol, "return_to"), return_to);
    let (status, done) = confirm(
        &app,
        &browser,
        &enrol,
        &code_at(&secret, app.clock_now(), 0),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(href_of_id(&done, "continue").as_deref(), Some(return_to));
}
