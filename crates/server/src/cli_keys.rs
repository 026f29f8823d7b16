//! `gatehouse keys rewrap`: changes the master key (module docs of
//! `gatehouse_tokens::keystore`, and docs/operations.md for the online procedure).
//!
//! Keys are read from files or named environment variables, so they appear neither in `ps`
//! nor in shell history; a key given on the command line itself works, with a warning.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use gatehouse_identity::{AuditAction, AuditOutcome, Database, NewAuditEvent, RequestContext};
use gatehouse_tokens::keystore::{self, KeyStoreError, MasterKey};

use crate::config::Settings;

#[derive(Debug, Clone, Args)]
pub struct RewrapArgs {
    /// File holding the old master key (base64). Default for the old key: this instance's
    /// configured master key (keys.master_key, else keys.master_key_file).
    #[arg(long, value_name = "FILE", group = "old")]
    pub old_key_file: Option<PathBuf>,
    /// Environment variable holding the old master key.
    #[arg(long, value_name = "VAR", group = "old")]
    pub old_key_env: Option<String>,
    /// The old master key itself: visible to other local users (`ps`) and in shell history;
    /// prefer --old-key-file or --old-key-env.
    #[arg(long, value_name = "BASE64", group = "old")]
    pub old_key: Option<String>,
    /// File holding the new master key (base64, e.g. from `openssl rand -base64 32`).
    #[arg(long, value_name = "FILE", group = "new")]
    pub new_key_file: Option<PathBuf>,
    /// Environment variable holding the new master key.
    #[arg(long, value_name = "VAR", group = "new")]
    pub new_key_env: Option<String>,
    /// The new master key itself (see --old-key).
    #[arg(long, value_name = "BASE64", group = "new")]
    pub new_key: Option<String>,
}

/// One key option: where it came from (for messages) and its text.
fn read_key(
    role: &str,
    file: Option<&PathBuf>,
    env: Option<&String>,
    inline: Option<&String>,
) -> anyhow::Result<Option<MasterKey>> {
    let (source, text) = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--{role}-key-file {}", path.display()))?;
        (format!("--{role}-key-file {}", path.display()), text)
    } else if let Some(var) = env {
        let text = std::env::var(var)
            .with_context(|| format!("--{role}-key-env: environment variable {var} is unset"))?;
        (format!("--{role}-key-env {var}"), text)
    } else if let Some(text) = inline {
        eprintln!(
            "warning: --{role}-key puts the master key on the command line, where other local \
             users (ps) and your shell history can read it; prefer --{role}-key-file or \
             --{role}-key-env"
        );
        (format!("--{role}-key"), text.clone())
    } else {
        return Ok(None);
    };
    MasterKey::from_base64(&text)
        .map(Some)
        .map_err(|err| anyhow::anyhow!("{source}: {err}"))
}

/// Re-seals under the new key, audits `keys.rewrap` as `cli`, and says what to do next.
pub fn rewrap(
    db: &Database,
    settings: &Settings,
    args: &RewrapArgs,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let old = match read_key(
        "old",
        args.old_key_file.as_ref(),
        args.old_key_env.as_ref(),
        args.old_key.as_ref(),
    )? {
        Some(key) => key,
        None => crate::app::load_master_key(settings)?,
    };
    let Some(new) = read_key(
        "new",
        args.new_key_file.as_ref(),
        args.new_key_env.as_ref(),
        args.new_key.as_ref(),
    )?
    else {
        bail!("the new master key is missing: give --new-key-file FILE or --new-key-env VAR");
    };
    if old.bytes() == new.bytes() {
        bail!("the old and the new master key are the same key");
    }
    let ctx = RequestContext::system("cli");
    let report = keystore::rewrap(db, &old, &new, now, |material, signing_keys| {
        NewAuditEvent::in_context(
            &ctx,
            now,
            AuditAction::KeysRewrap,
            AuditOutcome::Success,
            None,
            serde_json::json!({
                "resealed_material": material,
                "resealed_signing_keys": signing_keys,
            }),
        )
    })
    .map_err(|err| match err {
        KeyStoreError::MasterKeyMismatch { .. } => anyhow::anyhow!(
            "{err}: is the old key (--old-key-file, --old-key-env, or else the configured \
             master key) the one the database was sealed with? Nothing was changed"
        ),
        other => anyhow::Error::new(other).context("rewrap"),
    })?;
    tracing::info!(
        resealed_material = report.resealed_material,
        resealed_signing_keys = report.resealed_signing_keys,
        already_new = report.already_new,
        "re-sealed the master key's material under a new master key"
    );
    println!(
        "re-sealed {} derivation root(s) and {} signing key(s) under the new master key \
         ({} already were); audited as keys.rewrap",
        report.resealed_material, report.resealed_signing_keys, report.already_new
    );
    println!(
        "next: restart every instance with GATEHOUSE__KEYS__MASTER_KEY set to the new key and \
         GATEHOUSE__KEYS__PREVIOUS_MASTER_KEY to the old one; once all run the new key, run \
         this command again (it re-seals keys rotated meanwhile under the old key) and remove \
         the previous key"
    );
    Ok(())
}

/// `gatehouse healthcheck`: one HTTP/1.0 request to this host's `server.listen` (an unspecified
/// address means loopback); the status line, or an error unless it is 200. With native TLS the
/// check is that the port accepts a connection: a health probe has no CA to check against, and
/// the process answering is what it asks.
pub fn healthcheck(settings: &Settings, path: &str) -> anyhow::Result<String> {
    use std::io::{Read as _, Write as _};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::time::Duration;

    const TIMEOUT: Duration = Duration::from_secs(3);
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        bail!("--path must be an absolute path such as /healthz");
    }
    let listen = settings.server.listen;
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let address = SocketAddr::new(ip, listen.port());
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .with_context(|| format!("server.listen: nothing accepts connections on {address}"))?;
    if settings.server.tls_cert_file.is_some() {
        return Ok(format!("{address} accepts connections (TLS)"));
    }
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut response = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut response)
        .with_context(|| format!("reading the answer of {address}"))?;
    let text = String::from_utf8_lossy(&response);
    let status_line = text.lines().next().unwrap_or_default().to_owned();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(status_line)
    } else {
        bail!("{address}{path} answered {status_line:?}")
    }
}
