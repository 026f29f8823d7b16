//! `.env` in the working directory (issue 13): it sets what the environment does not, below
//! the real environment; a malformed file stops the process with exit status 2.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch working directory, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(dotenv: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("gh-dotenv-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), dotenv).unwrap();
        Self(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// `gatehouse ARGS` in this directory, with no GATEHOUSE__* from the caller.
    fn gatehouse(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (key, _) in std::env::vars() {
            if key.starts_with("GATEHOUSE__") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(&self.0)
            .args(args)
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn dotenv_sets_what_the_environment_does_not() {
    let dir = WorkDir::new(
        "# settings for this directory\n\
         GATEHOUSE__DATABASE__URL=sqlite://from-dotenv.db\n\
         GATEHOUSE__LOGGING__FORMAT=\"json\"\n",
    );

    let out = dir.gatehouse(&["migrate"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(dir.path().join("from-dotenv.db").exists(), "{out:?}");
    assert!(!dir.path().join("data/gatehouse.db").exists());
}

#[test]
fn the_real_environment_wins_over_dotenv() {
    let dir = WorkDir::new("GATEHOUSE__DATABASE__URL=sqlite://from-dotenv.db\n");

    let out = dir.gatehouse(
        &["migrate"],
        &[("GATEHOUSE__DATABASE__URL", "sqlite://from-env.db")],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(dir.path().join("from-env.db").exists());
    assert!(!dir.path().join("from-dotenv.db").exists());
}

#[test]
fn a_bad_value_in_dotenv_is_named_like_any_other() {
    let dir = WorkDir::new("GATEHOUSE__DATABASE__MAX_CONNECTIONS=many\n");
    let out = dir.gatehouse(&["migrate"], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("database.max_connections"), "{stderr}");
}

#[test]
fn a_malformed_dotenv_exits_2_without_echoing_the_value() {
    let dir = WorkDir::new("GATEHOUSE__KEYS__MASTER_KEY='c2VjcmV0LXNlY3JldA\n");
    let out = dir.gatehouse(&["migrate"], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(".env"), "{stderr}");
    assert!(!stderr.contains("c2VjcmV0"), "the value leaked: {stderr}");
}
