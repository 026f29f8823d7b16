//! `server.trusted_proxies`: forwarding headers count only from a trusted peer, the rightmost
//! untrusted address is the client, and that one address is what audit, the sessions list and
//! the per-IP limits use. The test process is the "proxy": it connects from 127.0.0.1.

use gatehouse_identity::GrantType;
use gatehouse_server::Settings;
use gatehouse_server::client_ip::TrustedProxies;
use gatehouse_server::config::RateLimitRule;
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestOptions, set_cookie_lines, spawn_app_with,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

fn trust_loopback(settings: &mut Settings) {
    settings.server.trusted_proxies = TrustedProxies::parse_list("127.0.0.1, 10.0.0.0/8").unwrap();
}

/// A browser whose every request carries `headers`, as if a proxy had added them.
fn browser_with(headers: &[(&str, &str)]) -> reqwest::Client {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(map)
        .build()
        .unwrap()
}

/// Signs `username` in through a browser sending `headers`, and returns the address the audit
/// event of the sign-in and the new session recorded.
async fn signed_in_from(app: &TestApp, username: &str, headers: &[(&str, &str)]) -> String {
    let browser = browser_with(headers);
    let response = app
        .login_with(&browser, username, GOOD_PASSWORD, None)
        .await;
    assert_eq!(response.status(), 303);
    let event = app
        .state
        .accounts
        .database()
        .recent_audit_events(1000)
        .unwrap()
        .into_iter()
        .find(|event| event.action == "login.success")
        .expect("a login.success event");
    let audited = event.ip.expect("the event records an address");
    let sessions = app
        .state
        .sessions
        .list_for_user(app.user_id(username))
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].1.ip.as_deref(),
        Some(audited.as_str()),
        "the session list shows the audited address"
    );
    // And the account page shows it to the user.
    let (_, html) = app.account_page(&browser).await;
    assert!(html.contains(&audited), "{audited} on the account page");
    audited
}

#[tokio::test]
async fn an_untrusted_peers_forwarding_headers_are_ignored() {
    let app = TestApp::builder().with_user("uma").spawn().await;
    let address = signed_in_from(
        &app,
        "uma",
        &[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(address, "127.0.0.1");
}

#[tokio::test]
async fn a_trusted_peers_x_forwarded_for_names_the_client() {
    let app = TestApp::builder()
        .configure(trust_loopback)
        .with_user("tara")
        .spawn()
        .await;
    let address = signed_in_from(&app, "tara", &[("x-forwarded-for", "203.0.113.9")]).await;
    assert_eq!(address, "203.0.113.9");
}

#[tokio::test]
async fn the_rightmost_untrusted_address_wins_through_two_proxies() {
    let app = TestApp::builder()
        .configure(trust_loopback)
        .with_user("rory")
        .spawn()
        .await;
    // The client forged 198.51.100.66; the edge proxy 10.1.2.3 appended the real client, the
    // inner proxy (us, 127.0.0.1) appended the edge proxy.
    let address = signed_in_from(
        &app,
        "rory",
        &[("x-forwarded-for", "198.51.100.66, 203.0.113.9, 10.1.2.3")],
    )
    .await;
    assert_eq!(address, "203.0.113.9");
}

#[tokio::test]
async fn a_trusted_peers_forwarded_header_names_the_client() {
    let app = TestApp::builder()
        .configure(trust_loopback)
        .with_user("fern")
        .spawn()
        .await;
    let address = signed_in_from(
        &app,
        "fern",
        &[
            (
                "forwarded",
                "for=198.51.100.66, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.1.2.3",
            ),
            // Forwarded wins over X-Forwarded-For.
            ("x-forwarded-for", "192.0.2.1"),
        ],
    )
    .await;
    assert_eq!(address, "2001:db8:cafe::17");
}

#[tokio::test]
async fn a_malformed_header_from_a_trusted_peer_means_the_peer() {
    let app = TestApp::builder()
        .configure(trust_loopback)
        .with_user("mona")
        .spawn()
        .await;
    let address = signed_in_from(&app, "mona", &[("x-forwarded-for", "203.0.113.9, junk")]).await;
    assert_eq!(address, "127.0.0.1");
}

fn trust_loopback_and_limit_token_per_ip(settings: &mut Settings) {
    trust_loopback(settings);
    settings.rate_limits.token_per_ip = RateLimitRule {
        limit: 2,
        window_secs: 60,
    };
}

#[tokio::test]
async fn the_token_endpoints_per_ip_limit_counts_the_forwarded_client() {
    let app = spawn_app_with(TestOptions {
        configure: Some(trust_loopback_and_limit_token_per_ip),
        ..Default::default()
    })
    .await;
    let rp = app.register_client(ClientSpec {
        grants: vec![GrantType::ClientCredentials],
        ..ClientSpec::default()
    });
    let token_from = |forwarded_for: &'static str| {
        let request = browser_with(&[("x-forwarded-for", forwarded_for)])
            .post(app.url("/token"))
            .basic_auth(&rp.client_id, rp.client_secret.as_deref())
            .form(&[("grant_type", "client_credentials")]);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(token_from("203.0.113.1").await, 200);
    assert_eq!(token_from("203.0.113.1").await, 200);
    assert_eq!(token_from("203.0.113.1").await, 429);
    // Another client behind the same proxy has its own budget.
    assert_eq!(token_from("203.0.113.2").await, 200);
}

#[tokio::test]
async fn an_https_issuer_behind_a_tls_terminating_proxy_sets_secure_cookies() {
    let app = spawn_app_with(TestOptions {
        issuer: Some("https://id.example.test".to_owned()),
        configure: Some(trust_loopback),
        ..Default::default()
    })
    .await;
    app.create_user("hana").await;
    // Plain http on the socket; the proxy says the client used https.
    let browser = browser_with(&[
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ]);
    let form = browser.get(app.url("/login")).send().await.unwrap();
    let csrf_cookies = set_cookie_lines(form.headers(), "gh_csrf");
    assert!(!csrf_cookies.is_empty(), "a CSRF cookie is set");
    for line in &csrf_cookies {
        assert!(line.contains("Secure"), "{line}");
    }
    // A cookie jar would keep a Secure cookie off plain http, as a browser would; the browser
    // speaks https to the proxy, so send it by hand.
    let csrf_pair = csrf_cookies[0].split(';').next().unwrap().to_owned();
    let csrf = gatehouse_tests::csrf_from_html(&form.text().await.unwrap());
    let login = browser
        .post(app.url("/login"))
        .header("cookie", csrf_pair)
        .form(&[
            ("username", "hana"),
            ("password", GOOD_PASSWORD),
            ("csrf_token", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let session = set_cookie_lines(login.headers(), "gh_session");
    assert!(!session.is_empty(), "a session cookie is set");
    for line in session {
        assert!(line.contains("Secure"), "{line}");
        assert!(line.contains("HttpOnly"), "{line}");
    }
    // Redirects stay on the https origin (relative, or absolute under the issuer).
    let location = login.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with('/') || location.starts_with("https://id.example.test/"),
        "{location}"
    );
    // Every URL the server publishes is built from the issuer, not from the request.
    let discovery: serde_json::Value = browser
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], "https://id.example.test");
    for endpoint in ["authorization_endpoint", "token_endpoint", "jwks_uri"] {
        assert!(
            discovery[endpoint]
                .as_str()
                .unwrap()
                .starts_with("https://id.example.test/"),
            "{endpoint}: {}",
            discovery[endpoint]
        );
    }
    // The sign-in is audited with the forwarded client address.
    let event = app
        .state
        .accounts
        .database()
        .recent_audit_events(100)
        .unwrap()
        .into_iter()
        .find(|event| event.action == "login.success")
        .unwrap();
    assert_eq!(event.ip.as_deref(), Some("203.0.113.9"));
}
