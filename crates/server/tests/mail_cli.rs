//! `gatehouse mail test` as an operator meets it: a failure is one line with its cause and exit
//! status 1; a plain-SMTP URL to a remote host stops it at start (status 2) naming the key. The
//! successful send against a real SMTP server is in the end-to-end suite (`tests/e2e/mail.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn gatehouse_mail_test(smtp_url: &str) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (key, _) in std::env::vars() {
        if key.starts_with("GATEHOUSE__") {
            cmd.env_remove(key);
        }
    }
    cmd.env("GATEHOUSE__EMAIL__TRANSPORT", "smtp")
        .env("GATEHOUSE__EMAIL__SMTP_URL", smtp_url)
        .args(["mail", "test", "--to", "ops@example.org"])
        .output()
        .unwrap()
}

#[test]
fn a_closed_smtp_port_fails_with_the_cause_and_status_1() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = gatehouse_mail_test(&format!("smtp://127.0.0.1:{closed}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot send the test mail to ops@example.org"),
        "{stderr}"
    );
    assert!(stderr.contains("Connection refused"), "{stderr}");
}

#[test]
fn plain_smtp_to_a_remote_host_is_a_config_error() {
    let output = gatehouse_mail_test("smtp://mailer:hunter2@smtp.example.com");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("email.smtp_url"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
