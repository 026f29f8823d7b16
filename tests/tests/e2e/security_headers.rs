//! The hardening headers (`crates/server/src/security_headers.rs`) on every page, signed out,
//! signed in, half-way through a second factor and in the admin console, on the error pages and
//! on the JSON endpoints: a CSP without `unsafe-inline` and with `frame-ancestors 'none'`,
//! `form-action` naming only this origin and the registered redirect URIs a page's form leads
//! to, `Referrer-Policy`, `X-Content-Type-Options`, `Permissions-Policy`, and HSTS exactly when
//! the issuer is https. The pages themselves carry no inline script, style or handler, so the
//! policy costs them nothing (the browser test `tests/browser/csp.mjs` loads them with it).

use gatehouse_identity::{GrantType, Role};
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, TestOptions, csrf_from_html, hidden_value,
    new_client, oauth, page_marker,
};
use reqwest::header::HeaderMap;

/// A page as fetched: where, its status, headers and body.
struct Fetched {
    what: String,
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Fetched {
    async fn from(what: &str, response: reqwest::Response) -> Self {
        Self {
            what: what.to_owned(),
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("{}: no {name} header", self.what))
            .to_str()
            .unwrap()
    }

    fn csp(&self) -> &str {
        self.header("content-security-policy")
    }

    fn marker(&self) -> Option<String> {
        page_marker(&self.body)
    }
}

/// GET `path` in `browser`, following redirects within the app to the page they end on.
async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> Fetched {
    let mut next = path.to_owned();
    for _ in 0..5 {
        let response = browser.get(app.url(&next)).send().await.unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|value| value.to_str().unwrap().to_owned());
        match location {
            Some(to) if response.status().is_redirection() && to.starts_with('/') => next = to,
            _ => return Fetched::from(&format!("GET {path}"), response).await,
        }
    }
    panic!("GET {path}: too many redirects")
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> Fetched {
    Fetched::from(
        &format!("POST {path}"),
        app.post_form(browser, path, form).await,
    )
    .await
}

/// One directive of a policy, e.g. `form-action 'self' https://rp.example`.
fn directive<'a>(policy: &'a str, name: &str) -> Option<&'a str> {
    policy
        .split(';')
        .map(str::trim)
        .find(|d| d.split_whitespace().next() == Some(name))
}

/// The sources of `form-action`, without the directive's name.
fn form_action(fetched: &Fetched) -> Vec<String> {
    directive(fetched.csp(), "form-action")
        .unwrap_or_else(|| panic!("{}: no form-action in {}", fetched.what, fetched.csp()))
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

/// Every tag of `html` (the text between `<` and `>`), lowercased.
fn tags(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        found.push(rest[start + 1..start + end].to_lowercase());
        rest = &rest[start + end + 1..];
    }
    found
}

/// What a CSP without `unsafe-inline` would refuse: inline scripts, `<style>` elements, `style`
/// attributes and event-handler attributes.
fn inline_code(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for tag in tags(html) {
        let name = tag.split_whitespace().next().unwrap_or_default();
        if (name == "script" && !tag.contains(" src=")) || name == "style" {
            found.push(format!("<{tag}>"));
        }
        for attribute in tag.split_whitespace().skip(1) {
            let attribute_name = attribute.split('=').next().unwrap_or_default();
            let handler = attribute_name.len() > 2
                && attribute_name.starts_with("on")
                && attribute_name[2..].chars().all(|c| c.is_ascii_lowercase());
            if attribute_name == "style" || (handler && attribute.contains('=')) {
                found.push(format!("<{tag}>"));
            }
        }
    }
    found
}

/// The headers every response carries.
fn assert_common_headers(fetched: &Fetched) {
    assert_eq!(
        fetched.header("x-content-type-options"),
        "nosniff",
        "{}",
        fetched.what
    );
    assert_eq!(
        fetched.header("referrer-policy"),
        "no-referrer",
        "{}",
        fetched.what
    );
    assert_eq!(
        fetched.header("x-frame-options"),
        "DENY",
        "{}",
        fetched.what
    );
}

/// The page is HTML showing `marker`, with every header of a hardened page and no inline code.
fn assert_hardened_page(fetched: &Fetched, marker: &str) {
    let what = &fetched.what;
    assert!(
        fetched.header("content-type").starts_with("text/html"),
        "{what}: {}",
        fetched.header("content-type")
    );
    let shown = fetched.marker().as_deref() == Some(marker);
    assert!(
        shown,
        "{what} (HTTP {}), expected {marker}: {}",
        fetched.status, fetched.body
    );
    assert_common_headers(fetched);
    let csp = fetched.csp();
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert_eq!(
        directive(csp, "default-src"),
        Some("default-src 'none'"),
        "{what}: {csp}"
    );
    assert_eq!(
        directive(csp, "frame-ancestors"),
        Some("frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert_eq!(
        directive(csp, "base-uri"),
        Some("base-uri 'none'"),
        "{what}: {csp}"
    );
    assert_eq!(
        directive(csp, "style-src"),
        Some("style-src 'self'"),
        "{what}: {csp}"
    );
    assert_eq!(
        form_action(fetched).first().map(String::as_str),
        Some("'self'"),
        "{what}: {csp}"
    );
    if marker.starts_with("admin") && fetched.status == 200 {
        // htmx, from this origin, and the requests it makes.
        assert_eq!(
            directive(csp, "script-src"),
            Some("script-src 'self'"),
            "{what}: {csp}"
        );
        assert_eq!(
            directive(csp, "connect-src"),
            Some("connect-src 'self'"),
            "{what}: {csp}"
        );
    } else if !what.contains("/admin") {
        // No script at all outside the console.
        assert_eq!(directive(csp, "script-src"), None, "{what}: {csp}");
    }
    let permissions = fetched.header("permissions-policy");
    for feature in [
        "camera=()",
        "microphone=()",
        "geolocation=()",
        "payment=()",
        "usb=()",
    ] {
        assert!(permissions.contains(feature), "{what}: {permissions}");
    }
    assert!(
        fetched.headers.get("strict-transport-security").is_none(),
        "{what}: HSTS over an http issuer"
    );
    let inline = inline_code(&fetched.body);
    assert!(inline.is_empty(), "{what}: inline code {inline:?}");
}

fn third_party_client(app: &TestApp) -> TestClient {
    app.register_client(ClientSpec {
        first_party: false,
        grants: vec![GrantType::AuthorizationCode, GrantType::DeviceCode],
        scopes: ["openid", "profile", "email"].map(str::to_owned).to_vec(),
        ..ClientSpec::default()
    })
}

#[test]
fn the_inline_code_scan_finds_what_the_policy_refuses() {
    let html = r##"<p style="color: red">x</p><script>alert(1)</script><script src="/a.js"></script>
        <style>p{}</style><button onclick="go()">b</button><img src=x onerror=alert(1)>
        <a href="/one">one=1</a><svg fill="#fff"></svg>"##;
    assert_eq!(
        inline_code(html),
        [
            r#"<p style="color: red">"#,
            "<script>",
            "<style>",
            r#"<button onclick="go()">"#,
            "<img src=x onerror=alert(1)>",
        ]
    );
}

#[tokio::test]
async fn every_page_a_signed_out_browser_sees_is_hardened() {
    let app = TestApp::builder().spawn().await;
    let browser = new_client();
    for (path, marker) in [
        ("/login", "login"),
        ("/register", "register"),
        ("/password/forgot", "password-forgot"),
        ("/password/reset?token=not-a-token", "password-reset-failed"),
        ("/email/verify?token=not-a-token", "email-verify-failed"),
        ("/login/second-factor", "sign-in-again"),
        ("/account", "login"),
        ("/device", "login"),
        ("/admin", "login"),
    ] {
        assert_hardened_page(&page(&app, &browser, path).await, marker);
    }
    // The error pages: not found, a refused authorization request, a form without its token.
    for path in ["/nowhere", "/authorize?client_id=nobody&response_type=code"] {
        let fetched = page(&app, &browser, path).await;
        assert!(fetched.status >= 400, "{path}");
        assert!(
            fetched.body.contains("Request id"),
            "{path}: {}",
            fetched.body
        );
        assert_hardened_page(&fetched, "error");
    }
    let refused = post(
        &app,
        &browser,
        "/password/forgot",
        &[("email", "x@example.com")],
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_hardened_page(&refused, "password-forgot");
    // A consent answer without its CSRF token: the 403 error page.
    let refused = post(&app, &browser, "/authorize", &[("consent", "approve")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_hardened_page(&refused, "error");

    let form = page(&app, &browser, "/password/forgot").await;
    let sent = post(
        &app,
        &browser,
        "/password/forgot",
        &[
            ("csrf_token", &csrf_from_html(&form.body)),
            ("email", "nobody@example.com"),
        ],
    )
    .await;
    assert_hardened_page(&sent, "password-forgot-sent");
}

#[tokio::test]
async fn every_page_a_signed_in_user_sees_is_hardened() {
    let app = TestApp::builder().with_user("alice").spawn().await;
    let browser = app.signed_in_browser("alice", GOOD_PASSWORD).await;
    for (path, marker) in [("/account", "account"), ("/account/totp", "totp-start")] {
        assert_hardened_page(&page(&app, &browser, path).await, marker);
    }

    // Two-factor enrolment: the page with the QR code, and the recovery codes.
    let start = page(&app, &browser, "/account/totp").await;
    let enrol = post(
        &app,
        &browser,
        "/account/totp/enrol",
        &[
            ("csrf_token", &csrf_from_html(&start.body)),
            ("return_to", &hidden_value(&start.body, "return_to")),
        ],
    )
    .await;
    assert_hardened_page(&enrol, "totp-enrol");
    assert!(enrol.body.contains("<svg"), "the QR code is inline SVG");
    let secret = enrol
        .body
        .split(r#"id="totp-secret" class="secret">"#)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let codes = post(
        &app,
        &browser,
        "/account/totp/confirm",
        &[
            ("csrf_token", &csrf_from_html(&enrol.body)),
            ("return_to", &hidden_value(&enrol.body, "return_to")),
            ("code", &code_at(&secret, app.clock_now(), 0)),
        ],
    )
    .await;
    assert_hardened_page(&codes, "recovery-codes");

    // The device pages: entry, confirmation, done.
    let rp = third_party_client(&app);
    let started: serde_json::Value = app
        .client
        .post(app.url("/device_authorization"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = page(&app, &browser, "/device").await;
    assert_hardened_page(&entry, "device");
    let confirm = post(
        &app,
        &browser,
        "/device",
        &[
            ("csrf_token", &csrf_from_html(&entry.body)),
            ("user_code", started["user_code"].as_str().unwrap()),
            ("action", "show"),
        ],
    )
    .await;
    assert_hardened_page(&confirm, "device-confirm");
    let done = post(
        &app,
        &browser,
        "/device",
        &[
            ("csrf_token", &csrf_from_html(&confirm.body)),
            ("user_code", &hidden_value(&confirm.body, "user_code")),
            ("action", "deny"),
        ],
    )
    .await;
    assert_hardened_page(&done, "device-done");
}

#[tokio::test]
async fn the_second_factor_page_is_hardened() {
    let app = TestApp::builder().with_user("bob").spawn().await;
    app.enrol_totp("bob").await;
    let browser = new_client();
    let response = app.login_with(&browser, "bob", GOOD_PASSWORD, None).await;
    assert_eq!(response.status(), 303);
    let fetched = page(&app, &browser, "/login/second-factor").await;
    assert_hardened_page(&fetched, "second-factor");
    assert_eq!(form_action(&fetched), ["'self'"]);
}

#[tokio::test]
async fn the_consent_page_may_post_to_its_client_and_nowhere_else() {
    let app = TestApp::builder().with_user("carol").spawn().await;
    let rp = third_party_client(&app);
    let browser = app.signed_in_browser("carol", GOOD_PASSWORD).await;
    let authorize = oauth::authorize_url(&app, &rp, &[]);
    let path = authorize.strip_prefix(&app.address).unwrap();
    let consent = page(&app, &browser, path).await;
    assert_hardened_page(&consent, "consent");
    // Allow and Deny both answer with a redirect to the client (RFC 6749 §4.1.2), which
    // form-action governs too.
    assert_eq!(form_action(&consent), ["'self'", "http://rp.example.test"]);
}

#[tokio::test]
async fn a_sign_in_on_the_way_to_a_client_may_continue_to_it() {
    let app = TestApp::builder().with_user("dave").spawn().await;
    let rp = third_party_client(&app);
    let browser = new_client();
    let authorize = oauth::authorize_url(&app, &rp, &[]);
    let path = authorize.strip_prefix(&app.address).unwrap();
    // /authorize sends the browser to /login?return_to=/authorize?…
    let login = page(&app, &browser, path).await;
    assert_hardened_page(&login, "login");
    assert_eq!(form_action(&login), ["'self'", "http://rp.example.test"]);

    // A return_to naming an unknown client, or a redirect_uri nobody registered, adds nothing.
    let forged = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "return_to",
            "/authorize?client_id=nobody&redirect_uri=https%3A%2F%2Fevil.example%2F",
        )
        .finish();
    let login = page(&app, &new_client(), &format!("/login?{forged}")).await;
    assert_hardened_page(&login, "login");
    assert_eq!(form_action(&login), ["'self'"]);
    let plain = page(&app, &new_client(), "/login").await;
    assert_eq!(form_action(&plain), ["'self'"]);
}

#[tokio::test]
async fn the_logout_confirmation_may_continue_to_the_registered_landing_page() {
    let app = TestApp::builder().with_user("erin").spawn().await;
    let rp = third_party_client(&app);
    let browser = app.signed_in_browser("erin", GOOD_PASSWORD).await;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &rp.client_id)
        .append_pair("post_logout_redirect_uri", "http://rp.example.test/bye")
        .append_pair("state", "s")
        .finish();
    let confirm = page(&app, &browser, &format!("/logout?{query}")).await;
    assert_hardened_page(&confirm, "logout");
    assert_eq!(form_action(&confirm), ["'self'", "http://rp.example.test"]);
    // Without a landing page the confirmation posts to this origin only.
    let confirm = page(&app, &browser, "/logout?state=s").await;
    assert_hardened_page(&confirm, "logout");
    assert_eq!(form_action(&confirm), ["'self'"]);
}

/// An admin with TOTP, signed in through both steps.
async fn admin_browser(app: &TestApp) -> reqwest::Client {
    app.create_user_with_roles("root", &[Role::Admin]).await;
    let (secret, _) = app.enrol_totp("root").await;
    app.advance_clock(chrono::Duration::seconds(30));
    let browser = new_client();
    let response = app.login_with(&browser, "root", GOOD_PASSWORD, None).await;
    assert_eq!(response.status(), 303);
    let (_, html) = app.get_page(&browser, "/login/second-factor").await;
    let code = code_at(&secret, app.clock_now(), 0);
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
    assert_eq!(response.status(), 303);
    browser
}

#[tokio::test]
async fn every_admin_console_page_is_hardened() {
    let app = TestApp::builder().with_user("frank").spawn().await;
    let rp = third_party_client(&app);
    let browser = admin_browser(&app).await;
    let frank = app.user_id("frank");
    for (path, marker) in [
        ("/admin".to_owned(), "admin-dashboard"),
        ("/admin/users".to_owned(), "admin-users"),
        ("/admin/users?search=fr".to_owned(), "admin-users"),
        (format!("/admin/users/{frank}"), "admin-user"),
        ("/admin/clients".to_owned(), "admin-clients"),
        ("/admin/clients/new".to_owned(), "admin-client-new"),
        (format!("/admin/clients/{}", rp.client_id), "admin-client"),
        ("/admin/organizations".to_owned(), "admin-organizations"),
        ("/admin/audit".to_owned(), "admin-audit"),
        ("/admin/keys".to_owned(), "admin-keys"),
        ("/admin/roles".to_owned(), "admin-roles"),
    ] {
        assert_hardened_page(&page(&app, &browser, &path).await, marker);
    }
    // The console's own error page.
    let missing = page(
        &app,
        &browser,
        "/admin/users/00000000-0000-0000-0000-000000000000",
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_hardened_page(&missing, &missing.marker().unwrap());

    // An admin without a second factor is sent to enrol, in the console's frame.
    let (username, password) = app.admin();
    let plain = app.signed_in_browser(username, password).await;
    let enrol = page(&app, &plain, "/admin").await;
    assert_eq!(enrol.status, 403);
    assert_hardened_page(&enrol, "admin-enrol-2fa");
}

#[tokio::test]
async fn endpoints_that_are_not_pages_are_never_sniffed_or_framed() {
    let app = TestApp::builder().spawn().await;
    let client = new_client();
    let token_error = client
        .post(app.url("/token"))
        .form(&[("grant_type", "nonsense")])
        .send()
        .await
        .unwrap();
    let mut responses = vec![Fetched::from("POST /token", token_error).await];
    for path in [
        "/.well-known/openid-configuration",
        "/jwks.json",
        "/api/v1/users/me",
        "/healthz",
        "/static/gatehouse.css",
        "/static/htmx.min.js",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        responses.push(Fetched::from(path, response).await);
    }
    for fetched in &responses {
        assert_common_headers(fetched);
        assert_eq!(
            fetched.csp(),
            "default-src 'none'; frame-ancestors 'none'",
            "{}",
            fetched.what
        );
        assert!(fetched.headers.get("strict-transport-security").is_none());
    }
    // The API docs keep their own policy (crates/server/src/api/openapi.rs).
    let docs = client.get(app.url("/api/docs/")).send().await.unwrap();
    let docs = Fetched::from("/api/docs/", docs).await;
    assert_eq!(docs.status, 200);
    assert_common_headers(&docs);
    assert!(docs.csp().contains("'sha256-"), "{}", docs.csp());
    assert!(!docs.csp().contains("unsafe-inline"), "{}", docs.csp());
}

#[tokio::test]
async fn an_https_issuer_sends_hsts_on_everything() {
    let app = TestApp::builder()
        .options(TestOptions {
            issuer: Some("https://gatehouse.example.test".to_owned()),
            ..TestOptions::default()
        })
        .spawn()
        .await;
    let client = new_client();
    for path in [
        "/login",
        "/.well-known/openid-configuration",
        "/nowhere",
        "/api/docs/",
    ] {
        let response = client.get(app.url(path)).send().await.unwrap();
        let fetched = Fetched::from(path, response).await;
        assert_eq!(
            fetched.header("strict-transport-security"),
            "max-age=31536000",
            "{path}"
        );
        assert_common_headers(&fetched);
    }
}
