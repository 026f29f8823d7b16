//! A `.env` file in the working directory: `KEY=value` lines (the docker-compose format) that
//! set environment variables the process environment does not already set, before the
//! configuration is loaded. So the real environment always wins over `.env`; and a
//! `GATEHOUSE__*` variable from either overrides `--config FILE`, as every environment
//! variable does. `.env.example` at the repository root lists every variable.

use std::io;
use std::path::{Path, PathBuf};

/// Why `.env` could not be applied; printed as one line before the process exits with 2.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", path.display())]
pub struct DotenvError {
    path: PathBuf,
    reason: String,
}

/// Applies `./.env` if there is one; `Ok(None)` when there is none. Call it while the process
/// has one thread (it changes the environment).
pub fn load_working_directory() -> Result<Option<PathBuf>, DotenvError> {
    load(Path::new(".env"))
}

/// Applies `path` if it exists: each variable it sets that is not already set.
pub fn load(path: &Path) -> Result<Option<PathBuf>, DotenvError> {
    match dotenvy::from_path(path) {
        Ok(()) => Ok(Some(path.to_owned())),
        Err(dotenvy::Error::Io(err)) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(DotenvError {
            path: path.to_owned(),
            reason: match err {
                // The line may hold a secret: say where, never what.
                dotenvy::Error::LineParse(line, index) => format!(
                    "cannot parse the line that starts with {:?} (at character {index}); \
                     expected KEY=value lines",
                    line.split('=').next().unwrap_or_default()
                ),
                other => other.to_string(),
            },
        }),
    }
}
