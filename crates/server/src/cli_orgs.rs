//! `gatehouse org …`: organisations and their members, directly on the configured database,
//! whether or not a server is running. Every change is audited as the `cli` system actor.

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use gatehouse_identity::organizations::{self, NewOrganization, OrgError, Organization};
use gatehouse_identity::{
    AuditAction, AuditOutcome, Database, NewAuditEvent, OrgRole, RequestContext,
};

use crate::cli_clients::open_database;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation.
    Create {
        /// Lowercase letters, digits and inner dashes; how requests name it
        /// (`organization=SLUG`).
        #[arg(long)]
        slug: String,
        /// The name users see.
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// List organisations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Add a user to an organisation, or change their role in it.
    AddMember {
        /// The organisation's slug or id.
        #[arg(long)]
        org: String,
        /// The user's username (or email address).
        #[arg(long)]
        user: String,
        #[arg(long, value_enum, default_value = "member")]
        role: OrgRoleArg,
    },
    /// Remove a user from an organisation.
    RemoveMember {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
    },
}

/// `--role`: `member` or `org_admin`.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum OrgRoleArg {
    Member,
    OrgAdmin,
}

impl From<OrgRoleArg> for OrgRole {
    fn from(role: OrgRoleArg) -> Self {
        match role {
            OrgRoleArg::Member => OrgRole::Member,
            OrgRoleArg::OrgAdmin => OrgRole::OrgAdmin,
        }
    }
}

pub async fn run(command: OrgCommand, settings: Settings) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let db = open_database(&settings)?;
        run_blocking(&db, command)
    })
    .await?
}

fn run_blocking(db: &Database, command: OrgCommand) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match command {
        OrgCommand::Create { slug, name, json } => {
            let organization = match organizations::create(db, &NewOrganization { slug, name }, now)
            {
                Ok(organization) => organization,
                Err(OrgError::Invalid { field, message }) => bail!("--{field}: {message}"),
                Err(err @ (OrgError::SlugTaken | OrgError::HasClients(_))) => bail!("{err}"),
                Err(OrgError::Internal(err)) => return Err(err.into()),
            };
            audit(
                db,
                AuditAction::AdminOrgCreate,
                &organization,
                serde_json::json!({ "slug": organization.slug, "name": organization.name }),
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&organization)?);
            } else {
                println!("org_id: {}", organization.id);
                println!("slug:   {}", organization.slug);
            }
        }
        OrgCommand::List { json } => {
            let all = organizations::list(db)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                for organization in all {
                    println!(
                        "{}\t{}\t{}\t{}",
                        organization.id,
                        organization.slug,
                        organization.name,
                        if organization.enabled {
                            "enabled"
                        } else {
                            "disabled"
                        }
                    );
                }
            }
        }
        OrgCommand::AddMember { org, user, role } => {
            let organization = find_org(db, &org)?;
            let user = find_user(db, &user)?;
            let role = OrgRole::from(role);
            if !organizations::add_member(db, organization.id, user.id, role, now)? {
                bail!("the organisation or the user no longer exists");
            }
            audit(
                db,
                AuditAction::AdminOrgMemberAdd,
                &organization,
                serde_json::json!({ "user_id": user.id, "role": role.as_str() }),
            )?;
            println!(
                "{} is now {} of {}",
                user.username,
                role.as_str(),
                organization.slug
            );
        }
        OrgCommand::RemoveMember { org, user } => {
            let organization = find_org(db, &org)?;
            let user = find_user(db, &user)?;
            if !organizations::remove_member(db, organization.id, user.id)? {
                bail!("{} is not a member of {}", user.username, organization.slug);
            }
            audit(
                db,
                AuditAction::AdminOrgMemberRemove,
                &organization,
                serde_json::json!({ "user_id": user.id }),
            )?;
            println!("{} left {}", user.username, organization.slug);
        }
    }
    Ok(())
}

fn find_org(db: &Database, org: &str) -> anyhow::Result<Organization> {
    match organizations::find(db, org)? {
        Some(organization) => Ok(organization),
        None => bail!("--org: no organisation `{org}`"),
    }
}

fn find_user(db: &Database, user: &str) -> anyhow::Result<gatehouse_identity::User> {
    match db.find_user_by_typed_login(user)? {
        Some(found) => Ok(found),
        None => bail!("--user: no user `{user}`"),
    }
}

fn audit(
    db: &Database,
    action: AuditAction,
    organization: &Organization,
    details: serde_json::Value,
) -> anyhow::Result<()> {
    let ctx = RequestContext {
        org_id: Some(organization.id),
        ..RequestContext::system("cli")
    };
    db.append_audit(&NewAuditEvent::in_context(
        &ctx,
        SystemClock.now(),
        action,
        AuditOutcome::Success,
        Some(format!("org:{}", organization.id)),
        details,
    ))?;
    Ok(())
}
