//! The admin console's gate (`/admin`): who it opens for, the second factor it requires, the
//! CSRF and Fetch Metadata checks on its forms, the fresh sign-in before destructive actions,
//! and the one-time notice after an action. The pages themselves are tested beside this
//! (`admin_console_*`).

use gatehouse_identity::Role;
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{
    GOOD_PASSWORD, TestApp, csrf_from_html, hidden_value, new_client, page_marker,
};

/// Signs `username` (with TOTP `secret`) in through both steps in a new browser.
async fn sign_in_with_totp(app: &TestApp, username: &str, secret: &str) -> reqwest::Client {
    let browser = new_client();
    let response = app
        .login_with(&browser, username, GOOD_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    let (_, html) = app.get_page(&browser, "/login/second-factor").await;
    assert_eq!(page_marker(&html).as_deref(), Some("second-factor"));
    let code = code_at(secret, app.clock_now(), 0);
    let response = app
        .post_form(
            &browser,
            "/login/second-factor",
            &[
                ("code", &code),
                ("csrf_token", &csrf_from_html(&html)),
                ("return_to", &hidden_value(&html, "return_to")),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "second factor accepted");
    browser
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// An admin with TOTP, signed in; the enrolment's code step is spent.
async fn admin_with_totp() -> (TestApp, reqwest::Client) {
    let app = TestApp::builder().spawn().await;
    app.create_user_with_roles("root", &[Role::Admin]).await;
    let (secret, _) = app.enrol_totp("root").await;
    app.advance_clock(chrono::Duration::seconds(30));
    let browser = sign_in_with_totp(&app, "root", &secret).await;
    (app, browser)
}

#[tokio::test]
async fn without_a_session_the_console_asks_to_sign_in_and_comes_back() {
    let app = TestApp::builder().spawn().await;
    let response = new_client()
        .get(app.url("/admin/users?search=a"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/login?return_to=%2Fadmin%2Fusers%3Fsearch%3Da"
    );
}

#[tokio::test]
async fn an_account_without_a_role_is_refused() {
    let app = TestApp::builder().with_user("plain").spawn().await;
    let browser = app.signed_in_browser("plain", GOOD_PASSWORD).await;
    let (status, html) = app.get_page(&browser, "/admin").await;
    assert_eq!(status, 403);
    assert!(html.contains("no administrative role"), "{html}");
}

#[tokio::test]
async fn an_admin_without_a_second_factor_is_sent_to_enrol_first() {
    let app = TestApp::builder().spawn().await;
    // The bootstrap admin too: it has no TOTP on a fresh install.
    let (username, password) = app.admin();
    let browser = app.signed_in_browser(username, password).await;
    for path in ["/admin", "/admin/keys", "/admin/roles"] {
        let (status, html) = app.get_page(&browser, path).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(
            page_marker(&html).as_deref(),
            Some("admin-enrol-2fa"),
            "{path}"
        );
        assert!(html.contains("href=\"/account/totp\""));
    }
}

#[tokio::test]
async fn with_require_2fa_off_an_admin_without_totp_gets_in() {
    let app = TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await;
    let (username, password) = app.admin();
    let browser = app.signed_in_browser(username, password).await;
    let (status, html) = app.get_page(&browser, "/admin/roles").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-roles"));
    for role in ["admin", "user_admin", "client_admin", "auditor"] {
        assert!(html.contains(&format!("data-role=\"{role}\"")), "{role}");
    }
}

#[tokio::test]
async fn an_admin_with_totp_opens_the_console_and_rotates_keys_with_a_notice_shown_once() {
    let (app, browser) = admin_with_totp().await;
    let (status, html) = app.get_page(&browser, "/admin/keys").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-keys"));
    let active_before = active_kids(&html);
    assert!(!active_before.is_empty());

    let response = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", &csrf_from_html(&html))],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/admin/keys");
    let (_, html) = app.get_page(&browser, "/admin/keys").await;
    assert!(html.contains("data-notice"), "the notice is shown");
    assert!(html.contains("Rotated the signing keys"));
    let active_after = active_kids(&html);
    assert!(
        active_after.iter().all(|kid| !active_before.contains(kid)),
        "new active keys"
    );
    let (_, again) = app.get_page(&browser, "/admin/keys").await;
    assert!(!again.contains("data-notice"), "the notice is shown once");
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "admin.keys_rotate")
    );
}

#[tokio::test]
async fn a_destructive_action_needs_a_recent_sign_in() {
    let (app, browser) = admin_with_totp().await;
    let (_, html) = app.get_page(&browser, "/admin/keys").await;
    let before = active_kids(&html);
    app.advance_clock(chrono::Duration::minutes(11));
    let response = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", &csrf_from_html(&html))],
        )
        .await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert_eq!(page_marker(&page).as_deref(), Some("admin-reauthenticate"));
    assert!(
        page.contains("/login?force=1&#38;return_to=%2Fadmin%2Fkeys"),
        "{page}"
    );
    let (_, html) = app.get_page(&browser, "/admin/keys").await;
    assert_eq!(active_kids(&html), before, "nothing rotated");
    // Reading still works with the old sign-in.
    assert!(html.contains("data-page=\"admin-keys\""));
}

#[tokio::test]
async fn forms_need_the_csrf_token_and_a_same_origin_browser() {
    let (app, browser) = admin_with_totp().await;
    let (_, html) = app.get_page(&browser, "/admin/keys").await;
    let before = active_kids(&html);
    let csrf = csrf_from_html(&html);

    let response = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", "x".repeat(43).as_str())],
        )
        .await;
    assert_eq!(response.status(), 403, "wrong CSRF token");
    for site in ["cross-site", "same-site"] {
        let response = browser
            .post(app.url("/admin/keys/rotate"))
            .header("Sec-Fetch-Site", site)
            .form(&[("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "Sec-Fetch-Site: {site}");
    }
    let (_, html) = app.get_page(&browser, "/admin/keys").await;
    assert_eq!(active_kids(&html), before, "nothing rotated");

    let response = browser
        .post(app.url("/admin/keys/rotate"))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "a same-origin form goes through");
}

#[tokio::test]
async fn an_auditor_reads_but_the_gate_refuses_a_rotation() {
    let app = TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await;
    app.create_user_with_roles("watcher", &[Role::Auditor])
        .await;
    let browser = app.signed_in_browser("watcher", GOOD_PASSWORD).await;
    let (status, html) = app.get_page(&browser, "/admin/keys").await;
    assert_eq!(status, 200);
    let response = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", &csrf_from_html(&html))],
        )
        .await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("your roles do not permit rotate_keys"),
        "{page}"
    );
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "admin.denied")
    );
}

fn active_kids(html: &str) -> Vec<String> {
    html.split("<tr data-key=\"")
        .skip(1)
        .filter(|row| row.contains("data-key-status=\"active\""))
        .filter_map(|row| row.split('"').next().map(str::to_owned))
        .collect()
}
