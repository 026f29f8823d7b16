//! The admin console's client pages (`/admin/clients`): registering through the form with the
//! secret shown once, felt at `/token`; rotating the secret, disabling and enabling, editing,
//! deleting, with an audit event for each (here); refused forms shown again as typed, public
//! clients and service-account roles (`forms`); who may do what, the recent sign-in before
//! destructive actions, paging and unknown ids (`access`).

use gatehouse_identity::{GrantType, Role};
use gatehouse_tests::{GOOD_PASSWORD, TestApp, attribute_value, csrf_from_html, page_marker};
use serde_json::Value;

mod access;
mod forms;

const CLIENTS: &str = "/admin/clients";

/// An app whose console needs no second factor, with `root` (admin), `clerk` (client_admin)
/// and `watcher` (auditor).
async fn console_app() -> TestApp {
    let app = TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await;
    app.create_user_with_roles("root", &[Role::Admin]).await;
    app.create_user_with_roles("clerk", &[Role::ClientAdmin])
        .await;
    app.create_user_with_roles("watcher", &[Role::Auditor])
        .await;
    app
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The text inside the first element carrying `marker` (e.g. `data-client-secret`).
fn marked_text(html: &str, marker: &str) -> Option<String> {
    let at = html.find(marker)?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(html[start..end].trim().to_owned())
}

fn audited(app: &TestApp, action: &str, target: &str) -> bool {
    app.audit_actions()
        .iter()
        .any(|(a, t)| a == action && t.as_deref() == Some(target))
}

async fn client_credentials(app: &TestApp, client_id: &str, secret: &str) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")])
        .send()
        .await
        .unwrap()
}

async fn assert_token(app: &TestApp, client_id: &str, secret: &str) {
    let response = client_credentials(app, client_id, secret).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

async fn assert_invalid_client(app: &TestApp, client_id: &str, secret: &str) {
    let response = client_credentials(app, client_id, secret).await;
    let status = response.status().as_u16();
    assert!(matches!(status, 400 | 401), "status {status}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
}

fn stored_client(app: &TestApp, client_id: &str) -> Option<gatehouse_identity::Client> {
    app.state
        .accounts
        .database()
        .find_client(client_id)
        .unwrap()
}

/// Fills the registration form of `/admin/clients/new` in `browser` and posts it.
async fn post_new_client(
    app: &TestApp,
    browser: &reqwest::Client,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, html) = app.get_page(browser, "/admin/clients/new").await;
    assert_eq!(status, 200, "{html}");
    let csrf = csrf_from_html(&html);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(browser, CLIENTS, &form).await
}

const SERVICE_CLIENT: [(&str, &str); 6] = [
    ("name", "Nightly sync"),
    ("client_type", "confidential"),
    (
        "redirect_uris",
        "https://rp.example.test/cb\r\nhttps://rp.example.test/cb2\r\n",
    ),
    ("grant_types", "client_credentials"),
    ("grant_types", "authorization_code"),
    ("scopes", "openid api"),
];

/// Registers [`SERVICE_CLIENT`]: its id and secret, read from the page that shows them once.
async fn create_service_client(app: &TestApp, browser: &reqwest::Client) -> (String, String) {
    let response = post_new_client(app, browser, &SERVICE_CLIENT).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(location(&response).is_empty(), "rendered, not redirected");
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let html = response.text().await.unwrap();
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("admin-client-created"),
        "{html}"
    );
    let client_id = marked_text(&html, "data-client-id").unwrap();
    let secret = marked_text(&html, "data-client-secret").unwrap();
    assert!(secret.len() >= 32, "{secret}");
    assert!(
        cookies.iter().all(|cookie| !cookie.contains(&secret)),
        "the secret is in no cookie: {cookies:?}"
    );
    (client_id, secret)
}

#[tokio::test]
async fn a_client_lives_its_whole_life_in_the_console() {
    let app = console_app().await;
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;

    let (status, html) = app.get_page(&browser, CLIENTS).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-clients"));
    assert!(html.contains(r#"href="/admin/clients/new" data-action="new-client""#));
    let (_, form) = app.get_page(&browser, "/admin/clients/new").await;
    assert_eq!(page_marker(&form).as_deref(), Some("admin-client-new"));
    assert!(form.contains(r#"data-form="create-client""#));
    for grant in GrantType::ALL {
        let checkbox = format!(r#"name="grant_types" value="{}""#, grant.as_str());
        assert!(
            form.contains(&checkbox),
            "a checkbox for {}",
            grant.as_str()
        );
    }

    // Registered through the form; its secret works at /token.
    let (client_id, secret) = create_service_client(&app, &browser).await;
    let stored = stored_client(&app, &client_id).unwrap();
    assert_eq!(stored.name, "Nightly sync");
    assert_eq!(
        stored.redirect_uris,
        ["https://rp.example.test/cb", "https://rp.example.test/cb2"]
    );
    assert_eq!(
        stored.grant_types,
        [GrantType::ClientCredentials, GrantType::AuthorizationCode]
    );
    assert_token(&app, &client_id, &secret).await;
    let (_, list) = app.get_page(&browser, CLIENTS).await;
    assert!(
        list.contains(&format!(r#"data-client="{client_id}""#)),
        "{list}"
    );
    assert!(list.contains(&format!(
        r#"href="/admin/clients/{client_id}" data-client-link"#
    )));

    let (_, found) = app
        .get_page(&browser, "/admin/clients?search=NIGHTLY")
        .await;
    assert_eq!(marked_text(&found, "data-total").as_deref(), Some("1"));
    assert!(found.contains(&format!(r#"data-client="{client_id}""#)));
    let (_, none) = app.get_page(&browser, "/admin/clients?search=sync").await;
    assert_eq!(marked_text(&none, "data-total").as_deref(), Some("0"));

    let path = format!("{CLIENTS}/{client_id}");
    let (status, page) = app.get_page(&browser, &path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("admin-client"));
    assert_eq!(
        marked_text(&page, "data-client-id"),
        Some(client_id.clone())
    );
    assert_eq!(
        attribute_value(&page, "data-enabled").as_deref(),
        Some("true")
    );
    let csrf = csrf_from_html(&page);

    // Rotation: the new secret is shown once; the old one fails at /token.
    let response = app
        .post_form(
            &browser,
            &format!("{path}/secret"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("admin-client-secret"),
        "{html}"
    );
    let new_secret = marked_text(&html, "data-client-secret").unwrap();
    assert_ne!(new_secret, secret);
    assert_invalid_client(&app, &client_id, &secret).await;
    assert_token(&app, &client_id, &new_secret).await;

    // Disabled: refused at /token, with a notice; enabled again: accepted.
    let response = app
        .post_form(
            &browser,
            &format!("{path}/disable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), path);
    let (_, page) = app.get_page(&browser, &path).await;
    assert_eq!(
        attribute_value(&page, "data-enabled").as_deref(),
        Some("false")
    );
    assert!(page.contains("data-notice"), "{page}");
    assert!(page.contains(r#"data-form="enable-client""#));
    assert_invalid_client(&app, &client_id, &new_secret).await;
    let response = app
        .post_form(
            &browser,
            &format!("{path}/enable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = app.get_page(&browser, &path).await;
    assert_eq!(
        attribute_value(&page, "data-enabled").as_deref(),
        Some("true")
    );
    assert_token(&app, &client_id, &new_secret).await;

    // Edited: new redirect URIs and a back-channel logout URI.
    let response = app
        .post_form(
            &browser,
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "Nightly sync v2"),
                ("redirect_uris", "https://rp.example.test/next"),
                ("grant_types", "client_credentials"),
                ("grant_types", "authorization_code"),
                ("scopes", "openid api"),
                ("backchannel_logout_uri", "https://rp.example.test/logout"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let stored = stored_client(&app, &client_id).unwrap();
    assert_eq!(stored.name, "Nightly sync v2");
    assert_eq!(stored.redirect_uris, ["https://rp.example.test/next"]);
    assert_eq!(
        stored.backchannel_logout_uri.as_deref(),
        Some("https://rp.example.test/logout")
    );
    let (_, page) = app.get_page(&browser, &path).await;
    assert!(page.contains("Saved Nightly sync v2."), "{page}");

    // A bad redirect URI: the page again, as typed, with the reason; nothing changed.
    let response = app
        .post_form(
            &browser,
            &path,
            &[
                ("csrf_token", &csrf),
                ("name", "Renamed"),
                ("redirect_uris", "rp.example.test/no-scheme"),
                ("grant_types", "authorization_code"),
                ("scopes", "openid"),
                ("backchannel_logout_uri", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert_eq!(page_marker(&html).as_deref(), Some("admin-client"));
    assert!(html.contains("data-error"), "{html}");
    assert!(html.contains("Redirect URIs"), "the alert names the field");
    assert!(
        html.contains(">rp.example.test/no-scheme</textarea>"),
        "{html}"
    );
    assert!(html.contains(r#"value="Renamed""#));
    let stored = stored_client(&app, &client_id).unwrap();
    assert_eq!(stored.name, "Nightly sync v2");
    assert_eq!(stored.redirect_uris, ["https://rp.example.test/next"]);

    // Deleted: gone from the console and from /token.
    let response = app
        .post_form(
            &browser,
            &format!("{path}/delete"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), CLIENTS);
    let (_, list) = app.get_page(&browser, CLIENTS).await;
    assert!(list.contains("data-notice"));
    assert!(!list.contains(&format!(r#"data-client="{client_id}""#)));
    let (status, _) = app.get_page(&browser, &path).await;
    assert_eq!(status, 404);
    assert!(stored_client(&app, &client_id).is_none());
    assert_invalid_client(&app, &client_id, &new_secret).await;

    for action in [
        "admin.client_create",
        "admin.client_secret_rotate",
        "admin.client_disable",
        "admin.client_enable",
        "admin.client_update",
        "admin.client_delete",
    ] {
        assert!(
            audited(&app, action, &client_id),
            "{action} is in the audit log"
        );
    }
}
