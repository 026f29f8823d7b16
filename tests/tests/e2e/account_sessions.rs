//! The per-user session limit and the paged session list on `/account`.

use chrono::Duration;
use gatehouse_server::Settings;
use gatehouse_sessions::BrowserSession;
use gatehouse_tests::{GOOD_PASSWORD, TestApp, TestOptions, new_client, spawn_app, spawn_app_with};

fn at_most_three_sessions(settings: &mut Settings) {
    settings.sessions.max_per_user = 3;
}

/// The `<li>` texts of the session list.
fn listed_sessions(html: &str) -> Vec<String> {
    let start = html
        .find(r#"<ul class="sessions">"#)
        .expect("a session list");
    let list = &html[start..];
    let list = &list[..list.find("</ul>").unwrap()];
    list.split("<li>")
        .skip(1)
        .map(|item| item.split("</li>").next().unwrap().trim().to_owned())
        .collect()
}

async fn account_page(app: &TestApp, client: &reqwest::Client, query: &str) -> (u16, String) {
    let response = client
        .get(app.url(&format!("/account{query}")))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn a_login_over_the_session_limit_ends_the_oldest_session() {
    let app = spawn_app_with(TestOptions {
        configure: Some(at_most_three_sessions),
        ..Default::default()
    })
    .await;
    let user = app.create_user("nadia").await;
    let user_id = user["id"].as_str().unwrap().to_owned();

    let mut browsers = Vec::new();
    for _ in 0..4 {
        let browser = new_client();
        let login = app.login_with(&browser, "nadia", GOOD_PASSWORD, None).await;
        assert_eq!(login.status(), 303);
        browsers.push(browser);
        app.clock.advance(Duration::seconds(1));
    }

    // The first browser's cookie is refused: /account sends it to the login page.
    let first = browsers[0].get(app.url("/account")).send().await.unwrap();
    assert_eq!(first.status(), 303);
    assert!(
        first.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    for browser in &browsers[1..] {
        let (status, _) = account_page(&app, browser, "").await;
        assert_eq!(status, 200);
    }
    let (_, html) = account_page(&app, &browsers[3], "").await;
    assert_eq!(listed_sessions(&html).len(), 3, "{html}");
    assert!(html.contains("3 active sessions"), "{html}");

    // Ended like any other session, so audited like one.
    let evictions: Vec<_> = app
        .audit_actions()
        .into_iter()
        .filter(|(action, _)| action == "session.evict")
        .collect();
    assert_eq!(evictions, [("session.evict".to_owned(), Some(user_id))]);
}

#[tokio::test]
async fn account_lists_sessions_newest_first_twenty_to_a_page() {
    let app = spawn_app().await;
    app.create_user("paz").await;
    let user = app
        .state
        .accounts
        .database()
        .find_user_by_login("paz")
        .unwrap()
        .unwrap();
    // 24 older sessions on devices 01 (oldest) to 24, a minute apart, then this browser's.
    let now = app.clock_now().timestamp();
    for device in 1..=24 {
        let created_at = now - (25 - device) * 60;
        let session = BrowserSession {
            user_id: user.id,
            username: "paz".to_owned(),
            auth_time: created_at,
            created_at,
            amr: vec!["pwd".to_owned()],
            user_agent: Some(format!("device-{device:02}")),
            ip: None,
            last_seen_at: None,
        };
        app.state.sessions.create(&session).await.unwrap();
    }
    let login = app.login("paz", GOOD_PASSWORD).await;
    assert_eq!(login.status(), 303);

    let (status, html) = account_page(&app, &app.client, "").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("25 active sessions · page 1 of 2, newest first"),
        "{html}"
    );
    let first_page = listed_sessions(&html);
    assert_eq!(first_page.len(), 20);
    assert!(
        first_page[0].contains("(this browser)"),
        "{}",
        first_page[0]
    );
    let devices: Vec<String> = (5..=24).rev().map(|d| format!("device-{d:02}")).collect();
    for (item, device) in first_page[1..].iter().zip(&devices) {
        assert!(item.contains(device.as_str()), "{item} should be {device}");
    }
    assert!(html.contains(r#"<a href="/account?page=2" rel="next">"#));
    assert!(!html.contains(r#"rel="prev""#));

    let (status, html) = account_page(&app, &app.client, "?page=2").await;
    assert_eq!(status, 200);
    let second_page = listed_sessions(&html);
    let devices: Vec<String> = (1..=5).rev().map(|d| format!("device-{d:02}")).collect();
    assert_eq!(second_page.len(), 5);
    for (item, device) in second_page.iter().zip(&devices) {
        assert!(item.contains(device.as_str()), "{item} should be {device}");
        assert!(!item.contains("(this browser)"));
    }
    assert!(html.contains(r#"<a href="/account?page=1" rel="prev">"#));
    assert!(!html.contains(r#"rel="next""#));

    // A page past the end shows the last page; page 0 the first.
    let (status, html) = account_page(&app, &app.client, "?page=99").await;
    assert_eq!(status, 200);
    assert_eq!(listed_sessions(&html), second_page);
    let (status, html) = account_page(&app, &app.client, "?page=0").await;
    assert_eq!(status, 200);
    assert_eq!(listed_sessions(&html), first_page);

    // Not a number: a 400 page that says so, never a 500.
    for bad in ["abc", "-1", "1.5", "%00"] {
        let response = app
            .client
            .get(app.url(&format!("/account?page={bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(response.text().await.unwrap().contains("page number"));
    }
}
