//! `.env.example` lists every configuration key of `config/default.toml` as its
//! `GATEHOUSE__SECTION__KEY` variable and no other, and docker-compose.yml sets only real keys,
//! so neither can drift from the configuration. `python3 tests/deploy/env-example.py`
//! regenerates `.env.example`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn is_key(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Every key of default.toml, set or documented as a commented-out `# key = value` line, as
/// its environment variable; the fields of an inline table are keys of their own.
fn config_variables() -> BTreeSet<String> {
    let mut variables = BTreeSet::new();
    let mut section = None;
    for line in repo_file("config/default.toml").lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_uppercase());
            continue;
        }
        let Some(section) = &section else { continue };
        let body = line
            .strip_prefix("# ")
            .or_else(|| line.strip_prefix('#'))
            .unwrap_or(line);
        let Some((key, value)) = body.split_once(" = ") else {
            continue;
        };
        if !is_key(key) {
            continue;
        }
        let prefix = format!("GATEHOUSE__{section}__{}", key.to_uppercase());
        let value = value.trim();
        match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            Some(fields) => {
                for field in fields.split(',') {
                    let (name, _) = field.split_once('=').unwrap();
                    variables.insert(format!("{prefix}__{}", name.trim().to_uppercase()));
                }
            }
            None => {
                variables.insert(prefix);
            }
        }
    }
    variables
}

/// The `# GATEHOUSE__...=` (or uncommented) lines of `.env.example`.
fn example_variables() -> BTreeSet<String> {
    repo_file(".env.example")
        .lines()
        .filter_map(|line| {
            let line = line.strip_prefix("# ").unwrap_or(line);
            let (name, _) = line.split_once('=')?;
            name.starts_with("GATEHOUSE__").then(|| name.to_owned())
        })
        .collect()
}

#[test]
fn env_example_lists_every_config_key_and_no_other() {
    let config = config_variables();
    let example = example_variables();
    assert!(config.len() > 50, "parsed too few keys: {config:?}");
    let missing: Vec<_> = config.difference(&example).collect();
    let unknown: Vec<_> = example.difference(&config).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "regenerate it: python3 tests/deploy/env-example.py\n\
         missing from .env.example: {missing:?}\nnot configuration keys: {unknown:?}"
    );
}

#[test]
fn docker_compose_sets_only_configuration_keys() {
    let config = config_variables();
    let compose = repo_file("docker-compose.yml");
    let used: BTreeSet<String> = compose
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("GATEHOUSE__"))
        .map(str::to_owned)
        .collect();
    assert!(used.contains("GATEHOUSE__KEYS__MASTER_KEY"), "{used:?}");
    assert!(
        used.contains("GATEHOUSE__SERVER__TRUSTED_PROXIES"),
        "{used:?}"
    );
    let unknown: Vec<_> = used.difference(&config).collect();
    assert!(unknown.is_empty(), "not configuration keys: {unknown:?}");
}
