//! oxide-auth's `Registrar` over one of our stored clients.
//!
//! The registrar is synchronous and our database is not, so the flows load the [`Client`] on
//! the blocking pool first and then ask a `ClientRegistrar` built around it. It answers the
//! three questions oxide-auth delegates to a registrar:
//!
//! - `bound_redirect`: the `redirect_uri` must be present (OIDC Core §3.1.2.1 makes it
//!   REQUIRED) and equal, as a string, to one registered for the client (RFC 6749 §3.1.2.3
//!   "simple string comparison"; RFC 9700 §2.1 / §4.1.3 require exact matching). oxide-auth's
//!   `ExactUrl` keeps the string as given instead of normalizing it. A URI with a fragment is
//!   never accepted (RFC 6749 §3.1.2).
//! - `negotiate`: the granted scope is the requested scope intersected with the client's
//!   registered scopes (RFC 6749 §3.3 lets the server narrow). There is no default scope: an
//!   absent scope is refused, which RFC 6749 §3.3 allows ("or fail the request indicating an
//!   invalid scope"). The authorize flow turns any narrowing into `invalid_scope` rather than
//!   silently issuing less, so a client always gets exactly what it asked for or an error.
//! - `check`: public clients present no secret (RFC 6749 §2.1); confidential clients must
//!   present one that verifies against the stored hash (RFC 6749 §2.3.1).

use std::borrow::Cow;
use std::str::FromStr as _;

use gatehouse_identity::{Client, ClientSecretHasher};
use oxide_auth::primitives::registrar::{
    BoundClient, ClientUrl, ExactUrl, PreGrant, RegisteredUrl, Registrar, RegistrarError,
};
use oxide_auth::primitives::scope::Scope;

pub struct ClientRegistrar<'c> {
    client: &'c Client,
    secrets: &'c ClientSecretHasher,
}

impl<'c> ClientRegistrar<'c> {
    pub fn new(client: &'c Client, secrets: &'c ClientSecretHasher) -> Self {
        Self { client, secrets }
    }

    /// The registered redirect URI equal to `requested`, if any (exact string comparison).
    pub fn registered_redirect(&self, requested: &str) -> Option<String> {
        let exact = ExactUrl::new(requested.to_owned()).ok()?;
        let bound = self
            .bound_redirect(ClientUrl {
                client_id: Cow::Borrowed(self.client.client_id.as_str()),
                redirect_uri: Some(Cow::Owned(exact)),
            })
            .ok()?;
        Some(bound.redirect_uri.as_str().to_owned())
    }

    /// The requested scope narrowed to what the client may hold, in the requested order.
    pub fn negotiate_scope(&self, requested: &[String], redirect_uri: &str) -> Option<Vec<String>> {
        let exact = ExactUrl::new(redirect_uri.to_owned()).ok()?;
        let bound = BoundClient {
            client_id: Cow::Borrowed(self.client.client_id.as_str()),
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(exact)),
        };
        let scope = Scope::from_str(&requested.join(" ")).ok()?;
        let pre_grant = self.negotiate(bound, Some(scope)).ok()?;
        let granted: Vec<&str> = pre_grant.scope.iter().collect();
        Some(
            requested
                .iter()
                .filter(|s| granted.contains(&s.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Whether `secret` authenticates this client (see [`Registrar::check`]).
    pub fn authenticates(&self, secret: Option<&str>) -> bool {
        self.check(&self.client.client_id, secret.map(str::as_bytes))
            .is_ok()
    }
}

impl Registrar for ClientRegistrar<'_> {
    fn bound_redirect<'a>(&self, bound: ClientUrl<'a>) -> Result<BoundClient<'a>, RegistrarError> {
        if bound.client_id != self.client.client_id {
            return Err(RegistrarError::Unspecified);
        }
        let requested = bound.redirect_uri.ok_or(RegistrarError::Unspecified)?;
        // RFC 6749 §3.1.2: "The endpoint URI MUST NOT include a fragment component."
        if requested.as_str().contains('#') {
            return Err(RegistrarError::Unspecified);
        }
        if !self
            .client
            .redirect_uris
            .iter()
            .any(|registered| registered == requested.as_str())
        {
            return Err(RegistrarError::Unspecified);
        }
        Ok(BoundClient {
            client_id: bound.client_id,
            redirect_uri: Cow::Owned(RegisteredUrl::Exact(requested.into_owned())),
        })
    }

    fn negotiate(
        &self,
        client: BoundClient,
        scope: Option<Scope>,
    ) -> Result<PreGrant, RegistrarError> {
        let requested = scope.ok_or(RegistrarError::Unspecified)?;
        let granted: Vec<&str> = requested
            .iter()
            .filter(|token| self.client.scopes.iter().any(|s| s == token))
            .collect();
        let scope =
            Scope::from_str(&granted.join(" ")).map_err(|_| RegistrarError::PrimitiveError)?;
        Ok(PreGrant {
            client_id: client.client_id.into_owned(),
            redirect_uri: client.redirect_uri.into_owned(),
            scope,
        })
    }

    fn check(&self, client_id: &str, passphrase: Option<&[u8]>) -> Result<(), RegistrarError> {
        if client_id != self.client.client_id {
            return Err(RegistrarError::Unspecified);
        }
        match (
            self.client.is_public(),
            passphrase,
            self.client.secret_hash.as_deref(),
        ) {
            (true, None, _) => Ok(()),
            // A public client has no secret to present (RFC 6749 §2.1); one that sends a
            // secret is misconfigured and is refused rather than half-trusted.
            (true, Some(_), _) => Err(RegistrarError::Unspecified),
            (false, Some(secret), Some(hash)) => {
                let secret =
                    std::str::from_utf8(secret).map_err(|_| RegistrarError::Unspecified)?;
                if self.secrets.verify(secret, hash) {
                    Ok(())
                } else {
                    Err(RegistrarError::Unspecified)
                }
            }
            (false, _, _) => Err(RegistrarError::Unspecified),
        }
    }
}
