//! The `gatehouse` command line.

use std::fmt;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use gatehouse_identity::{RegisterError, Registration, RequestContext, Role};

use crate::app::{Application, open_accounts};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "Gatehouse: an OAuth 2 / OpenID Connect authorization server",
    long_about = "Gatehouse: an OAuth 2 / OpenID Connect authorization server.\n\n\
        With no configuration it runs on SQLite (./data/) and an in-process session store.\n\
        Configuration: built-in defaults, then --config FILE, then GATEHOUSE__SECTION__KEY \
        environment variables (see config/default.toml)."
)]
pub struct Cli {
    /// A TOML file overriding the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the REST API's OpenAPI document.
    Openapi,
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients (relying parties and machine clients).
    #[command(subcommand)]
    Client(crate::cli_clients::ClientCommand),
    /// Manage organisations (vendors) and their members.
    #[command(subcommand)]
    Org(crate::cli_orgs::OrgCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(crate::cli_clients::KeysCommand),
    /// Check mail delivery.
    #[command(subcommand)]
    Mail(crate::mail::MailCommand),
    /// Ask the server on `server.listen` (this host) for a health endpoint; exit status 0 when
    /// it answers 200. For container health checks: the image ships no curl or wget.
    Healthcheck {
        /// `/healthz` (the process answers) or `/readyz` (its database and store answer too).
        #[arg(long, default_value = "/healthz")]
        path: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password is read from standard input (prompted on a terminal).
    Create(CreateUser),
    /// Remove a user's second factor (TOTP and recovery codes) and end all the user's sessions.
    ///
    /// The running server ends the sessions (revoking their tokens, with back-channel logouts)
    /// within about two seconds; with no server running, when one next starts.
    #[command(name = "reset-2fa")]
    Reset2fa {
        /// The username (or email address) of the account.
        username: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateUser {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub email: String,
    /// Grant the `admin` role (the same as `--role admin`).
    #[arg(long)]
    pub admin: bool,
    /// Grant a role (repeatable): `admin`, `user_admin`, `client_admin`, `auditor`.
    #[arg(long = "role", value_parser = parse_role, value_name = "ROLE")]
    pub roles: Vec<Role>,
}

/// A role by its stored name, for `--role`.
pub fn parse_role(name: &str) -> Result<Role, String> {
    name.parse().map_err(|_| {
        let known: Vec<&str> = <Role as strum::IntoEnumIterator>::iter()
            .map(Role::as_str)
            .collect();
        format!("unknown role `{name}` (known: {})", known.join(", "))
    })
}

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            let accounts = tokio::task::spawn_blocking(move || open_accounts(&settings)).await??;
            drop(accounts);
            println!("migrations are up to date");
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => create_user(settings, args).await,
        Command::User(UserCommand::Reset2fa { username }) => {
            let reset = reset_second_factor(settings, username, SystemClock.now()).await?;
            println!("{reset}");
            Ok(())
        }
        Command::Client(command) => crate::cli_clients::run_client(command, settings).await,
        Command::Keys(command) => crate::cli_clients::run_keys(command, settings).await,
        Command::Org(command) => crate::cli_orgs::run(command, settings).await,
        Command::Mail(command) => crate::mail::run_command(command, settings).await,
        Command::Healthcheck { path } => {
            let status = crate::cli_keys::healthcheck(&settings, &path)?;
            println!("{path}: {status}");
            Ok(())
        }
        Command::Openapi => {
            print!("{}", crate::api::openapi::document_json());
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.server.listen;
    let issuer = settings.issuer();
    let app = Application::build(settings, Arc::new(SystemClock)).await?;
    tracing::info!(%listen, %issuer, "gatehouse is listening");
    app.run_until_stopped().await?;
    tracing::info!("gatehouse stopped");
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let second = rpassword::prompt_password("Repeat password: ")?;
        if first != second {
            bail!("the passwords do not match");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

async fn create_user(settings: Settings, args: CreateUser) -> anyhow::Result<()> {
    let password = read_password()?;
    let accounts = tokio::task::spawn_blocking(move || open_accounts(&settings)).await??;
    let mut roles = args.roles.clone();
    if args.admin {
        roles.push(Role::Admin);
    }
    let ctx = RequestContext::system("cli");
    let registration = Registration {
        username: args.username,
        email: args.email,
        password,
    };
    match accounts
        .register(registration, &roles, &ctx, SystemClock.now())
        .await
    {
        Ok(user) => {
            println!("created user {} ({})", user.username, user.id);
            Ok(())
        }
        Err(RegisterError::Invalid(field)) => bail!("{}: {}", field.field, field.message),
        Err(RegisterError::Duplicate { field }) => {
            bail!("{field}: a user with this {field} already exists")
        }
        Err(RegisterError::Internal(err)) => Err(err.into()),
    }
}

/// What `gatehouse user reset-2fa` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondFactorReset {
    pub user_id: uuid::Uuid,
    pub username: String,
    /// Whether there was a second factor to remove (pending or confirmed).
    pub removed: bool,
}

impl fmt::Display for SecondFactorReset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            user_id, username, ..
        } = self;
        if self.removed {
            writeln!(
                f,
                "removed the second factor (TOTP and recovery codes) of {username} ({user_id})"
            )?;
        } else {
            writeln!(f, "{username} ({user_id}) had no second factor to remove")?;
        }
        write!(
            f,
            "requested the end of all of {username}'s sessions: the running server ends them \
             within about {} seconds (with no server running, when one starts)",
            crate::session_end_requests::POLL_INTERVAL.as_secs()
        )
    }
}

/// `gatehouse user reset-2fa USERNAME`: on the database alone (the sessions may live in a
/// running server's memory), removes the user's second factor, audits `totp.reset` as `cli` and
/// asks the server instances to end every session of the user, all in one transaction. An
/// unknown user is an error and changes nothing.
pub async fn reset_second_factor(
    settings: Settings,
    username: String,
    now: DateTime<Utc>,
) -> anyhow::Result<SecondFactorReset> {
    tokio::task::spawn_blocking(move || {
        let db = crate::cli_clients::open_database(&settings)?;
        let ctx = RequestContext::system("cli");
        let no_such_user = || anyhow::anyhow!("no user with the username or email {username:?}");
        let user = db
            .find_user_by_typed_login(&username)?
            .ok_or_else(no_such_user)?;
        let removed = db
            .reset_second_factor_and_request_session_end(user.id, &ctx, now)?
            // Deleted since the lookup.
            .ok_or_else(no_such_user)?;
        Ok(SecondFactorReset {
            user_id: user.id,
            username: user.username,
            removed,
        })
    })
    .await?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;
    use crate::cli_clients::ClientCommand;

    /// The spellings operators' scripts use (issue 11's contract).
    #[test]
    fn roles_are_given_by_name_to_users_and_service_accounts() {
        let cli = Cli::try_parse_from([
            "gatehouse",
            "client",
            "create",
            "--name",
            "N",
            "--grant",
            "client_credentials",
            "--scope",
            "admin",
            "--role",
            "admin",
            "--json",
        ])
        .unwrap();
        let Some(Command::Client(ClientCommand::Create(args))) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.roles, vec![Role::Admin]);
        assert!(args.json);

        let cli = Cli::try_parse_from([
            "gatehouse",
            "user",
            "create",
            "--username",
            "u",
            "--email",
            "u@example.com",
            "--role",
            "user_admin",
            "--role",
            "auditor",
        ])
        .unwrap();
        let Some(Command::User(UserCommand::Create(args))) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(args.roles, vec![Role::UserAdmin, Role::Auditor]);

        let err = Cli::try_parse_from([
            "gatehouse",
            "user",
            "create",
            "--username",
            "u",
            "--email",
            "u@example.com",
            "--role",
            "root",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown role `root`"), "{err}");
        assert!(err.contains("user_admin"), "{err}");
    }
}
