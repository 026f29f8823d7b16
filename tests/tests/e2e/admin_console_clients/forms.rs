//! Registration forms the console refuses (shown again as typed, with the reason), a public
//! client (no secret to show or rotate), and the roles of a service account.

use gatehouse_identity::Role;
use gatehouse_tests::{GOOD_PASSWORD, TestApp, csrf_from_html, page_marker};
use serde_json::Value;

use super::{CLIENTS, audited, console_app, marked_text, post_new_client, stored_client};

#[tokio::test]
async fn a_refused_registration_shows_the_form_again_as_typed() {
    let app = console_app().await;
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;
    let before = app.state.accounts.database().list_clients().unwrap().len();

    let response = post_new_client(
        &app,
        &browser,
        &[
            ("name", "Fragment & co"),
            ("client_type", "confidential"),
            ("redirect_uris", "https://rp.example.test/cb#fragment"),
            ("grant_types", "authorization_code"),
            ("scopes", "openid profile"),
            ("backchannel_logout_uri", ""),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("admin-client-new"),
        "{html}"
    );
    assert!(html.contains("data-error"), "{html}");
    assert!(html.contains("fragment"), "the reason is shown");
    assert!(
        html.contains(r#"value="Fragment &#38; co""#)
            || html.contains(r#"value="Fragment &amp; co""#),
        "{html}"
    );
    assert!(html.contains("https://rp.example.test/cb#fragment</textarea>"));
    assert!(html.contains(r#"value="openid profile""#));
    assert!(html.contains(r#"name="grant_types" value="authorization_code" checked"#));
    assert!(!html.contains(r#"name="grant_types" value="client_credentials" checked"#));

    // A public client cannot use client_credentials; a grant the server lacks is refused too.
    for (grant, client_type) in [
        ("client_credentials", "public"),
        ("implicit", "confidential"),
    ] {
        let response = post_new_client(
            &app,
            &browser,
            &[
                ("name", "Refused"),
                ("client_type", client_type),
                ("redirect_uris", "https://rp.example.test/cb"),
                ("grant_types", grant),
            ],
        )
        .await;
        assert_eq!(response.status(), 400, "{grant}");
        let html = response.text().await.unwrap();
        assert!(html.contains("data-error"), "{grant}: {html}");
    }
    assert_eq!(
        app.state.accounts.database().list_clients().unwrap().len(),
        before,
        "nothing registered"
    );
}

#[tokio::test]
async fn a_public_client_has_no_secret_to_show_or_rotate() {
    let app = console_app().await;
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;
    let response = post_new_client(
        &app,
        &browser,
        &[
            ("name", "Single-page app"),
            ("client_type", "public"),
            ("redirect_uris", "https://spa.example.test/cb"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert_eq!(page_marker(&html).as_deref(), Some("admin-client-created"));
    assert!(!html.contains("data-client-secret"));
    let client_id = marked_text(&html, "data-client-id").unwrap();
    assert!(stored_client(&app, &client_id).unwrap().is_public());

    let path = format!("{CLIENTS}/{client_id}");
    let (_, page) = app.get_page(&browser, &path).await;
    assert!(!page.contains(r#"data-form="rotate-secret""#));
    let response = app
        .post_form(
            &browser,
            &format!("{path}/secret"),
            &[("csrf_token", &csrf_from_html(&page))],
        )
        .await;
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn a_service_account_gets_roles_at_registration_and_on_its_page() {
    let app = console_app().await;
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;
    let response = post_new_client(
        &app,
        &browser,
        &[
            ("name", "Provisioner"),
            ("grant_types", "client_credentials"),
            ("scopes", "admin"),
            ("role", "user_admin"),
            ("role", "auditor"),
        ],
    )
    .await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    let client_id = marked_text(&html, "data-client-id").unwrap();
    let secret = marked_text(&html, "data-client-secret").unwrap();
    let roles = |app: &TestApp| {
        app.state
            .accounts
            .database()
            .client_roles(&client_id)
            .unwrap()
    };
    // Sorted by name.
    assert_eq!(roles(&app), [Role::Auditor, Role::UserAdmin]);
    // The service account acts with those roles in the admin API.
    let response = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let token = token["access_token"].as_str().unwrap();
    let response = app
        .client
        .get(app.url("/api/v1/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let path = format!("{CLIENTS}/{client_id}");
    let (_, page) = app.get_page(&browser, &path).await;
    assert!(
        page.contains(r#"name="role" value="user_admin" checked"#),
        "{page}"
    );
    let response = app
        .post_form(
            &browser,
            &format!("{path}/roles"),
            &[
                ("csrf_token", &csrf_from_html(&page)),
                ("role", "client_admin"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(roles(&app), [Role::ClientAdmin]);
    let (_, page) = app.get_page(&browser, &path).await;
    assert_eq!(
        marked_text(&page, "data-client-roles").as_deref(),
        Some("client_admin")
    );
    let response = app
        .post_form(
            &browser,
            &format!("{path}/roles"),
            &[
                ("csrf_token", &csrf_from_html(&page)),
                ("role", "superuser"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(roles(&app), [Role::ClientAdmin]);
    assert!(audited(&app, "admin.client_roles", &client_id));
}
