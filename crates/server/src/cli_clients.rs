//! `gatehouse client …` and `gatehouse keys …`: work directly on the configured database, whether
//! or not a server is running.
//!
//! Grant types and token endpoint auth methods are named as in the RFCs and in discovery
//! (`authorization_code`, `client_secret_basic`), read from the identity crate's one definition
//! of each. The kebab-case spellings of earlier releases (`authorization-code`) still parse, as
//! hidden aliases, so existing scripts keep working.

use std::sync::{Arc, LazyLock};

use anyhow::{Context, bail};
use clap::builder::PossibleValue;
use clap::{Args, Subcommand, ValueEnum};
use gatehouse_identity::{
    ClientError, ClientType, Database, GrantType, NewClient, TokenEndpointAuthMethod, organizations,
};
use gatehouse_tokens::Algorithm;
use gatehouse_tokens::keystore::KeyManager;
use secrecy::ExposeSecret;

use crate::app::{client_secret_hasher, key_policy};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. Its secret (confidential clients) is printed once.
    Create(Box<CreateClient>),
    /// List registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a client and the consents given to it.
    Delete { client_id: String },
}

/// `--grant`: one of [`GrantType::ALL`].
#[derive(Debug, Clone, Copy)]
pub struct GrantArg(pub GrantType);

impl ValueEnum for GrantArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: LazyLock<Vec<GrantArg>> =
            LazyLock::new(|| GrantType::ALL.map(GrantArg).to_vec());
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(wire_name(self.0.as_str()))
    }
}

/// `--auth-method`: one of [`TokenEndpointAuthMethod::ALL`].
#[derive(Debug, Clone, Copy)]
pub struct AuthMethodArg(pub TokenEndpointAuthMethod);

impl ValueEnum for AuthMethodArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: LazyLock<Vec<AuthMethodArg>> =
            LazyLock::new(|| TokenEndpointAuthMethod::ALL.map(AuthMethodArg).to_vec());
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(wire_name(self.0.as_str()))
    }
}

/// The RFC name, shown in help and errors; its kebab-case form is a hidden alias.
fn wire_name(name: &'static str) -> PossibleValue {
    let value = PossibleValue::new(name);
    if name.contains('_') {
        value.alias(name.replace('_', "-"))
    } else {
        value
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "verbatim")]
pub enum AlgArg {
    RS256,
    ES256,
}

#[derive(Debug, Args)]
pub struct CreateClient {
    #[arg(long)]
    pub name: String,
    /// An exact redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required for the code flow), e.g. a single-page or native
    /// app, or a device with `--grant urn:ietf:params:oauth:grant-type:device_code`. The same as
    /// `--auth-method none`; giving both is fine, `--public` with a client_secret_* method is an
    /// error.
    #[arg(long)]
    pub public: bool,
    /// Allowed grant types (repeatable), by their RFC 6749, RFC 8628 and RFC 8693 names. Default:
    /// authorization_code and refresh_token.
    #[arg(long = "grant", value_enum, value_name = "GRANT_TYPE")]
    pub grants: Vec<GrantArg>,
    /// Allowed scopes (repeatable, or space-separated). Default: openid profile email offline_access.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// A first-party client: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// Where RP-initiated logout may send the browser back to (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Token endpoint authentication (RFC 7591 §2). `none` registers a public client, like
    /// `--public`. Default: client_secret_basic, or none with `--public`.
    #[arg(long, value_enum, value_name = "METHOD")]
    pub auth_method: Option<AuthMethodArg>,
    /// ID token signing algorithm. Default: RS256.
    #[arg(long, value_enum)]
    pub id_token_alg: Option<AlgArg>,
    /// Where logout tokens are POSTed when a user's session ends (OpenID Connect Back-Channel
    /// Logout 1.0): an absolute https URI without fragment (http only for localhost).
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Every logout token for this client must carry the session id (`sid`). Needs
    /// --backchannel-logout-uri.
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// Users of this client must have signed in with a second factor.
    #[arg(long = "require-2fa")]
    pub require_2fa: bool,
    /// A role of the client's service account (repeatable): `admin`, `user_admin`,
    /// `client_admin`, `auditor`. Its client_credentials tokens with the `admin` scope then
    /// use the admin API as that role. Needs --grant client_credentials.
    #[arg(long = "role", value_parser = crate::cli::parse_role, value_name = "ROLE")]
    pub roles: Vec<gatehouse_identity::Role>,
    /// The organisation (slug or id) the client belongs to: only its members sign in to it, and
    /// its org admins manage it.
    #[arg(long = "org", value_name = "ORG")]
    pub org: Option<String>,
    /// A resource (API identifier, an absolute URI) the client may ask tokens for with
    /// `resource` (RFC 8707; repeatable).
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
    /// An audience (a client id or resource URI) the client may ask for in a token exchange
    /// (RFC 8693; repeatable). Needs --grant urn:ietf:params:oauth:grant-type:token-exchange.
    #[arg(long = "exchange-audience", value_name = "AUD")]
    pub exchange_audiences: Vec<String>,
    /// Token exchange without an actor token (impersonation) is allowed; without this flag
    /// only delegation is. Needs the token-exchange grant.
    #[arg(long)]
    pub allow_impersonation: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Rotate now: the next key becomes active, the active key is retired (still published until
    /// its tokens expire), and a new next key is generated.
    Rotate {
        /// Only this algorithm (default: both).
        #[arg(long, value_enum)]
        alg: Option<AlgArg>,
    },
    /// Show the published keys.
    List,
    /// Re-seal the signing keys and the derivation root from an old master key to a new one
    /// (online: running instances keep working). See docs/operations.md.
    Rewrap(crate::cli_keys::RewrapArgs),
}

/// Connects to the configured database and applies pending migrations: what every command that
/// needs only the database starts with.
pub(crate) fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    let db = Database::connect(settings.database.url.expose_secret(), 2)
        .context("database.url: cannot connect")?;
    db.run_migrations().context("applying migrations")?;
    Ok(db)
}

pub async fn run_client(command: ClientCommand, settings: Settings) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || run_client_blocking(command, &settings)).await?
}

fn run_client_blocking(command: ClientCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = open_database(settings)?;
    match command {
        ClientCommand::Create(args) => create_client(&db, settings, *args),
        ClientCommand::List { json } => {
            let clients = db.list_clients()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&clients)?);
            } else {
                for c in clients {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.client_id,
                        c.name,
                        if c.is_public() {
                            "public"
                        } else {
                            "confidential"
                        },
                        c.redirect_uris.join(" ")
                    );
                }
            }
            Ok(())
        }
        ClientCommand::Delete { client_id } => {
            if db.delete_client(&client_id)? {
                println!("deleted client {client_id}");
                Ok(())
            } else {
                bail!("no client {client_id}")
            }
        }
    }
}

/// `--public` and `--auth-method` together: `none` is what makes a client public, so either
/// flag alone says it, both may be given, and a public client with a secret method is refused.
fn client_type_and_auth_method(
    public: bool,
    auth_method: Option<TokenEndpointAuthMethod>,
) -> anyhow::Result<(ClientType, Option<TokenEndpointAuthMethod>)> {
    match (public, auth_method) {
        (_, Some(TokenEndpointAuthMethod::None)) | (true, None) => {
            Ok((ClientType::Public, Some(TokenEndpointAuthMethod::None)))
        }
        (true, Some(method)) => bail!(
            "--public conflicts with --auth-method {}: a public client has no secret to \
             authenticate with; leave --auth-method out or use none",
            method.as_str()
        ),
        (false, method) => Ok((ClientType::Confidential, method)),
    }
}

fn create_client(db: &Database, settings: &Settings, args: CreateClient) -> anyhow::Result<()> {
    let (client_type, token_endpoint_auth_method) =
        client_type_and_auth_method(args.public, args.auth_method.map(|m| m.0))?;
    let org_id = match &args.org {
        Some(org) => match organizations::find(db, org)? {
            Some(organization) => Some(organization.id.to_string()),
            None => bail!("--org: no organisation `{org}`"),
        },
        None => None,
    };
    let root = crate::app::derivation_root(db, settings, SystemClock.now())?;
    let hasher = client_secret_hasher(&root);
    let new = NewClient {
        name: args.name,
        client_type: Some(client_type),
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        grant_types: args.grants.iter().map(|grant| grant.0).collect(),
        scopes: args
            .scopes
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_owned)
            .collect(),
        token_endpoint_auth_method,
        id_token_signed_response_alg: args.id_token_alg.map(|a| {
            match a {
                AlgArg::RS256 => "RS256",
                AlgArg::ES256 => "ES256",
            }
            .to_owned()
        }),
        first_party: args.first_party,
        backchannel_logout_uri: args.backchannel_logout_uri,
        backchannel_logout_session_required: args.backchannel_logout_session_required,
        require_2fa: args.require_2fa,
        org_id,
        resources: args.resources,
        exchange_audiences: args.exchange_audiences,
        allow_impersonation: args.allow_impersonation,
    };
    if !args.roles.is_empty() && !new.grant_types.contains(&GrantType::ClientCredentials) {
        bail!(
            "--role gives the client's service account a role: it needs --grant client_credentials"
        );
    }
    let created = db.create_client_with_roles(&new, &args.roles, &hasher, SystemClock.now());
    let (client, secret) = match created {
        Ok(created) => created,
        Err(ClientError::Invalid { field, message }) => bail!("{field}: {message}"),
        Err(ClientError::Internal(err)) => return Err(err.into()),
    };
    if args.json {
        let mut value = serde_json::to_value(&client)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("client_secret".to_owned(), serde_json::json!(secret));
            object.insert("roles".to_owned(), serde_json::json!(args.roles));
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("client_id:     {}", client.client_id);
        match secret {
            Some(secret) => {
                println!("client_secret: {secret}");
                println!("(the secret is shown only now; store it safely)");
            }
            None if client.allows_grant(GrantType::AuthorizationCode) => {
                println!("public client: no secret; PKCE (S256) is required")
            }
            None => println!("public client: no secret"),
        }
    }
    Ok(())
}

pub async fn run_keys(command: KeysCommand, settings: Settings) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let db = open_database(&settings)?;
        if let KeysCommand::Rewrap(args) = command {
            return crate::cli_keys::rewrap(&db, &settings, &args, SystemClock.now());
        }
        let master = crate::app::load_master_keys(&settings)?;
        let now = SystemClock.now();
        let keys = Arc::new(
            KeyManager::open_with(db, &master, key_policy(&settings), now)
                .map_err(|err| crate::app::master_key_error(&settings, err))?,
        );
        if let KeysCommand::Rotate { alg } = &command {
            let algs = match alg {
                Some(AlgArg::ES256) => vec![Algorithm::ES256],
                Some(AlgArg::RS256) => vec![Algorithm::RS256],
                None => vec![Algorithm::ES256, Algorithm::RS256],
            };
            for alg in algs {
                keys.rotate(alg, now)?;
                println!("rotated {alg:?}");
            }
        }
        let jwks: serde_json::Value = serde_json::from_str(&keys.jwks_json())?;
        println!("{}", serde_json::to_string_pretty(&jwks)?);
        Ok(())
    })
    .await?
}
