//! A client's registration fields as an administrator typed them: decoded from a posted form,
//! turned into a [`NewClient`] or a [`ClientPatch`], and handed back to the templates to fill
//! the form again when the registration was refused.

use gatehouse_app::admin_clients::{AdminClient, ClientPatch};
use gatehouse_identity::{ClientType, GrantType, NewClient, Role};
use strum::IntoEnumIterator;

/// A posted form as its fields in order. Checkboxes (`grant_types`, `role`) repeat their name,
/// which `serde_urlencoded` hands over only as a list of pairs.
#[derive(Debug, serde::Deserialize)]
#[serde(transparent)]
pub(super) struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`.
    pub(super) fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in the order sent.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn csrf_token(&self) -> Option<&str> {
        self.first("csrf_token")
    }
}

/// A checkbox or radio button of a form.
pub(super) struct Choice {
    pub value: &'static str,
    pub checked: bool,
}

/// A field the form got wrong, shown above the form (`[data-error]`).
#[derive(Debug)]
pub(super) struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    /// The text of the alert: the field as the form labels it, then what is wrong.
    pub(super) fn shown(&self) -> String {
        format!("{}: {}", label(self.field), self.message)
    }
}

/// How the form labels a registration field (`NewClient`'s names, as the app layer reports
/// them).
pub(super) fn label(field: &str) -> &str {
    match field {
        "name" => "Name",
        "client_type" => "Client type",
        "redirect_uris" => "Redirect URIs",
        "post_logout_redirect_uris" => "Post-logout redirect URIs",
        "grant_types" => "Grant types",
        "scopes" => "Scopes",
        "backchannel_logout_uri" => "Back-channel logout URI",
        "organization" => "Organisation",
        "resources" => "Resources",
        "exchange_audiences" => "Token-exchange audiences",
        "allow_impersonation" => "Impersonation",
        "role" | "roles" => "Service account roles",
        other => other,
    }
}

/// The registration fields, as typed.
#[derive(Debug, Default)]
pub(super) struct ClientForm {
    pub name: String,
    /// `confidential` or `public` (creation only: a client keeps its type).
    pub client_type: String,
    /// One per line.
    pub redirect_uris: String,
    /// One per line.
    pub post_logout_redirect_uris: String,
    pub grant_types: Vec<String>,
    /// Space separated.
    pub scopes: String,
    pub backchannel_logout_uri: String,
    /// Of the service account (creation; a client's page has its own roles form).
    pub roles: Vec<String>,
    /// The organisation's slug or id (creation, platform admins; an organisation admin's
    /// clients belong to its organisation).
    pub organization: String,
    /// Resource indicators (RFC 8707), one per line.
    pub resources: String,
    /// Token-exchange audiences, one per line; `None` when the form did not carry the
    /// platform-only fields (an organisation admin's form), which then stay as they are.
    pub exchange_audiences: Option<String>,
    /// `None` as for `exchange_audiences`.
    pub allow_impersonation: Option<bool>,
}

impl ClientForm {
    /// An empty registration form: a confidential client.
    pub(super) fn blank() -> Self {
        Self {
            client_type: ClientType::Confidential.as_str().to_owned(),
            ..Self::default()
        }
    }

    pub(super) fn from_fields(fields: &Fields) -> Self {
        let text = |name| fields.first(name).unwrap_or_default().to_owned();
        Self {
            name: text("name"),
            client_type: text("client_type"),
            redirect_uris: text("redirect_uris"),
            post_logout_redirect_uris: text("post_logout_redirect_uris"),
            grant_types: fields.all("grant_types").map(str::to_owned).collect(),
            scopes: text("scopes"),
            backchannel_logout_uri: text("backchannel_logout_uri"),
            roles: fields.all("role").map(str::to_owned).collect(),
            organization: text("organization"),
            resources: text("resources"),
            // The platform-only fields come with a marker, since an unticked checkbox sends
            // nothing at all.
            exchange_audiences: fields
                .first("platform_fields")
                .map(|_| text("exchange_audiences")),
            allow_impersonation: fields
                .first("platform_fields")
                .map(|_| fields.first("allow_impersonation").is_some()),
        }
    }

    /// The edit form of a registered client, filled with what it has now.
    pub(super) fn of(view: &AdminClient) -> Self {
        let client = &view.client;
        Self {
            name: client.name.clone(),
            client_type: client.client_type.as_str().to_owned(),
            redirect_uris: client.redirect_uris.join("\n"),
            post_logout_redirect_uris: client.post_logout_redirect_uris.join("\n"),
            grant_types: client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            scopes: client.scopes.join(" "),
            backchannel_logout_uri: client.backchannel_logout_uri.clone().unwrap_or_default(),
            roles: view.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            organization: client.org_id.clone().unwrap_or_default(),
            resources: client.resources.join("\n"),
            exchange_audiences: Some(client.exchange_audiences.join("\n")),
            allow_impersonation: Some(client.allow_impersonation),
        }
    }

    /// The grant checkboxes: every grant the token endpoint implements.
    pub(super) fn grant_choices(&self) -> Vec<Choice> {
        GrantType::ALL
            .iter()
            .map(|grant| Choice {
                value: grant.as_str(),
                checked: self.grant_types.iter().any(|g| g == grant.as_str()),
            })
            .collect()
    }

    /// The role checkboxes of a service account: every role there is.
    pub(super) fn role_choices(&self) -> Vec<Choice> {
        role_choices(&self.roles)
    }

    pub(super) fn is_public(&self) -> bool {
        self.client_type == ClientType::Public.as_str()
    }

    /// A registration and its service account's roles.
    pub(super) fn to_new_client(&self) -> Result<(NewClient, Vec<Role>), FieldError> {
        let client_type = match self.client_type.trim() {
            "" => None,
            value => Some(value.parse::<ClientType>().map_err(|message| FieldError {
                field: "client_type",
                message,
            })?),
        };
        let new = NewClient {
            name: self.name.trim().to_owned(),
            client_type,
            redirect_uris: lines(&self.redirect_uris),
            post_logout_redirect_uris: lines(&self.post_logout_redirect_uris),
            grant_types: self.grants()?,
            scopes: words(&self.scopes),
            backchannel_logout_uri: optional(&self.backchannel_logout_uri),
            resources: lines(&self.resources),
            exchange_audiences: self
                .exchange_audiences
                .as_deref()
                .map(lines)
                .unwrap_or_default(),
            allow_impersonation: self.allow_impersonation.unwrap_or(false),
            ..NewClient::default()
        };
        Ok((new, parse_roles(self.roles.iter().map(String::as_str))?))
    }

    /// Every field of the edit form, as it now reads: an emptied back-channel URI removes it,
    /// no grant ticked means the defaults of a new registration.
    pub(super) fn to_patch(&self) -> Result<ClientPatch, FieldError> {
        Ok(ClientPatch {
            name: Some(self.name.trim().to_owned()),
            redirect_uris: Some(lines(&self.redirect_uris)),
            post_logout_redirect_uris: Some(lines(&self.post_logout_redirect_uris)),
            grant_types: Some(self.grants()?),
            scopes: Some(words(&self.scopes)),
            backchannel_logout_uri: Some(optional(&self.backchannel_logout_uri)),
            resources: Some(lines(&self.resources)),
            exchange_audiences: self.exchange_audiences.as_deref().map(lines),
            allow_impersonation: self.allow_impersonation,
            ..ClientPatch::default()
        })
    }

    fn grants(&self) -> Result<Vec<GrantType>, FieldError> {
        self.grant_types
            .iter()
            .map(|g| {
                g.parse::<GrantType>().map_err(|message| FieldError {
                    field: "grant_types",
                    message,
                })
            })
            .collect()
    }
}

/// Role checkboxes with `held` ticked.
pub(super) fn role_choices<S: AsRef<str>>(held: &[S]) -> Vec<Choice> {
    Role::iter()
        .map(|role| Choice {
            value: role.as_str(),
            checked: held.iter().any(|r| r.as_ref() == role.as_str()),
        })
        .collect()
}

pub(super) fn parse_roles<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Result<Vec<Role>, FieldError> {
    values
        .map(|value| {
            value.parse::<Role>().map_err(|_| FieldError {
                field: "roles",
                message: format!("unknown role `{value}`"),
            })
        })
        .collect()
}

/// A textarea's non-blank lines, trimmed: the line breaks (and a browser's `\r\n`) only
/// separate the entries.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn a_posted_form_becomes_a_registration() {
        let form = ClientForm::from_fields(&fields(&[
            ("csrf_token", "t"),
            ("name", " Nightly sync "),
            ("client_type", "confidential"),
            (
                "redirect_uris",
                "https://a.example/cb\r\n\r\n  https://b.example/cb \r\n",
            ),
            ("grant_types", "client_credentials"),
            ("grant_types", "authorization_code"),
            ("scopes", " admin  openid "),
            ("backchannel_logout_uri", "  "),
            ("role", "user_admin"),
        ]));
        let (new, roles) = form.to_new_client().unwrap();
        assert_eq!(new.name, "Nightly sync");
        assert_eq!(new.client_type, Some(ClientType::Confidential));
        assert_eq!(
            new.redirect_uris,
            ["https://a.example/cb", "https://b.example/cb"]
        );
        assert_eq!(
            new.grant_types,
            [GrantType::ClientCredentials, GrantType::AuthorizationCode]
        );
        assert_eq!(new.scopes, ["admin", "openid"]);
        assert_eq!(new.backchannel_logout_uri, None);
        assert_eq!(roles, [Role::UserAdmin]);
    }

    #[test]
    fn unknown_grants_roles_and_types_name_their_field() {
        let form = ClientForm::from_fields(&fields(&[("grant_types", "implicit")]));
        assert_eq!(form.to_new_client().unwrap_err().field, "grant_types");
        assert_eq!(form.to_patch().unwrap_err().field, "grant_types");
        let form = ClientForm::from_fields(&fields(&[("role", "root")]));
        assert_eq!(form.to_new_client().unwrap_err().field, "roles");
        let form = ClientForm::from_fields(&fields(&[("client_type", "secretive")]));
        assert_eq!(form.to_new_client().unwrap_err().field, "client_type");
    }

    #[test]
    fn platform_fields_change_only_when_the_form_carries_them() {
        let org_admins = ClientForm::from_fields(&fields(&[
            ("name", "x"),
            ("resources", "https://api.example/\r\n"),
            ("allow_impersonation", "on"),
        ]));
        let patch = org_admins.to_patch().unwrap();
        assert_eq!(
            patch.resources.as_deref(),
            Some(&["https://api.example/".to_owned()][..])
        );
        assert_eq!(patch.exchange_audiences, None);
        assert_eq!(patch.allow_impersonation, None);
        let platform = ClientForm::from_fields(&fields(&[
            ("name", "x"),
            ("platform_fields", "1"),
            ("exchange_audiences", "api\nhttps://b.example/"),
        ]));
        let patch = platform.to_patch().unwrap();
        assert_eq!(
            patch.exchange_audiences,
            Some(vec!["api".to_owned(), "https://b.example/".to_owned()])
        );
        assert_eq!(patch.allow_impersonation, Some(false));
        let (new, _) = platform.to_new_client().unwrap();
        assert_eq!(new.exchange_audiences.len(), 2);
        assert!(!new.allow_impersonation);
    }

    #[test]
    fn an_emptied_backchannel_uri_is_removed_by_the_edit() {
        let form = ClientForm::from_fields(&fields(&[("name", "x")]));
        let patch = form.to_patch().unwrap();
        assert_eq!(patch.backchannel_logout_uri, Some(None));
        assert_eq!(patch.grant_types, Some(Vec::new()));
        assert_eq!(patch.enabled, None);
    }

    #[test]
    fn checkboxes_offer_every_grant_and_role() {
        let form = ClientForm {
            grant_types: vec!["refresh_token".into()],
            roles: vec!["auditor".into()],
            ..ClientForm::blank()
        };
        let grants: Vec<_> = form
            .grant_choices()
            .iter()
            .map(|c| (c.value, c.checked))
            .collect();
        assert_eq!(grants.len(), GrantType::ALL.len());
        assert!(grants.contains(&("refresh_token", true)));
        assert!(grants.contains(&("client_credentials", false)));
        let roles = form.role_choices();
        assert_eq!(roles.len(), Role::iter().count());
        assert!(roles.iter().any(|c| c.value == "auditor" && c.checked));
    }
}
