//! No secret in the log: the whole flow (registration, a wrong password, the code flow with PKCE,
//! token, refresh, introspection, userinfo, revocation, TOTP enrolment and a sign-in with a
//! code, a password reset through the mailed link) runs with the server's own JSON log format at
//! debug level written to a buffer; then the buffer is searched for every password, token, code,
//! verifier, cookie and secret the flow saw. It also checks that request lines carry the
//! request id, the route pattern and the client address.
//!
//! The subscriber is process-wide, so the buffer holds other tests' lines too; only this flow's
//! secrets are looked for.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gatehouse_server::config::LogFormat;
use gatehouse_tests::oauth::{self, VERIFIER};
use gatehouse_tests::smtp::{SmtpSink, point_at, use_sink};
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, TestApp, new_client, set_cookie_lines};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "an entirely fresh passphrase 58";
const WRONG_PASSWORD: &str = "definitely-not-it 9137";

/// Debug for everything but the HTTP client libraries of the test itself (the relying party and
/// browser): `cookie_store` logs every cookie the test's browser stores, which is the client's
/// log, not the server's. The server's own outgoing requests (back-channel logout) go through
/// reqwest too and are silenced with it; they carry a logout token in a body no library logs.
const SERVER_DEBUG: &str = "debug,cookie_store=off,reqwest=off,hyper=off,hyper_util=off,h2=off";

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The debug-level JSON log of this process from the first call on.
fn captured_log() -> &'static Buffer {
    static LOG: OnceLock<Buffer> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer(Arc::new(Mutex::new(Vec::new())));
        let writer = buffer.clone();
        assert!(
            gatehouse_server::telemetry::init_with_writer(
                LogFormat::Json,
                SERVER_DEBUG,
                move || { writer.clone() }
            ),
            "another global subscriber was installed first"
        );
        buffer
    })
}

fn log_text(buffer: &Buffer) -> String {
    String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned()
}

/// Where `secret` occurs in `log` as itself: for short numeric codes, not as part of a longer
/// number (a latency, a timestamp).
fn leaks(log: &str, secret: &str) -> Option<String> {
    let numeric = secret.chars().all(|c| c.is_ascii_digit());
    let mut from = 0;
    while let Some(found) = log[from..].find(secret) {
        let start = from + found;
        let end = start + secret.len();
        let before = log[..start].chars().next_back();
        let after = log[end..].chars().next();
        let embedded = numeric
            && (before.is_some_and(|c| c.is_ascii_digit() || c == '.')
                || after.is_some_and(|c| c.is_ascii_digit()));
        if !embedded {
            let line_start = log[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = log[end..].find('\n').map_or(log.len(), |i| end + i);
            return Some(log[line_start..line_end].to_owned());
        }
        from = end;
    }
    None
}

fn json_body(value: &Value, field: &str) -> String {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {value}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_log_of_the_whole_flow_holds_no_secret() {
    let log = captured_log();
    let sink = SmtpSink::start().await;
    point_at(&sink);
    let app = TestApp::builder().configure(use_sink).spawn().await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("password", GOOD_PASSWORD.to_owned()),
        ("new password", NEW_PASSWORD.to_owned()),
        ("wrong password", WRONG_PASSWORD.to_owned()),
        ("PKCE verifier", VERIFIER.to_owned()),
    ];

    // Registration, and a wrong password.
    let registered = app
        .register("lena", "lena@example.com", GOOD_PASSWORD)
        .await;
    assert!(registered.status().is_success(), "{}", registered.status());
    let wrong = app.login("lena", WRONG_PASSWORD).await;
    assert_ne!(wrong.status(), 303);

    // A browser sign-in: its session cookie.
    let signed_in = app
        .login_with(&new_client(), "lena", GOOD_PASSWORD, None)
        .await;
    for line in set_cookie_lines(signed_in.headers(), "gh_session") {
        let value = line["gh_session=".len()..]
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        if !value.is_empty() {
            secrets.push(("session cookie", value));
        }
    }

    // The code flow with PKCE, refresh, introspection, userinfo, revocation.
    let rp = app.register_client(ClientSpec::default());
    secrets.push(("client secret", rp.client_secret.clone().unwrap()));
    let browser = new_client();
    let code = oauth::code_in(&app, &browser, &rp, "lena", &[]).await;
    secrets.push(("authorization code", code.clone()));
    let tokens: Value = oauth::exchange(&app, &rp, &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    for field in ["access_token", "refresh_token", "id_token"] {
        secrets.push((field, json_body(&tokens, field)));
    }
    let refreshed = oauth::refresh(&app, &rp, &json_body(&tokens, "refresh_token")).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    for field in ["access_token", "refresh_token"] {
        secrets.push((field, json_body(&refreshed, field)));
    }
    let access = json_body(&refreshed, "access_token");
    assert_eq!(oauth::introspect(&app, &rp, &access).await.status(), 200);
    let userinfo = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    let revoked = app
        .client
        .post(app.url("/revoke"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("token", json_body(&refreshed, "refresh_token").as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // TOTP: enrolment, then a sign-in with a code.
    let (totp_secret, recovery_codes) = app.enrol_totp("lena").await;
    secrets.push(("TOTP secret", totp_secret.clone()));
    for recovery in recovery_codes {
        secrets.push(("recovery code", recovery));
    }
    app.advance_clock(chrono::Duration::seconds(30));
    let totp_code = code_at(&totp_secret, app.clock_now(), 0);
    secrets.push(("TOTP code", totp_code.clone()));
    let answer = totp_code.clone();
    let second_factor = move || answer.clone();
    let code =
        oauth::code_in_with(&app, &new_client(), &rp, "lena", &[], Some(&second_factor)).await;
    secrets.push(("authorization code", code));

    // A password reset through the mailed link (the account has TOTP: a fresh code too).
    let requested = app
        .client
        .post(app.url("/api/v1/password-resets"))
        .json(&json!({ "email": "lena@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(requested.status(), 202);
    let mail = sink
        .expect_mail(
            "lena@example.com",
            "Reset your password",
            1,
            Duration::from_secs(15),
        )
        .await;
    let reset_token = mail
        .token_for(&app.address, "/password/reset")
        .expect("a reset link");
    secrets.push(("reset token", reset_token.clone()));
    app.advance_clock(chrono::Duration::seconds(30));
    let reset_code = code_at(&totp_secret, app.clock_now(), 0);
    secrets.push(("TOTP code", reset_code.clone()));
    let completed = app
        .client
        .post(app.url("/api/v1/password-resets/complete"))
        .json(&json!({ "token": reset_token, "new_password": NEW_PASSWORD, "code": reset_code }))
        .send()
        .await
        .unwrap();
    assert!(completed.status().is_success(), "{}", completed.status());

    // Every token and code a mail carried (verification links and codes too).
    for mail in sink.messages() {
        for path in ["/password/reset", "/email/verify"] {
            if let Some(token) = mail.token_for(&app.address, path) {
                secrets.push(("mailed token", token));
            }
        }
        if let Some(code) = mail.verification_code() {
            secrets.push(("mailed code", code));
        }
    }

    // Background work (mail, back-channel) logs after the requests.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = log_text(log);
    assert!(
        text.contains("\"route\":\"/token\""),
        "no request line names its route"
    );

    let mut found = Vec::new();
    for (what, secret) in &secrets {
        assert!(!secret.is_empty());
        // A JWT's or opaque token's last 20 characters are as unique as the whole.
        let tail = &secret[secret.len().saturating_sub(20)..];
        let probes: &[&str] = if secret.len() > 24 {
            &[secret, tail]
        } else {
            &[secret]
        };
        for probe in probes {
            if let Some(line) = leaks(&text, probe) {
                found.push(format!("{what} in: {line}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "secrets in the log:\n{}",
        found.join("\n")
    );

    // Request lines carry the request id, the route pattern and the client address.
    let token_line = text
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["spans"]
                .as_array()
                .and_then(|spans| spans.first())
                .is_some_and(|span| span["route"] == "/token")
        })
        .expect("a log line inside a /token request");
    let span = &token_line["spans"][0];
    assert!(
        span["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{token_line}"
    );
    assert_eq!(span["client_ip"], "127.0.0.1", "{token_line}");
}
