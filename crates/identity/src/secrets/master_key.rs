//! The master key: the AES-256-GCM key that seals signing keys at rest ([`super::seal()`]) and
//! the root every other server secret is derived from (TOTP sealing and recovery-code keys,
//! the client-secret HMAC key, the code and refresh-token MAC key).
//!
//! Derivation is HMAC-SHA256 used as a PRF (RFC 2104; the "expand" step of RFC 5869 §2.3 with
//! a single block), keyed by the master key over `gatehouse:<purpose>`. Each purpose gets an
//! independent key, so a leaked client-secret HMAC key reveals neither the master key nor any
//! other derived key.
//!
//! The key file holds the key as base64 text. It is created once, atomically: written to a
//! private temporary file and hard-linked into place, so two processes starting together on a
//! shared volume can never each generate a key and overwrite the other's — the loser reads
//! the winner's key. An existing file is never rewritten.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac as _};
use rand::TryRngCore as _;
use sha2::Sha256;

use super::error::SecretsError;

const KEY_LEN: usize = 32;
const DERIVE_PREFIX: &[u8] = b"gatehouse:";

/// Operators paste keys from `openssl rand -base64 32` or from URL-safe tooling, with or
/// without padding; both alphabets are accepted, but one key must use one alphabet.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Where private keys are sealed. Loaded from config (base64 of 32 bytes) or a key file.
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// Standard or URL-safe base64, padded or not, surrounding whitespace ignored; it must
    /// decode to exactly 32 bytes. The error never echoes the input.
    pub fn from_base64(encoded: &str) -> Result<Self, SecretsError> {
        let encoded = encoded.trim();
        let engine = if encoded.contains(['-', '_']) {
            &URL_SAFE_LENIENT
        } else {
            &STANDARD_LENIENT
        };
        let bytes = engine
            .decode(encoded)
            .map_err(|_| SecretsError::MasterKey("not valid base64".into()))?;
        let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            SecretsError::MasterKey(format!(
                "decodes to {} bytes; expected {KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(Self(key))
    }

    /// Reads the file (base64 text) or, if it does not exist, creates it (parent dirs too) with
    /// 32 random bytes, mode 0600 on unix. Returns `(key, created)`; `created` is false when
    /// another process created the file first and its key was read instead.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), SecretsError> {
        match Self::load(path) {
            Err(SecretsError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Self::create(path)
            }
            loaded => loaded.map(|key| (key, false)),
        }
    }

    /// An independent subkey for `purpose`: HMAC-SHA256(master, "gatehouse:" + purpose).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        #[expect(
            clippy::expect_used,
            reason = "HMAC takes keys of any length; new_from_slice cannot fail"
        )]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts a 32-byte key");
        mac.update(DERIVE_PREFIX);
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// For a holder that outlives the caller's borrow (the signing-key manager). Deliberately
    /// not `Clone`: copies of the key should be rare and visible.
    pub fn duplicate(&self) -> Self {
        Self(self.0)
    }

    fn generate() -> Result<Self, SecretsError> {
        let mut key = [0u8; KEY_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut key)
            .map_err(|e| SecretsError::MasterKey(format!("no randomness from the OS: {e}")))?;
        Ok(Self(key))
    }

    fn load(path: &Path) -> Result<Self, SecretsError> {
        let text = fs::read_to_string(path).map_err(io_error(path))?;
        warn_if_exposed(path);
        Self::from_base64(&text).map_err(|err| match err {
            SecretsError::MasterKey(reason) => {
                SecretsError::MasterKey(format!("{}: {reason}", path.display()))
            }
            other => other,
        })
    }

    fn create(path: &Path) -> Result<(Self, bool), SecretsError> {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(io_error(dir))?;

        let key = Self::generate()?;
        let temporary = temporary_sibling(path)?;
        let written = write_private_file(&temporary, STANDARD.encode(key.0).as_bytes());
        // A hard link, unlike a rename, refuses to replace a file that appeared meanwhile.
        let linked = written.and_then(|()| fs::hard_link(&temporary, path));
        let removed = fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                removed.map_err(io_error(&temporary))?;
                sync_directory(dir);
                tracing::info!(path = %path.display(), "created a new master key file");
                Ok((key, true))
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                Self::load(path).map(|key| (key, false))
            }
            Err(err) => Err(io_error(path)(err)),
        }
    }
}

/// Never prints key material.
impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `.<name>.<random>.tmp` next to `path`, so the hard link stays on one filesystem.
fn temporary_sibling(path: &Path) -> Result<PathBuf, SecretsError> {
    let name = path.file_name().ok_or_else(|| {
        SecretsError::MasterKey(format!("{} does not name a file", path.display()))
    })?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    Ok(path.with_file_name(temporary))
}

fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Makes the new directory entry durable: losing the key file in a crash after keys were
/// sealed with it would make every stored signing key unreadable.
fn sync_directory(dir: &Path) {
    #[cfg(unix)]
    if let Err(err) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), %err, "could not sync the master key's directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn warn_if_exposed(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
                "master key file is accessible to other users; chmod 600 it"
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
