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
    let (url, path) = temp_sqlite_url();
    let create = |username: &str, password: &str, admin: bool| {
        let mut cmd = gatehouse();
        cmd.env("GATEHOUSE__DATABASE__URL", &url)
            .args(["user", "create", "--username", username, "--email"])
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

    let db = gatehouse_identity::Database::connect(&url, 1).unwrap();
    let opal = db.find_user_by_login("opal").unwrap().unwrap();
    assert_eq!(db.roles_of(opal.id).unwrap(), vec!["admin".to_owned()]);
    assert!(db.find_user_by_login("pearl").unwrap().is_none());
    drop(db);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[test]
fn client_commands_work_on_the_configured_database() {
    let (url, path) = temp_sqlite_url();
    let key_file =
        std::env::temp_dir().join(format!("gh-cli-{}.key", uuid::Uuid::new_v4().simple()));
    let run = |args: &[&str]| {
        gatehouse()
            .env("GATEHOUSE__DATABASE__URL", &url)
            .env("GATEHOUSE__KEYS__MASTER_KEY_FILE", &key_file)
            .args(args)
            .output()
            .unwrap()
    };
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

    let _ = std::fs::remove_file(&key_file);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
