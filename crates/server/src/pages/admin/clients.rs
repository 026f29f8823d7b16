//! `/admin/clients`: the OAuth clients in the console. The list (search, totals, paging), the
//! registration form (the rules of `gatehouse client create`, the secret shown once on the
//! answer to the post and nowhere else), and a client's page: edit, rotate the secret, enable
//! and disable, the roles of its service account, delete.
//!
//! Each handler makes one call into `gatehouse_app::admin_clients`, as
//! `POST /api/v1/admin/clients` and its siblings do; the permission gate there decides who may
//! do what. A secret (a new client's, a rotated one) is rendered into the answer of the post
//! that made it, never put in a cookie, a redirect or a URL, and the answer is `no-store`.
//!
//! - [`list`]: `GET /admin/clients`
//! - [`create`]: `GET /admin/clients/new`, `POST /admin/clients`
//! - [`detail`]: `GET|POST /admin/clients/{id}` and the actions under it
//! - [`form`]: the registration fields as entered, shared by the create and edit forms

mod create;
mod detail;
mod form;
mod list;

use actix_web::http::StatusCode;
use actix_web::web;
use gatehouse_app::admin_clients::ClientAdminError;

use super::ConsoleError;
use crate::pages::PageError;
use crate::routing::{Surface, resource};

const CLIENTS_PATH: &str = "/admin/clients";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    // `/new` before `/{id}`: resources match in the order they are registered.
    cfg.service(
        resource(CLIENTS_PATH, Surface::Page)
            .get(list::show)
            .post(create::submit),
    )
    .service(resource("/admin/clients/new", Surface::Page).get(create::show))
    .service(
        resource("/admin/clients/{id}", Surface::Page)
            .get(detail::show)
            .post(detail::edit),
    )
    .service(resource("/admin/clients/{id}/secret", Surface::Page).post(detail::rotate_secret))
    .service(resource("/admin/clients/{id}/enable", Surface::Page).post(detail::enable))
    .service(resource("/admin/clients/{id}/disable", Surface::Page).post(detail::disable))
    .service(resource("/admin/clients/{id}/roles", Surface::Page).post(detail::set_roles))
    .service(resource("/admin/clients/{id}/delete", Surface::Page).post(detail::delete));
}

/// The gate's refusal, an unknown client, a registration that breaks a rule (where the form is
/// not re-rendered), a public client asked for its secret, a backend.
impl From<ClientAdminError> for ConsoleError {
    fn from(err: ClientAdminError) -> Self {
        match err {
            ClientAdminError::Denied(denied) => denied.into(),
            ClientAdminError::NotFound => ConsoleError::Page(PageError::not_found()),
            ClientAdminError::Invalid { field, message } => ConsoleError::Page(
                PageError::bad_request(format!("{}: {message}", form::label(field))),
            ),
            ClientAdminError::PublicClient => ConsoleError::Page(PageError::new(
                StatusCode::CONFLICT,
                "No secret to rotate",
                "A public client has no secret: it authenticates with nothing but its client id.",
            )),
            ClientAdminError::Backend(err) => err.into(),
        }
    }
}

/// The console path of a client. Client ids are base64url (`gatehouse_identity` mints them),
/// so anything else names no client: a 404 here, before the id goes into a path or a
/// `return_to`.
fn client_path(client_id: &str) -> Result<String, ConsoleError> {
    let well_formed = !client_id.is_empty()
        && client_id.len() <= 128
        && client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(format!("{CLIENTS_PATH}/{client_id}"))
    } else {
        Err(ConsoleError::Page(PageError::not_found()))
    }
}

/// A time as the console shows it.
fn shown_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_paths_take_only_base64url_ids() {
        assert_eq!(
            client_path("q3Xv7bYt2mJ0cK9w-_4sRA").ok().as_deref(),
            Some("/admin/clients/q3Xv7bYt2mJ0cK9w-_4sRA")
        );
        for bad in ["", "a/b", "a?b", "..", "a b", "é"] {
            assert!(client_path(bad).is_err(), "{bad:?}");
        }
    }
}
