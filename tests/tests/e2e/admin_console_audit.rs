//! The console's dashboard (`/admin`) and audit log (`/admin/audit`, its export): counts that
//! match what happened, the sign-in chart, filters with exact totals, paging, JSON lines and
//! CSV downloads (escaping, formula cells), the request id of every event, and who may read.

use chrono::{DateTime, Duration, Utc};
use gatehouse_identity::{ActorKind, AuditAction, AuditOutcome, NewAuditEvent, Role};
use gatehouse_tests::{
    GOOD_PASSWORD, TestApp, attribute_value, csrf_from_html, new_client, page_marker,
};
use serde_json::Value;

/// Five failures from one address lock an account (per-source delays off, so that one address
/// reaches the account-wide ceiling).
async fn spawn() -> TestApp {
    TestApp::builder()
        .configure(|s| {
            s.admin.require_2fa = false;
            s.lockout.max_failures = 5;
            s.lockout.delay_after = 0;
        })
        .spawn()
        .await
}

/// An `admin` named `root`, signed in to the console.
async fn root_console(app: &TestApp) -> reqwest::Client {
    if app
        .state
        .accounts
        .database()
        .find_user_by_typed_login("root")
        .unwrap()
        .is_none()
    {
        app.create_user_with_roles("root", &[Role::Admin]).await;
    }
    app.signed_in_browser("root", GOOD_PASSWORD).await
}

/// The text of the element carrying `data-stat="NAME"`.
fn stat(html: &str, name: &str) -> String {
    let marker = format!(r#"data-stat="{name}""#);
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} on the page"));
    let rest = &html[at..];
    let start = rest.find('>').unwrap() + 1;
    let end = rest[start..].find('<').unwrap();
    rest[start..start + end].trim().to_owned()
}

/// The `(sign-ins, failures)` of each bar pair of the chart of `range`, oldest first.
fn chart_bars(html: &str, range: &str) -> Vec<(i64, i64)> {
    let marker = format!(r#"<svg data-chart="sign-ins" data-range="{range}""#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {range} chart"));
    let svg = &html[start..start + html[start..].find("</svg>").unwrap()];
    assert!(svg.contains("<title"), "the chart has a title");
    svg.split(r#"<g data-sign-ins=""#)
        .skip(1)
        .map(|pair| {
            let sign_ins = pair[..pair.find('"').unwrap()].parse().unwrap();
            let failures = attribute_value(pair, "data-failures")
                .unwrap()
                .parse()
                .unwrap();
            (sign_ins, failures)
        })
        .collect()
}

/// Event rows of a console page.
fn event_rows(html: &str) -> usize {
    html.matches("<tr data-event=").count()
}

async fn wrong_password(app: &TestApp, username: &str) -> reqwest::Response {
    let response = app
        .login_with(&new_client(), username, "not the password", None)
        .await;
    assert_ne!(response.status(), 303, "a wrong password does not sign in");
    response
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_dashboard_counts_what_happened_and_charts_it_by_hour_and_day() {
    let app = spawn().await;
    for name in ["alice", "bob"] {
        app.create_user_with_roles(name, &[]).await;
    }
    for _ in 0..3 {
        wrong_password(&app, "alice").await;
    }
    // The fifth failure in a row locks bob.
    for _ in 0..5 {
        wrong_password(&app, "bob").await;
    }
    app.signed_in_browser("alice", GOOD_PASSWORD).await;
    let browser = root_console(&app).await;

    let (status, html) = app.get_page(&browser, "/admin").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-dashboard"));
    assert_eq!(stat(&html, "failures-24h"), "8");
    assert_eq!(stat(&html, "sign-ins-24h"), "2", "alice and root");
    assert_eq!(stat(&html, "lockouts-24h"), "1");
    assert_eq!(stat(&html, "users"), app.user_count().to_string());
    assert_eq!(stat(&html, "users-locked"), "1");
    assert_eq!(stat(&html, "active-sessions"), "2", "alice's and root's");
    let hourly = chart_bars(&html, "24h");
    assert_eq!(hourly.len(), 24);
    assert_eq!(hourly[23], (2, 8), "this hour, on the right");
    assert!(hourly[..23].iter().all(|bar| *bar == (0, 0)));
    assert_eq!(chart_bars(&html, "7d").len(), 7);
    // Nothing administrative yet.
    assert_eq!(event_rows(&html), 0);

    // An administrator's action lists on the dashboard.
    let (_, keys) = app.get_page(&browser, "/admin/keys").await;
    let rotated = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", &csrf_from_html(&keys))],
        )
        .await;
    assert_eq!(rotated.status(), 303);
    let (_, html) = app.get_page(&browser, "/admin").await;
    assert_eq!(event_rows(&html), 1);
    assert!(html.contains(r#"data-action="admin.keys_rotate""#));

    // Two and a half hours on, the same events are in the bar three from the right.
    app.advance_clock(Duration::minutes(150));
    let (_, html) = app.get_page(&browser, "/admin").await;
    let hourly = chart_bars(&html, "24h");
    assert_eq!(hourly[21], (2, 8), "{hourly:?}");
    assert_eq!(hourly[23], (0, 0));
    assert_eq!(stat(&html, "failures-24h"), "8");

    // A day later they have left the 24 hours and stay in the 7 days (in yesterday's bar).
    app.advance_clock(Duration::hours(24));
    let browser = root_console(&app).await;
    let (_, html) = app.get_page(&browser, "/admin").await;
    assert_eq!(stat(&html, "failures-24h"), "0");
    assert_eq!(stat(&html, "failures-7d"), "8");
    assert_eq!(stat(&html, "sign-ins-24h"), "1", "root signed in again");
    assert_eq!(stat(&html, "lockouts-7d"), "1");
    let daily = chart_bars(&html, "7d");
    assert_eq!(daily[5], (2, 8), "{daily:?}");
    assert_eq!(daily[6], (1, 0));
}

fn seeded(at: DateTime<Utc>, action: AuditAction, outcome: AuditOutcome) -> NewAuditEvent {
    NewAuditEvent {
        org_id: None,
        occurred_at: at,
        actor: Some("seed".to_owned()),
        actor_kind: ActorKind::System,
        action,
        target: Some("seeded".to_owned()),
        ip: None,
        user_agent: None,
        outcome,
        details: serde_json::json!({ "seeded": true }),
        request_id: None,
    }
}

/// 70 `login.failure` and 50 `logout` events, a minute apart, the newest a minute ago.
fn seed(app: &TestApp) -> DateTime<Utc> {
    let now = app.clock_now();
    let db = app.state.accounts.database();
    for i in (1..=120i64).rev() {
        let (action, outcome) = if i % 12 < 7 {
            (AuditAction::LoginFailure, AuditOutcome::Failure)
        } else {
            (AuditAction::Logout, AuditOutcome::Success)
        };
        db.append_audit(&seeded(now - Duration::minutes(i), action, outcome))
            .unwrap();
    }
    now
}

fn total(html: &str) -> i64 {
    attribute_value(html, "data-total")
        .unwrap_or_else(|| panic!("no total: {html}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_audit_log_filters_with_exact_totals_and_pages() {
    let app = spawn().await;
    let browser = root_console(&app).await;
    let now = seed(&app);

    let (status, html) = app
        .get_page(
            &browser,
            "/admin/audit?actor=seed&action=login.failure&outcome=failure",
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(page_marker(&html).as_deref(), Some("admin-audit"));
    assert!(html.contains(r#"data-form="audit-filter""#));
    assert!(html.contains(r#"<option value="login.failure" selected>"#));
    assert_eq!(total(&html), 70);
    assert_eq!(event_rows(&html), 50);
    assert_eq!(html.matches(r#"data-action="login.failure""#).count(), 50);
    let next = next_link(&html).expect("a next page");
    let (_, second) = app.get_page(&browser, &next).await;
    assert_eq!(total(&second), 70);
    assert_eq!(event_rows(&second), 20);
    assert!(next_link(&second).is_none(), "the last page");
    assert!(
        !html_ids(&second)
            .iter()
            .any(|id| html_ids(&html).contains(id))
    );

    let (_, none) = app
        .get_page(&browser, "/admin/audit?action=logout&outcome=failure")
        .await;
    assert_eq!(total(&none), 0);
    assert_eq!(event_rows(&none), 0);

    // A window as the form's datetime-local inputs send it (UTC): minutes 30 to 60 ago, the
    // start included, the end not.
    let local = |at: DateTime<Utc>| at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let path = format!(
        "/admin/audit?actor=seed&since={}&until={}",
        local(now - Duration::minutes(60)),
        local(now - Duration::minutes(30))
    );
    let (status, window) = app.get_page(&browser, &path).await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(total(&window), 30);

    // Bad filters: the page says what is wrong, with a 400.
    for query in [
        "action=nope",
        "since=yesterday",
        "outcome=maybe",
        "before=x",
    ] {
        let (status, html) = app
            .get_page(&browser, &format!("/admin/audit?{query}"))
            .await;
        assert_eq!(status, 400, "{query}");
        assert!(html.contains("data-error"), "{query}");
        assert_eq!(page_marker(&html).as_deref(), Some("admin-audit"));
    }
    let (status, html) = app
        .get_page(
            &browser,
            &format!("/admin/audit?since={0}&until={0}", local(now)),
        )
        .await;
    assert_eq!(status, 400);
    assert!(html.contains("later than"));
}

fn next_link(html: &str) -> Option<String> {
    let at = html.find("data-next")?;
    let start = html[..at].rfind("<a ")?;
    attribute_value(&html[start..], "href")
}

fn html_ids(html: &str) -> Vec<String> {
    html.split("<tr data-event=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

/// RFC 4180 records (quoted fields with doubled quotes, commas and line breaks inside them).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "ends with a line break"
    );
    records
}

async fn download(app: &TestApp, browser: &reqwest::Client, html: &str, format: &str) -> String {
    let marker = format!(r#"data-export="{format}""#);
    let at = html.find(&marker).expect("an export link");
    let start = html[..at].rfind("<a ").unwrap();
    let href = attribute_value(&html[start..], "href").unwrap();
    assert!(href.contains(&format!("format={format}")), "{href}");
    let response = browser.get(app.url(&href)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let disposition = response.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains(&format!(".{format}")), "{disposition}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn exports_stream_the_filtered_events_as_json_lines_and_safe_csv() {
    let app = spawn().await;
    let browser = root_console(&app).await;
    seed(&app);
    // A typed login with a comma, quotes, a line break and a formula; a user agent with a
    // comma and quotes. A sign-in attempt records both as typed.
    let login = "=HYPERLINK(\"http://evil.example\",\"x\")\nsecond line";
    let agent = "Agent, \"quoted\" 1.0";
    let attempt = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(agent)
        .build()
        .unwrap();
    let response = app.login_with(&attempt, login, "whatever", None).await;
    assert_ne!(response.status(), 303);
    let attempt_request = request_id(&response);

    let (_, html) = app
        .get_page(&browser, "/admin/audit?actor=seed&action=login.failure")
        .await;
    assert_eq!(total(&html), 70);
    let jsonl = download(&app, &browser, &html, "jsonl").await;
    let events: Vec<Value> = jsonl
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 70, "beyond one page of the list");
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "login.failure" && e["actor"] == "seed")
    );
    assert!(events.iter().all(|e| e["actor_kind"] == "system"));
    let ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats"
    );

    let csv = download(&app, &browser, &html, "csv").await;
    let records = parse_csv(&csv);
    assert_eq!(records[0][0], "id");
    assert_eq!(records.len(), 71, "a header and 70 rows");
    assert!(records.iter().all(|r| r.len() == records[0].len()));

    // The attempt with the awkward values: filtered by its target (the typed login).
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("target", login);
    let (_, html) = app
        .get_page(&browser, &format!("/admin/audit?{}", query.finish()))
        .await;
    assert_eq!(total(&html), 1, "{html}");
    let records = parse_csv(&download(&app, &browser, &html, "csv").await);
    assert_eq!(records.len(), 2);
    let column = |name: &str| records[0].iter().position(|c| c == name).unwrap();
    let row = &records[1];
    assert_eq!(
        row[column("target")],
        format!("'{login}"),
        "a formula is defused"
    );
    assert_eq!(row[column("user_agent")], agent);
    assert_eq!(row[column("request_id")], attempt_request);
    assert_eq!(row[column("actor_kind")], "anonymous");
    let details: Value = serde_json::from_str(&row[column("details")]).unwrap();
    assert_eq!(details["reason"], "malformed_login");
    let jsonl = download(&app, &browser, &html, "jsonl").await;
    let event: Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(event["target"], login, "JSON keeps the value as it was");
    assert_eq!(event["request_id"], attempt_request);

    // Each export is itself in the log, with its filter.
    let exports: Vec<_> = app
        .state
        .accounts
        .database()
        .recent_audit_events(20)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "admin.audit_export")
        .collect();
    assert_eq!(exports.len(), 4);
    assert!(
        exports
            .iter()
            .any(|e| e.details["filter"]["target"] == login)
    );

    // A bad format or filter is a page, not a half-written file.
    for query in ["format=xml", "format=csv&action=nope"] {
        let (status, html) = app
            .get_page(&browser, &format!("/admin/audit/export?{query}"))
            .await;
        assert_eq!(status, 400, "{query}");
        assert!(html.contains("data-error"), "{query}");
    }
}

#[tokio::test]
async fn every_event_names_its_request_and_its_actor_kind() {
    let app = spawn().await;
    let browser = root_console(&app).await;
    let (_, keys) = app.get_page(&browser, "/admin/keys").await;
    let response = app
        .post_form(
            &browser,
            "/admin/keys/rotate",
            &[("csrf_token", &csrf_from_html(&keys))],
        )
        .await;
    assert_eq!(response.status(), 303);
    let rotation_request = request_id(&response);
    let root = app.user_id("root");

    let (_, html) = app
        .get_page(&browser, "/admin/audit?action=admin.keys_rotate")
        .await;
    assert_eq!(total(&html), 1);
    assert!(
        html.contains(&format!("data-request-id>{rotation_request}<")),
        "{html}"
    );
    assert!(html.contains("data-actor-kind>user<"));

    // The REST API shows the same fields.
    let token = app.admin_token_for("root").await;
    let body: Value = app
        .client
        .get(app.url("/api/v1/admin/audit-events?action=admin.keys_rotate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &body["items"][0];
    assert_eq!(item["request_id"], rotation_request.as_str());
    assert_eq!(item["actor_kind"], "user");
    assert_eq!(item["actor"], format!("user:{root}"));

    // A deleted user's events stay, and the deletion names the username.
    let dora = app.create_user_with_roles("dora", &[]).await;
    let deleted = app
        .client
        .delete(app.url(&format!("/api/v1/admin/users/{dora}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let deletion_request = request_id(&deleted);
    let trail: Value = app
        .client
        .get(app.url(&format!("/api/v1/admin/audit-events?target={dora}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.register"), "{actions:?}");
    let deletion = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "admin.user_delete")
        .expect("the deletion is in the trail");
    assert_eq!(deletion["details"]["username"], "dora");
    assert_eq!(deletion["request_id"], deletion_request.as_str());
    assert_eq!(deletion["actor_kind"], "user");
}

#[tokio::test]
async fn an_auditor_reads_the_log_and_a_client_admin_may_not() {
    let app = spawn().await;
    seed(&app);
    app.create_user_with_roles("reader", &[Role::Auditor]).await;
    app.create_user_with_roles("clients", &[Role::ClientAdmin])
        .await;

    let reader = app.signed_in_browser("reader", GOOD_PASSWORD).await;
    let (status, html) = app.get_page(&reader, "/admin/audit?actor=seed").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(total(&html), 120);
    let jsonl = download(&app, &reader, &html, "jsonl").await;
    assert_eq!(jsonl.lines().count(), 120);

    let clients = app.signed_in_browser("clients", GOOD_PASSWORD).await;
    for path in ["/admin/audit", "/admin/audit/export?format=csv"] {
        let (status, html) = app.get_page(&clients, path).await;
        assert_eq!(status, 403, "{path}");
        assert!(html.contains("do not permit"), "{path}: {html}");
    }
    // The dashboard opens for every admin role; the audit log's entries only for its readers.
    let (status, html) = app.get_page(&clients, "/admin").await;
    assert_eq!(status, 200);
    assert_eq!(page_marker(&html).as_deref(), Some("admin-dashboard"));
    assert!(html.contains("do not include reading the audit log"));
    assert_eq!(event_rows(&html), 0);
}
