//! The master key as an operator meets it through the binary, on SQLite or (with
//! `TEST_DATABASE_URL`) Postgres: an instance with another key refuses to start and says which
//! setting to fix; `gatehouse keys rewrap` moves the database to a new key.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use gatehouse_identity::testing::TestDatabase;

const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_B: &str = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
const KEY_C: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";

struct Deployment {
    db: TestDatabase,
    dir: std::path::PathBuf,
}

impl Deployment {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("gh-master-key-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            db: TestDatabase::create().unwrap(),
            dir,
        }
    }

    /// `gatehouse ARGS` on this database with master key `key`.
    fn run(&self, key: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (name, _) in std::env::vars() {
            if name.starts_with("GATEHOUSE__") {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(&self.dir)
            .env("GATEHOUSE__DATABASE__URL", self.db.url())
            .env("GATEHOUSE__KEYS__MASTER_KEY", key)
            .env("GATEHOUSE__SERVER__LISTEN", "127.0.0.1:0")
            .env("GATEHOUSE__METRICS__LISTEN", "off")
            .env("GATEHOUSE__PASSWORDS__MEMORY_KIB", "256")
            .env("GATEHOUSE__PASSWORDS__ITERATIONS", "1")
            .args(args)
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_instance_with_another_master_key_refuses_to_start_naming_the_setting() {
    let deployment = Deployment::new();
    let first = deployment.run(KEY_A, &["keys", "list"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));

    // `serve` stops before it answers anything.
    let out = deployment.run(KEY_B, &["serve"], &[]);
    assert!(!out.status.success());
    let message = stderr(&out);
    for expected in [
        "refusing to start",
        "different master key",
        "keys.master_key (GATEHOUSE__KEYS__MASTER_KEY)",
        "gatehouse keys rewrap",
    ] {
        assert!(message.contains(expected), "{expected:?} not in {message}");
    }
    assert!(
        !message.contains(KEY_B) && !message.contains(KEY_A),
        "{message}"
    );

    // The first key still works: nothing was written under the second.
    let again = deployment.run(KEY_A, &["keys", "list"], &[]);
    assert!(again.status.success(), "{}", stderr(&again));
}

#[test]
fn rewrap_moves_the_database_to_the_new_key() {
    let deployment = Deployment::new();
    let first = deployment.run(KEY_A, &["keys", "list"], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    let jwks_before = String::from_utf8(first.stdout).unwrap();
    let old_file = deployment.dir.join("old.key");
    std::fs::write(&old_file, format!("{KEY_A}\n")).unwrap();

    let out = deployment.run(
        KEY_A,
        &[
            "keys",
            "rewrap",
            "--old-key-file",
            old_file.to_str().unwrap(),
            "--new-key-env",
            "NEW_MASTER_KEY",
        ],
        &[("NEW_MASTER_KEY", KEY_B)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("4 signing key(s)"), "{said}");

    let with_new = deployment.run(KEY_B, &["keys", "list"], &[]);
    assert!(with_new.status.success(), "{}", stderr(&with_new));
    assert_eq!(String::from_utf8(with_new.stdout).unwrap(), jwks_before);
    let with_old = deployment.run(KEY_A, &["keys", "list"], &[]);
    assert!(!with_old.status.success());
    // During the roll, the old key as the previous one is fine too.
    let rolling = deployment.run(
        KEY_B,
        &["keys", "list"],
        &[("GATEHOUSE__KEYS__PREVIOUS_MASTER_KEY", KEY_A)],
    );
    assert!(rolling.status.success(), "{}", stderr(&rolling));
}

#[test]
fn rewrap_needs_a_new_key_and_warns_about_one_on_the_command_line() {
    let deployment = Deployment::new();
    assert!(
        deployment
            .run(KEY_A, &["keys", "list"], &[])
            .status
            .success()
    );

    let missing = deployment.run(KEY_A, &["keys", "rewrap"], &[]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("new master key is missing"),
        "{}",
        stderr(&missing)
    );

    let inline = deployment.run(KEY_A, &["keys", "rewrap", "--new-key", KEY_B], &[]);
    assert!(inline.status.success(), "{}", stderr(&inline));
    assert!(
        stderr(&inline).contains("warning: --new-key"),
        "{}",
        stderr(&inline)
    );

    // Again: everything is under the new key already, and says so.
    let again = deployment.run(
        KEY_B,
        &["keys", "rewrap", "--old-key-env", "K", "--new-key-env", "N"],
        &[("K", KEY_A), ("N", KEY_B)],
    );
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 signing key(s)"));
}

#[test]
fn rewrap_with_the_wrong_old_key_changes_nothing() {
    let deployment = Deployment::new();
    assert!(
        deployment
            .run(KEY_A, &["keys", "list"], &[])
            .status
            .success()
    );
    // The old key defaults to the configured one: here not the database's.
    let wrong = deployment.run(
        KEY_C,
        &["keys", "rewrap", "--new-key-env", "N"],
        &[("N", KEY_B)],
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("Nothing was changed"),
        "{}",
        stderr(&wrong)
    );
    assert!(
        deployment
            .run(KEY_A, &["keys", "list"], &[])
            .status
            .success()
    );
}
