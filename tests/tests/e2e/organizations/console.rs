//! The console's organisation pages (`/admin/organizations`) through real forms: create (a
//! refused form shown again as typed), rename, members, the clients list, enable and disable,
//! delete; CSRF, the recent sign-in destructive actions need, an auditor's read-only view and
//! unknown organisations.
use gatehouse_identity::Role;
use gatehouse_identity::organizations::{self as orgs, OrgRole};
use gatehouse_tests::{GOOD_PASSWORD, TestApp, attribute_value, csrf_from_html, page_marker};

use super::{CONSOLE, audited_in, register_org_client, stored_org};

/// An app whose console needs no second factor, with `root` (admin) and `watcher` (auditor).
async fn console_app() -> TestApp {
    let app = TestApp::builder()
        .configure(|settings| settings.admin.require_2fa = false)
        .spawn()
        .await;
    app.create_user_with_roles("root", &[Role::Admin]).await;
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

/// GETs `page` in `browser` and posts `fields` with the page's CSRF token to `action`.
async fn post_from(
    app: &TestApp,
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, html) = app.get_page(browser, page).await;
    assert_eq!(status, 200, "{html}");
    let csrf = csrf_from_html(&html);
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    app.post_form(browser, action, &form).await
}

#[tokio::test]
async fn an_organisation_lives_its_whole_life_in_the_console() {
    let app = console_app().await;
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;

    let (status, html) = app.get_page(&browser, CONSOLE).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-organizations"));
    assert!(
        html.contains(r#"href="/admin/organizations""#),
        "in the navigation"
    );
    assert!(html.contains(r#"data-form="create-organization""#));

    // A refused form comes back as typed, with the reason; nothing is written.
    let response = post_from(
        &app,
        &browser,
        CONSOLE,
        CONSOLE,
        &[("slug", "Not a slug"), ("name", "Acme & Co")],
    )
    .await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert_eq!(page_marker(&html).as_deref(), Some("admin-organizations"));
    assert!(html.contains("data-error"), "{html}");
    assert!(html.contains("Slug:"), "the alert names the field: {html}");
    assert!(
        html.contains(r#"value="Acme &amp; Co""#) || html.contains(r#"value="Acme &#38; Co""#),
        "{html}"
    );
    assert!(
        orgs::list(app.state.accounts.database())
            .unwrap()
            .is_empty()
    );

    let response = post_from(
        &app,
        &browser,
        CONSOLE,
        CONSOLE,
        &[("slug", "acme"), ("name", "Acme Corp")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let stored = stored_org(&app, "acme").unwrap();
    let path = format!("{CONSOLE}/{}", stored.id);
    assert_eq!(location(&response), path);
    let (status, page) = app.get_page(&browser, &path).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page_marker(&page).as_deref(), Some("admin-organization"));
    assert!(page.contains("data-notice"), "{page}");
    assert_eq!(
        attribute_value(&page, "data-enabled").as_deref(),
        Some("true")
    );
    // By slug too.
    let (status, _) = app.get_page(&browser, &format!("{CONSOLE}/acme")).await;
    assert_eq!(status, 200);
    // The same slug again: refused.
    let response = post_from(
        &app,
        &browser,
        CONSOLE,
        CONSOLE,
        &[("slug", "acme"), ("name", "Again")],
    )
    .await;
    assert_eq!(response.status(), 400);

    // Renamed.
    let response = post_from(&app, &browser, &path, &path, &[("name", "Acme Europe")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme Europe");
    let response = post_from(&app, &browser, &path, &path, &[("name", " ")]).await;
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("data-error"), "{html}");
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme Europe");

    // Members: added by email, role changed, removed.
    let members = format!("{path}/members");
    let response = post_from(
        &app,
        &browser,
        &path,
        &members,
        &[("user", "Alice@Example.com"), ("role", "member")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let database = app.state.accounts.database();
    assert_eq!(
        orgs::role_of(database, stored.id, alice).unwrap(),
        Some(OrgRole::Member)
    );
    let (_, page) = app.get_page(&browser, &path).await;
    assert!(
        page.contains(r#"data-member="alice" data-role="member""#),
        "{page}"
    );
    let response = post_from(
        &app,
        &browser,
        &path,
        &members,
        &[("user", "nobody-here"), ("role", "member")],
    )
    .await;
    assert_eq!(response.status(), 404);
    let response = post_from(
        &app,
        &browser,
        &path,
        &format!("{members}/{alice}"),
        &[("role", "org_admin")],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        orgs::role_of(database, stored.id, alice).unwrap(),
        Some(OrgRole::OrgAdmin)
    );
    let response = post_from(
        &app,
        &browser,
        &path,
        &format!("{members}/{alice}"),
        &[("role", "owner")],
    )
    .await;
    assert_eq!(response.status(), 400);
    let response = post_from(
        &app,
        &browser,
        &path,
        &format!("{members}/{alice}/remove"),
        &[],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(orgs::role_of(database, stored.id, alice).unwrap(), None);

    // Its clients, read only, linking to their pages.
    let portal = register_org_client(&app, &stored.id.to_string(), "Acme portal");
    let (_, page) = app.get_page(&browser, &path).await;
    assert!(
        page.contains(&format!(
            r#"href="/admin/clients/{}" data-client-link"#,
            portal.client_id
        )),
        "{page}"
    );

    // Disabled and enabled again.
    let response = post_from(&app, &browser, &path, &format!("{path}/disable"), &[]).await;
    assert_eq!(response.status(), 303);
    assert!(!stored_org(&app, "acme").unwrap().enabled);
    let (_, page) = app.get_page(&browser, &path).await;
    assert_eq!(
        attribute_value(&page, "data-enabled").as_deref(),
        Some("false")
    );
    assert!(page.contains(r#"data-form="enable-organization""#));
    let response = post_from(&app, &browser, &path, &format!("{path}/enable"), &[]).await;
    assert_eq!(response.status(), 303);
    assert!(stored_org(&app, "acme").unwrap().enabled);

    // Not deleted while it has a client; deleted once it has none.
    let response = post_from(&app, &browser, &path, &format!("{path}/delete"), &[]).await;
    assert_eq!(response.status(), 409);
    assert!(stored_org(&app, "acme").is_some());
    assert!(database.delete_client(&portal.client_id).unwrap());
    let response = post_from(&app, &browser, &path, &format!("{path}/delete"), &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), CONSOLE);
    assert!(stored_org(&app, "acme").is_none());
    let (status, _) = app.get_page(&browser, &path).await;
    assert_eq!(status, 404);

    let target = stored.id.to_string();
    for action in ["admin.org_create", "admin.org_update", "admin.org_delete"] {
        assert!(
            !audited_in(&app, action, &target).is_empty(),
            "{action} is in the audit log"
        );
    }
    assert_eq!(
        audited_in(&app, "admin.org_member_add", &alice.to_string()).len(),
        2
    );
    assert_eq!(
        audited_in(&app, "admin.org_member_remove", &alice.to_string()),
        [Some(stored.id)]
    );
}

#[tokio::test]
async fn the_console_asks_for_csrf_a_recent_sign_in_and_the_right_role() {
    let app = console_app().await;
    app.create_user("alice").await;
    let alice = app.user_id("alice");
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;
    let response = post_from(
        &app,
        &browser,
        CONSOLE,
        CONSOLE,
        &[("slug", "acme"), ("name", "Acme Corp")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let path = location(&response);
    let id = stored_org(&app, "acme").unwrap().id;

    // No CSRF token, or a wrong one: refused.
    for token in [None, Some("forged")] {
        let mut form = vec![("name", "Forged")];
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let response = app.post_form(&browser, &path, &form).await;
        assert_eq!(response.status(), 403, "{token:?}");
    }
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme Corp");

    // An old sign-in: disabling, deleting, removing a member and making an org_admin ask to
    // sign in again; renaming, enabling and adding a plain member do not.
    let (_, page) = app.get_page(&browser, &path).await;
    let csrf = csrf_from_html(&page);
    app.advance_clock(chrono::Duration::minutes(11));
    let members = format!("{path}/members");
    for (action, fields) in [
        (format!("{path}/disable"), vec![]),
        (format!("{path}/delete"), vec![]),
        (
            members.clone(),
            vec![("user", "alice"), ("role", "org_admin")],
        ),
        (format!("{members}/{alice}/remove"), vec![]),
    ] {
        let mut form = vec![("csrf_token", csrf.as_str())];
        form.extend(fields);
        let response = app.post_form(&browser, &action, &form).await;
        assert_eq!(response.status(), 403, "{action}");
        let html = response.text().await.unwrap();
        assert_eq!(
            page_marker(&html).as_deref(),
            Some("admin-reauthenticate"),
            "{action}"
        );
        assert!(
            html.contains(&format!("return_to=%2Fadmin%2Forganizations%2F{id}")),
            "{action}: {html}"
        );
    }
    let stored = stored_org(&app, "acme").unwrap();
    assert!(stored.enabled);
    assert_eq!(
        orgs::role_of(app.state.accounts.database(), id, alice).unwrap(),
        None
    );
    let response = app
        .post_form(
            &browser,
            &members,
            &[("csrf_token", &csrf), ("user", "alice"), ("role", "member")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = app
        .post_form(
            &browser,
            &path,
            &[("csrf_token", &csrf), ("name", "Acme II")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme II");

    // An auditor reads the pages and changes nothing.
    let watcher = app.signed_in_browser("watcher", GOOD_PASSWORD).await;
    let (status, list) = app.get_page(&watcher, CONSOLE).await;
    assert_eq!(status, 200);
    assert!(list.contains(r#"data-organization="acme""#), "{list}");
    let (status, _) = app.get_page(&watcher, &path).await;
    assert_eq!(status, 200);
    let response = post_from(
        &app,
        &watcher,
        CONSOLE,
        CONSOLE,
        &[("slug", "globex"), ("name", "Globex")],
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = post_from(&app, &watcher, &path, &path, &[("name", "Mine")]).await;
    assert_eq!(response.status(), 403);
    assert!(stored_org(&app, "globex").is_none());
    assert_eq!(stored_org(&app, "acme").unwrap().name, "Acme II");

    // Unknown organisations and malformed names are 404 pages.
    for unknown in [
        format!("{CONSOLE}/globex"),
        format!("{CONSOLE}/{}", uuid::Uuid::new_v4()),
        format!("{CONSOLE}/Acme"),
    ] {
        let (status, _) = app.get_page(&browser, &unknown).await;
        assert_eq!(status, 404, "{unknown}");
    }
}
