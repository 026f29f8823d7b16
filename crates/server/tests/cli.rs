//! The `gatehouse` binary as an operator meets it: help, config errors, migrate, user create.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

fn gatehouse() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    // Only what the test sets: no GATEHOUSE__* from the caller's environment.
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEHOUSE__") {
            cmd.env_remove(key);
        }
    }
    cmd.env("GATEHOUSE__PASSWORDS__MEMORY_KIB", "256")
        .env("GATEHOUSE__PASSWORDS__ITERATIONS", "1");
    cmd
}

fn temp_sqlite_url() -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("gh-cli-{}.db", uuid::Uuid::new_v4().simple()));
    (format!("sqlite://{}", path.display()), path)
}

/// A scratch SQLite database and master-key file for the binary, removed on drop.
struct Scratch {
    url: String,
    db: std::path::PathBuf,
    key_file: std::path::PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let (url, db) = temp_sqlite_url();
        let key_file =
            std::env::temp_dir().join(format!("gh-cli-{}.key", uuid::Uuid::new_v4().simple()));
        Self { url, db, key_file }
    }

    /// `gatehouse` on this database and master key.
    fn gatehouse(&self) -> Command {
        let mut cmd = gatehouse();
        cmd.env("GATEHOUSE__DATABASE__URL", &self.url)
            .env("GATEHOUSE__KEYS__MASTER_KEY_FILE", &self.key_file);
        cmd
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.gatehouse().args(args).output().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.key_file);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

#[test]
fn help_lists_the_subcommands() {
    let out = gatehouse().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "migrate", "user"] {
        assert!(text.contains(command), "{text}");
    }
}

#[test]
fn a_bad_value_exits_2_with_one_line_naming_the_key() {
    for (key, value, name) in [
        ("GATEHOUSE__SERVER__LISTEN", "nonsense", "server.listen"),
        ("GATEHOUSE__SERVER__ISSUER", "not a url", "server.issuer"),
        (
            "GATEHOUSE__SESSIONS__REDIS_URL",
            "localhost:6379",
            "sessions.redis_url",
        ),
        ("GATEHOUSE__SERVER__NO_SUCH_KEY", "1", "no_such_key"),
    ] {
        let out = gatehouse().env(key, value).arg("serve").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_missing_config_file_is_a_config_error() {
    let out = gatehouse()
        .args(["--config", "/nonexistent/gatehouse.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config"));
}

#[test]
fn a_config_file_overrides_defaults_and_the_environment_overrides_it() {
    let (url, path) = temp_sqlite_url();
    let file = std::env::temp_dir().join(format!("gh-cli-{}.toml", uuid::Uuid::new_v4().simple()));
    std::fs::write(
        &file,
        format!("[database]\nurl = \"{url}\"\n[server]\nlisten = \"bad\"\n"),
    )
    .unwrap();
    let out = gatehouse()
        .arg("--config")
        .arg(&file)
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "listen from the file is invalid"
    );
    let out = gatehouse()
        .arg("--config")
        .arg(&file)
        .env("GATEHOUSE__SERVER__LISTEN", "127.0.0.1:0")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(path.exists(), "the database from the file was used");
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_bad_database_url_reports_the_real_cause() {
    let out = gatehouse()
        .env(
            "GATEHOUSE__DATABASE__URL",
            "postgres://postgres@127.0.0.1:1/nope",
        )
        .arg("migrate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "{stderr}");
    assert!(!stderr.contains("multiconnection"), "{stderr}");
    // The error is logged as well as printed; written to a pipe, the log line has no colour.
    assert!(stderr.contains("ERROR"), "{stderr}");
    assert!(
        !stderr.contains('\x1b'),
        "escape codes in piped logs: {stderr:?}"
    );
}

#[test]
fn user_create_reads_the_password_from_stdin() {
    let scratch = Scratch::new();
    let create = |username: &str, password: &str, admin: bool| {
        let mut cmd = scratch.gatehouse();
        cmd.args(["user", "create", "--username", username, "--email"])
            .arg(format!("{username}@example.com"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if admin {
            cmd.arg("--admin");
        }
        let mut child = cmd.spawn().unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create("opal", "a long enough passphrase", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created user opal"));

    let out = create("opal", "a long enough passphrase", false);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("username"));

    let out = create("pearl", "short", false);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));

    let db = gatehouse_identity::Database::connect(&scratch.url, 1).unwrap();
    let opal = db.find_user_by_login("opal").unwrap().unwrap();
    assert_eq!(
        db.roles_of(opal.id).unwrap(),
        [gatehouse_identity::Role::Admin]
    );
    assert!(db.find_user_by_login("pearl").unwrap().is_none());
    drop(db);
}

/// `user create` goes through the same rules as the REST API: an invisible character is refused
/// by name, a decomposed accent is stored in NFC.
#[test]
fn user_create_applies_the_registration_rules() {
    let scratch = Scratch::new();
    let create = |username: &str, email: &str| {
        let mut child = scratch
            .gatehouse()
            .args(["user", "create", "--username", username, "--email", email])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "a long enough passphrase").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create("zero", "zero@exam\u{200B}ple.com");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("email") && stderr.contains("U+200B"),
        "{stderr}"
    );

    let out = create("jose", "jose\u{301}@example.com");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let db = gatehouse_identity::Database::connect(&scratch.url, 1).unwrap();
    assert!(db.find_user_by_login("zero").unwrap().is_none());
    let jose = db.find_user_by_login("jose").unwrap().unwrap();
    assert_eq!(jose.email, "jos\u{E9}@example.com");
    drop(db);
}

#[test]
fn client_commands_work_on_the_configured_database() {
    let scratch = Scratch::new();
    let run = |args: &[&str]| scratch.run(args);
    let out = run(&[
        "client",
        "create",
        "--name",
        "Web App",
        "--redirect-uri",
        "https://app.example/cb",
        "--redirect-uri",
        "https://app.example/cb2",
        "--scope",
        "openid profile",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(created["client_secret"].as_str().unwrap().len(), 43);
    assert_eq!(created["redirect_uris"].as_array().unwrap().len(), 2);
    assert!(created.get("secret_hash").is_none(), "{created}");

    let out = run(&[
        "client",
        "create",
        "--name",
        "SPA",
        "--redirect-uri",
        "https://spa.example/cb",
        "--public",
        "--json",
    ]);
    assert!(out.status.success());
    let spa: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(spa["client_secret"].is_null());

    let out = run(&[
        "client",
        "create",
        "--name",
        "Bad",
        "--redirect-uri",
        "https://x.example/cb#frag",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("redirect"));

    let out = run(&["client", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let out = run(&["client", "delete", &client_id]);
    assert!(out.status.success());
    let out = run(&["client", "delete", &client_id]);
    assert_eq!(out.status.code(), Some(1));

    // Keys: rotating one algorithm publishes a new key and keeps the old one.
    let before: serde_json::Value = serde_json::from_slice(&run(&["keys", "list"]).stdout).unwrap();
    let out = run(&["keys", "rotate", "--alg", "ES256"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let after: serde_json::Value = serde_json::from_str(&text[text.find('{').unwrap()..]).unwrap();
    let kids = |jwks: &serde_json::Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (before, after) = (kids(&before), kids(&after));
    assert!(
        before.iter().all(|kid| after.contains(kid)),
        "old keys stay published"
    );
    assert_eq!(after.len(), before.len() + 1);
}

/// `client create` names grants and auth methods as RFC 6749 / RFC 7591 and discovery do, still
/// takes the kebab-case spellings of earlier releases, and stores the back-channel logout and
/// second-factor settings, which `client list --json` shows.
#[test]
fn client_create_takes_rfc_names_and_back_channel_logout_settings() {
    let scratch = Scratch::new();
    let run = |args: &[&str]| scratch.run(args);
    let created = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["client", "create"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = run(&all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let refused = |args: &[&str]| -> (Option<i32>, String) {
        let mut all = vec!["client", "create", "--name", "Refused"];
        all.extend_from_slice(args);
        let out = run(&all);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    let help = String::from_utf8(run(&["client", "create", "--help"]).stdout).unwrap();
    for shown in [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "client_secret_basic",
        "client_secret_post",
        "none",
        "--backchannel-logout-uri",
        "--backchannel-logout-session-required",
        "--require-2fa",
    ] {
        assert!(help.contains(shown), "{shown} missing from:\n{help}");
    }
    assert!(!help.contains("authorization-code"), "{help}");

    let rfc = created(&[
        "--name",
        "RFC names",
        "--redirect-uri",
        "https://rp.example/cb",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--grant",
        "client_credentials",
        "--auth-method",
        "client_secret_post",
        "--backchannel-logout-uri",
        "https://rp.example/backchannel-logout?tenant=a",
        "--backchannel-logout-session-required",
        "--require-2fa",
    ]);
    assert_eq!(
        rfc["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(rfc["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(
        rfc["backchannel_logout_uri"],
        "https://rp.example/backchannel-logout?tenant=a"
    );
    assert_eq!(rfc["backchannel_logout_session_required"], true);
    assert_eq!(rfc["require_2fa"], true);

    // The spellings of earlier releases (tests/load/run.sh uses them) are aliases.
    let legacy = created(&[
        "--name",
        "Old spellings",
        "--redirect-uri",
        "https://rp.example/cb",
        "--grant",
        "authorization-code",
        "--grant",
        "refresh-token",
        "--grant",
        "client-credentials",
        "--auth-method",
        "client-secret-basic",
    ]);
    assert_eq!(legacy["grant_types"], rfc["grant_types"]);
    assert_eq!(legacy["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(legacy["backchannel_logout_uri"], serde_json::Value::Null);
    assert_eq!(legacy["backchannel_logout_session_required"], false);
    assert_eq!(legacy["require_2fa"], false);

    // `--auth-method none` is a public client, with or without `--public`.
    for extra in [&[][..], &["--public"][..]] {
        let mut args = vec![
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example/cb",
            "--auth-method",
            "none",
            "--backchannel-logout-uri",
            "http://127.0.0.1:8080/logout",
        ];
        args.extend_from_slice(extra);
        let spa = created(&args);
        assert_eq!(spa["client_type"], "public", "{extra:?}");
        assert_eq!(spa["token_endpoint_auth_method"], "none");
        assert!(spa["client_secret"].is_null());
        assert_eq!(
            spa["backchannel_logout_uri"],
            "http://127.0.0.1:8080/logout"
        );
    }

    let cb = ["--redirect-uri", "https://rp.example/cb"];
    for (args, code, expected) in [
        (
            vec!["--public", "--auth-method", "client_secret_basic"],
            1,
            vec!["--public", "--auth-method client_secret_basic"],
        ),
        (
            vec!["--backchannel-logout-uri", "http://rp.example/logout"],
            1,
            vec!["backchannel_logout_uri", "https"],
        ),
        (
            vec!["--backchannel-logout-uri", "https://rp.example/logout#top"],
            1,
            vec!["backchannel_logout_uri", "fragment"],
        ),
        (
            vec!["--backchannel-logout-uri", "/logout"],
            1,
            vec!["backchannel_logout_uri", "absolute"],
        ),
        (
            vec!["--backchannel-logout-session-required"],
            1,
            vec![
                "backchannel_logout_session_required",
                "backchannel_logout_uri",
            ],
        ),
        (
            vec!["--grant", "implicit"],
            2,
            vec![
                "implicit",
                "authorization_code, refresh_token, client_credentials",
            ],
        ),
        (
            vec!["--auth-method", "private_key_jwt"],
            2,
            vec!["private_key_jwt", "client_secret_basic"],
        ),
    ] {
        let mut all = cb.to_vec();
        all.extend_from_slice(&args);
        let (status, stderr) = refused(&all);
        assert_eq!(status, Some(code), "{args:?}: {stderr}");
        for text in expected {
            assert!(stderr.contains(text), "{args:?}: {text:?} not in {stderr}");
        }
    }

    let out = run(&["client", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 4, "nothing refused was stored");
    let stored = listed
        .iter()
        .find(|client| client["client_id"] == rfc["client_id"])
        .unwrap();
    assert_eq!(
        stored["backchannel_logout_uri"],
        "https://rp.example/backchannel-logout?tenant=a"
    );
    assert_eq!(stored["backchannel_logout_session_required"], true);
    assert_eq!(stored["require_2fa"], true);
}

/// A running `gatehouse serve` on a free port, killed (and its database removed) on drop.
struct RunningServer {
    child: Option<std::process::Child>,
    port: u16,
    _scratch: Scratch,
}

impl RunningServer {
    fn start(log_level: &str) -> Self {
        let scratch = Scratch::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = scratch
            .gatehouse()
            .env_remove("RUST_LOG")
            .env("GATEHOUSE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE__SERVER__WORKERS", "1")
            .env("GATEHOUSE__LOGGING__LEVEL", log_level)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut server = Self {
            child: Some(child),
            port,
            _scratch: scratch,
        };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = self.stop_and_read_log();
                panic!("gatehouse exited with {status}: {log}");
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("gatehouse did not listen within 30 s");
    }

    /// Sends `request` raw on a new connection, optionally closing our sending half, and returns
    /// what the server answered.
    fn exchange(&self, request: &[u8], half_close: bool) -> String {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(request).unwrap();
        if half_close {
            stream.shutdown(std::net::Shutdown::Write).unwrap();
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }

    fn stop_and_read_log(&mut self) -> String {
        let mut child = self.child.take().unwrap();
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Before the scratch files go (fields drop after this body).
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The names issue 12 promises scripts: a device client without a secret is
/// `--public --grant urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4).
#[test]
fn client_create_registers_a_public_device_client() {
    let scratch = Scratch::new();
    let out = scratch.run(&[
        "client",
        "create",
        "--name",
        "Chat bot",
        "--public",
        "--grant",
        "urn:ietf:params:oauth:grant-type:device_code",
        "--grant",
        "refresh_token",
        "--scope",
        "openid offline_access",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        client["grant_types"],
        serde_json::json!([
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token"
        ])
    );
    assert_eq!(client["client_type"], "public");
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert_eq!(client["client_secret"], serde_json::Value::Null);
    assert_eq!(client["redirect_uris"], serde_json::json!([]));
}

#[test]
fn malformed_requests_are_not_logged_as_errors() {
    // DEBUG for the module that re-levels client faults, so the test also sees that they are
    // still logged, one level down, and not silently dropped.
    let mut server = RunningServer::start("info,gatehouse_server::telemetry=debug");
    let malformed: [(&[u8], bool); 5] = [
        // Not HTTP at all.
        (b"GARBAGE\r\n\r\n", false),
        // A control character in the request target.
        (b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", false),
        // An invalid and then a duplicated, conflicting Content-Length.
        (b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", false),
        (
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcde",
            false,
        ),
        // A TLS ClientHello sent to the plain-HTTP port.
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\0\0\0\0\0\0\0\0", false),
    ];
    for (request, half_close) in malformed {
        let answer = server.exchange(request, half_close);
        assert!(
            answer.starts_with("HTTP/1.1 400"),
            "{:?} → {answer}",
            String::from_utf8_lossy(request)
        );
    }
    // Bodies shorter than their Content-Length, the client then done sending: each surface
    // answers 400 in its own format.
    let form = "application/x-www-form-urlencoded";
    for (path, content_type) in [
        ("/token", form),
        ("/login", form),
        ("/api/v1/users", "application/json"),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n\
             Content-Length: 100\r\n\r\nabc"
        );
        let answer = server.exchange(request.as_bytes(), true);
        assert!(answer.starts_with("HTTP/1.1 400"), "{path} → {answer}");
    }
    // The server still serves after all that.
    let answer = server.exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    let log = server.stop_and_read_log();
    let errors: Vec<&str> = log.lines().filter(|line| line.contains("ERROR")).collect();
    assert!(
        errors.is_empty(),
        "client mistakes logged as errors:\n{log}"
    );
    assert!(
        log.lines()
            .any(|line| line.contains("DEBUG") && line.contains("request parse error")),
        "the malformed requests are still logged at DEBUG:\n{log}"
    );
}
