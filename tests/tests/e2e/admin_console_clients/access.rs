//! Who may do what on the client pages (the permission gate, felt through the console), the
//! recent sign-in destructive actions need, the list's paging and totals, and unknown ids.

use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, csrf_from_html, page_marker};

use super::{
    CLIENTS, SERVICE_CLIENT, assert_token, audited, console_app, create_service_client,
    marked_text, post_new_client, stored_client,
};

#[tokio::test]
async fn a_client_admin_registers_clients_and_an_auditor_only_reads() {
    let app = console_app().await;

    let clerk = app.signed_in_browser("clerk", GOOD_PASSWORD).await;
    let (client_id, _) = create_service_client(&app, &clerk).await;
    assert!(audited(&app, "admin.client_create", &client_id));
    // Roles for a service account are the admin's to give.
    let response = post_new_client(
        &app,
        &clerk,
        &[
            ("name", "Escalator"),
            ("grant_types", "client_credentials"),
            ("role", "admin"),
        ],
    )
    .await;
    assert_eq!(response.status(), 403);

    let watcher = app.signed_in_browser("watcher", GOOD_PASSWORD).await;
    let before = app.state.accounts.database().list_clients().unwrap().len();
    let (status, list) = app.get_page(&watcher, CLIENTS).await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!(r#"data-client="{client_id}""#)));
    let (status, _) = app
        .get_page(&watcher, &format!("{CLIENTS}/{client_id}"))
        .await;
    assert_eq!(status, 200);
    let response = post_new_client(&app, &watcher, &SERVICE_CLIENT).await;
    assert_eq!(response.status(), 403);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("your roles do not permit create_client"),
        "{html}"
    );
    assert_eq!(
        app.state.accounts.database().list_clients().unwrap().len(),
        before
    );
    let (_, page) = app
        .get_page(&watcher, &format!("{CLIENTS}/{client_id}"))
        .await;
    let response = app
        .post_form(
            &watcher,
            &format!("{CLIENTS}/{client_id}/delete"),
            &[("csrf_token", &csrf_from_html(&page))],
        )
        .await;
    assert_eq!(response.status(), 403);
    assert!(stored_client(&app, &client_id).is_some());
    assert!(audited(&app, "admin.denied", "create_client"));
    // A refusal on one client names the client.
    assert!(audited(&app, "admin.denied", &client_id));
}

#[tokio::test]
async fn the_list_pages_with_a_total_and_unknown_clients_are_404() {
    let app = console_app().await;
    for _ in 0..3 {
        app.register_client(ClientSpec::default());
    }
    let all = app.state.accounts.database().list_clients().unwrap().len();
    assert!(all >= 3);
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;

    let mut seen = Vec::new();
    let mut next = Some(format!("{CLIENTS}?limit=2"));
    while let Some(path) = next {
        let (status, html) = app.get_page(&browser, &path).await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(marked_text(&html, "data-total"), Some(all.to_string()));
        let rows: Vec<String> = html
            .split(r#"<tr data-client=""#)
            .skip(1)
            .filter_map(|row| row.split('"').next().map(str::to_owned))
            .collect();
        assert!(rows.len() <= 2);
        seen.extend(rows);
        next = next_link(&html);
    }
    assert_eq!(seen.len(), all, "every client once: {seen:?}");

    let (status, html) = app
        .get_page(&browser, &format!("{CLIENTS}?cursor=garbage"))
        .await;
    assert_eq!(status, 400, "{html}");
    for path in ["/admin/clients/no-such-client", "/admin/clients/a%2Fb"] {
        let (status, _) = app.get_page(&browser, path).await;
        assert_eq!(status, 404, "{path}");
    }
}

/// The `href` of the `a[data-next]` link, decoded.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("data-next")?;
    let start = html[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + html[start..].find('"')?;
    Some(html[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

#[tokio::test]
async fn rotation_roles_and_deletion_need_a_recent_sign_in_the_rest_does_not() {
    let app = console_app().await;
    let browser = app.signed_in_browser("root", GOOD_PASSWORD).await;
    let (client_id, secret) = create_service_client(&app, &browser).await;
    let path = format!("{CLIENTS}/{client_id}");
    let (_, page) = app.get_page(&browser, &path).await;
    let csrf = csrf_from_html(&page);
    app.advance_clock(chrono::Duration::minutes(11));

    for action in ["secret", "roles", "delete"] {
        let response = app
            .post_form(
                &browser,
                &format!("{path}/{action}"),
                &[("csrf_token", &csrf), ("role", "auditor")],
            )
            .await;
        assert_eq!(response.status(), 403, "{action}");
        let html = response.text().await.unwrap();
        assert_eq!(
            page_marker(&html).as_deref(),
            Some("admin-reauthenticate"),
            "{action}"
        );
        let return_to = format!("return_to=%2Fadmin%2Fclients%2F{client_id}");
        assert!(html.contains(&return_to), "{action}: {html}");
    }
    assert_token(&app, &client_id, &secret).await;
    let database = app.state.accounts.database();
    assert!(database.client_roles(&client_id).unwrap().is_empty());
    // Giving roles at registration is a role change too.
    let response = post_new_client(
        &app,
        &browser,
        &[
            ("name", "Late"),
            ("grant_types", "client_credentials"),
            ("role", "auditor"),
        ],
    )
    .await;
    assert_eq!(response.status(), 403);

    // Safe actions go through on the old sign-in.
    let response = app
        .post_form(
            &browser,
            &format!("{path}/disable"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert!(!stored_client(&app, &client_id).unwrap().enabled);
    let response = post_new_client(
        &app,
        &browser,
        &[("name", "On time"), ("grant_types", "client_credentials")],
    )
    .await;
    assert_eq!(response.status(), 200);
}
