//! The admin console's user pages (`/admin/users`, `/admin/users/{id}`): search, filters,
//! totals and paging of the list; a bad or unknown id; a stale sign-in, a missing CSRF token
//! and a cross-site post changing nothing. Each action of a user's page (lock and unlock,
//! roles, address verification, second factor, password reset, sessions, grants, deletion)
//! and the audit event it writes are in [`actions`]. The console's own gate (2FA, sign-in) is
//! tested in `admin_console`; here the apps run with `admin.require_2fa` off.

use gatehouse_identity::Role;
use gatehouse_tests::{GOOD_PASSWORD, TestApp, csrf_from_html, new_client, page_marker};
use uuid::Uuid;

mod actions;

async fn console_app() -> TestApp {
    TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await
}

/// The bootstrap admin, signed in.
async fn admin_browser(app: &TestApp) -> reqwest::Client {
    let (username, password) = app.admin();
    app.signed_in_browser(username, password).await
}

/// GETs a console page, asserting its status and `data-page`.
async fn page(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    status: u16,
    marker: &str,
) -> String {
    let (got, html) = app.get_page(browser, path).await;
    assert_eq!(got, status, "GET {path}: {html}");
    assert_eq!(page_marker(&html).as_deref(), Some(marker), "GET {path}");
    html
}

async fn user_page(app: &TestApp, browser: &reqwest::Client, id: Uuid) -> String {
    page(
        app,
        browser,
        &format!("/admin/users/{id}"),
        200,
        "admin-user",
    )
    .await
}

/// POSTs a form of a user's page (`action` below `/admin/users/{id}`) with the page's CSRF
/// token.
async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    id: Uuid,
    action: &str,
    csrf: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    app.post_form(browser, &format!("/admin/users/{id}/{action}"), &form)
        .await
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an action went through: back to `to`, whose page then shows a notice containing
/// `notice`. The page after.
async fn done(
    app: &TestApp,
    browser: &reqwest::Client,
    response: reqwest::Response,
    to: &str,
    notice: &str,
) -> String {
    let status = response.status();
    let at = location(&response);
    let body = response.text().await.unwrap();
    assert_eq!(status, 303, "{body}");
    assert_eq!(at, to);
    let (_, html) = app.get_page(browser, to).await;
    let shown = text_of(&html, "data-notice").unwrap_or_default();
    assert!(
        shown.contains(notice),
        "notice {shown:?}, expected {notice:?}"
    );
    html
}

/// The text of the first element carrying `attribute` (to its first child tag).
fn text_of(html: &str, attribute: &str) -> Option<String> {
    let at = html.find(&format!(" {attribute}"))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].trim().to_owned())
}

/// The values of every `attribute="…"`, in page order (`data-user` gives the usernames).
fn values_of(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!(" {attribute}=\"");
    html.split(&marker)
        .skip(1)
        .filter_map(|rest| rest.split('"').next().map(str::to_owned))
        .collect()
}

fn count_of(html: &str, marker: &str) -> usize {
    html.matches(marker).count()
}

fn has_form(html: &str, name: &str) -> bool {
    html.contains(&format!("data-form=\"{name}\""))
}

/// The roles checked in the roles form.
fn checked_roles(html: &str) -> Vec<String> {
    html.split("<input type=\"checkbox\" name=\"role\" value=\"")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let value = &tag[..tag.find('"')?];
            tag.contains("checked").then(|| value.to_owned())
        })
        .collect()
}

/// How many audit events `action` name `target`.
fn audited(app: &TestApp, action: &str, target: Uuid) -> usize {
    let target = target.to_string();
    app.audit_actions()
        .iter()
        .filter(|(a, t)| a == action && t.as_deref() == Some(target.as_str()))
        .count()
}

async fn can_sign_in(app: &TestApp, username: &str) -> bool {
    let response = app
        .login_with(&new_client(), username, GOOD_PASSWORD, None)
        .await;
    response.status() == 303 && !location(&response).starts_with("/login")
}

fn unescape(href: &str) -> String {
    href.replace("&amp;", "&")
}

#[tokio::test]
async fn the_list_searches_filters_counts_and_pages() {
    let app = console_app().await;
    let alice = app.create_user_with_roles("alice", &[]).await;
    app.create_user_with_roles("Alina", &[]).await;
    app.create_user_with_roles("bob", &[Role::Auditor]).await;
    for n in 0..52 {
        app.create_user_with_roles(&format!("user{n:02}"), &[])
            .await;
    }
    let browser = admin_browser(&app).await;

    // 55 users and the bootstrap admin: 50 on the first page, the rest after its cursor.
    let first = page(&app, &browser, "/admin/users", 200, "admin-users").await;
    assert!(has_form(&first, "user-search"));
    for field in [
        "<input type=\"search\"",
        "name=\"search\"",
        "<select id=\"user-status\" name=\"status\"",
        "name=\"role\"",
    ] {
        assert!(first.contains(field), "{field}");
    }
    assert_eq!(text_of(&first, "data-total").as_deref(), Some("56"));
    let mut seen = values_of(&first, "data-user");
    assert_eq!(seen.len(), 50);
    let next = values_of(&first, "href")
        .into_iter()
        .find(|href| href.contains("cursor="))
        .expect("a next link");
    assert!(first.contains("data-next"));
    let second = page(&app, &browser, &unescape(&next), 200, "admin-users").await;
    assert_eq!(text_of(&second, "data-total").as_deref(), Some("56"));
    let rest = values_of(&second, "data-user");
    assert_eq!(rest.len(), 6, "{rest:?}");
    assert!(
        !second.contains("data-next"),
        "the last page has no next link"
    );
    seen.extend(rest);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 56, "every user once");

    // A prefix of the username or the email, any case; each row links to the user's page.
    let found = page(
        &app,
        &browser,
        "/admin/users?search=ALI",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(text_of(&found, "data-total").as_deref(), Some("2"));
    assert_eq!(values_of(&found, "data-user"), ["alice", "Alina"]);
    assert!(found.contains(&format!("<a href=\"/admin/users/{alice}\" data-user-link>")));
    assert!(
        found.contains("value=\"ALI\""),
        "the search stays in the form"
    );
    let found = page(
        &app,
        &browser,
        "/admin/users?search=bob%40ex",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(values_of(&found, "data-user"), ["bob"]);
    let found = page(
        &app,
        &browser,
        "/admin/users?search=lice",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(
        text_of(&found, "data-total").as_deref(),
        Some("0"),
        "a prefix, not a substring"
    );

    // Filters, combined with the search.
    let auditors = page(
        &app,
        &browser,
        "/admin/users?role=auditor",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(values_of(&auditors, "data-user"), ["bob"]);
    assert!(auditors.contains("<option value=\"auditor\" selected>"));
    let html = user_page(&app, &browser, alice).await;
    let response = post(
        &app,
        &browser,
        alice,
        "lock",
        &csrf_from_html(&html),
        &[("reason", "test")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let locked = page(
        &app,
        &browser,
        "/admin/users?status=locked&search=al",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(text_of(&locked, "data-total").as_deref(), Some("1"));
    assert_eq!(values_of(&locked, "data-user"), ["alice"]);
    let active = page(
        &app,
        &browser,
        "/admin/users?status=active&search=al&role=",
        200,
        "admin-users",
    )
    .await;
    assert_eq!(values_of(&active, "data-user"), ["Alina"]);

    // A filter or cursor the console did not offer is a 400 page.
    for path in [
        "/admin/users?status=gone",
        "/admin/users?role=root",
        "/admin/users?cursor=x",
    ] {
        let (status, html) = app.get_page(&browser, path).await;
        assert_eq!(status, 400, "{path}: {html}");
        assert!(html.contains("<html"), "an HTML page");
    }
}

#[tokio::test]
async fn a_destructive_action_with_an_old_sign_in_asks_to_sign_in_again_and_changes_nothing() {
    let app = console_app().await;
    let eve = app.create_user_with_roles("eve", &[]).await;
    let browser = admin_browser(&app).await;
    let csrf = csrf_from_html(&user_page(&app, &browser, eve).await);
    app.advance_clock(chrono::Duration::minutes(11));

    for (action, fields) in [
        ("lock", vec![("reason", "old sign-in")]),
        ("roles", vec![("role", "auditor")]),
        ("delete", vec![]),
    ] {
        let response = post(&app, &browser, eve, action, &csrf, &fields).await;
        assert_eq!(response.status(), 403, "{action}");
        let html = response.text().await.unwrap();
        assert_eq!(
            page_marker(&html).as_deref(),
            Some("admin-reauthenticate"),
            "{action}"
        );
        assert!(
            html.contains(&format!("return_to=%2Fadmin%2Fusers%2F{eve}")),
            "{action}: back to the user's page after signing in: {html}"
        );
        assert!(html.contains("data-action=\"reauthenticate\""));
    }
    let html = user_page(&app, &browser, eve).await;
    assert_eq!(text_of(&html, "data-status").as_deref(), Some("active"));
    assert!(checked_roles(&html).is_empty());
    for action in ["admin.user_lock", "admin.user_roles", "admin.user_delete"] {
        assert_eq!(audited(&app, action, eve), 0, "{action}");
    }
    // A safe action still goes through.
    let response = post(&app, &browser, eve, "password-reset", &csrf, &[]).await;
    assert_eq!(response.status(), 303);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_from_another_site_is_refused() {
    let app = console_app().await;
    let fay = app.create_user_with_roles("fay", &[]).await;
    let browser = admin_browser(&app).await;
    let csrf = csrf_from_html(&user_page(&app, &browser, fay).await);

    for action in ["lock", "verify-email", "sessions/end"] {
        let response = app
            .post_form(
                &browser,
                &format!("/admin/users/{fay}/{action}"),
                &[("reason", "no token"), ("email_verified", "true")],
            )
            .await;
        assert_eq!(response.status(), 403, "{action} without a CSRF token");
        let response = browser
            .post(app.url(&format!("/admin/users/{fay}/{action}")))
            .header("Sec-Fetch-Site", "cross-site")
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("reason", "cross-site"),
                ("email_verified", "true"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{action} from another site");
    }
    let html = user_page(&app, &browser, fay).await;
    assert_eq!(text_of(&html, "data-status").as_deref(), Some("active"));
    assert_eq!(audited(&app, "admin.user_lock", fay), 0);
    assert_eq!(audited(&app, "admin.user_update", fay), 0);
    assert_eq!(audited(&app, "admin.user_sessions_end", fay), 0);
}

#[tokio::test]
async fn a_bad_or_unknown_id_is_a_404_page_and_an_auditor_only_reads() {
    let app = console_app().await;
    let hal = app.create_user_with_roles("hal", &[]).await;
    app.create_user_with_roles("ivy", &[Role::Auditor]).await;
    let browser = admin_browser(&app).await;
    let csrf = csrf_from_html(&user_page(&app, &browser, hal).await);
    for path in [
        "/admin/users/not-a-uuid".to_owned(),
        format!("/admin/users/{}", Uuid::new_v4()),
    ] {
        let (status, html) = app.get_page(&browser, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("<html"), "an HTML page: {html}");
    }
    let response = app
        .post_form(
            &browser,
            "/admin/users/not-a-uuid/unlock",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = post(&app, &browser, Uuid::new_v4(), "unlock", &csrf, &[]).await;
    assert_eq!(response.status(), 404);

    // An auditor sees the profile and the trail, and no form.
    let ivy = app.signed_in_browser("ivy", GOOD_PASSWORD).await;
    let html = user_page(&app, &ivy, hal).await;
    assert_eq!(text_of(&html, "data-username").as_deref(), Some("hal"));
    assert!(html.contains("Audit trail"));
    assert!(!html.contains("data-form="), "no form for a read-only role");
    // The gate refuses a hand-made post all the same.
    // (The CSRF cookie is the browser's, any page's form carries it.)
    let csrf = csrf_from_html(&app.account_page(&ivy).await.1);
    let response = post(&app, &ivy, hal, "unlock", &csrf, &[]).await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("your roles do not permit unlock_user")
    );
}
