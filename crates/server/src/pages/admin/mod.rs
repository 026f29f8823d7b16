//! The HTML admin console under `/admin`: server-rendered pages for the operations of the admin
//! REST API, for a signed-in browser session.
//!
//! Every handler opens the console first ([`Console::open`] for pages, [`Console::for_form`] for
//! form posts), which:
//! - needs a live session (else the sign-in page, coming back here);
//! - asks the application layer whether the console opens for it
//!   ([`gatehouse_app::Gatehouse::console_access`]): a role, and a confirmed second factor while
//!   `admin.require_2fa` is on;
//! - on a post, refuses a cross-site `Sec-Fetch-Site` (a browser's own word that another site
//!   sent the form) and a CSRF token that does not match the double-submit cookie;
//! - before a destructive action, needs a sign-in within the re-authentication window, else
//!   shows the "confirm it's you" page.
//!
//! An organisation admin opens the same console, confined to one organisation (shown in the
//! header): the navigation leaves out what it may never open (keys, roles, organisations), its
//! lists and dashboard show only its organisation, and anything of another organisation is a
//! 404 page. With several organisations it switches between them with the header's form
//! (`POST /admin/organization`), which only records the choice in a cookie scoped to `/admin`:
//! the choice is checked against the account's memberships at every request
//! ([`gatehouse_app::Gatehouse::console_access`]).
//!
//! What the admin may then do is the permission gate's decision, reached through the same
//! `admin_*` functions of the application layer as the REST API; no handler here checks roles.
//! An action answers with a redirect to the page it changed and a one-time notice (a flash
//! cookie scoped to `/admin`, so no link can make the console say something), or with an error
//! page in the console's frame.

mod audit_log;
mod clients;
mod dashboard;
mod keys;
mod organizations;
mod roles;
mod users;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use gatehouse_app::{Actor, AdminDenied, ConsoleAccess, ConsoleAdmin};
use gatehouse_identity::RequestContext;

use super::PageError;
use crate::app::AppState;
use crate::browser::{csrf_cookie, csrf_matches, csrf_token, current_session, request_context};
use crate::telemetry::current_request_id;

const FLASH_COOKIE: &str = "gh_admin_flash";
/// The organisation an organisation admin chose to administer (its slug).
const ORG_COOKIE: &str = "gh_admin_org";
const CONSOLE_PATH: &str = "/admin";
/// Longest notice kept in the flash cookie.
const MAX_FLASH_LEN: usize = 400;

pub fn routes(cfg: &mut web::ServiceConfig) {
    dashboard::routes(cfg);
    users::routes(cfg);
    clients::routes(cfg);
    audit_log::routes(cfg);
    keys::routes(cfg);
    roles::routes(cfg);
    cfg.service(
        crate::routing::resource("/admin/organization", crate::routing::Surface::Page)
            .post(switch_organization),
    );
    organizations::routes(cfg);
}

/// The console's sections, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Dashboard,
    Users,
    Clients,
    Organizations,
    Audit,
    Keys,
    Roles,
}

impl Section {
    const ALL: [Section; 7] = [
        Section::Dashboard,
        Section::Users,
        Section::Clients,
        Section::Organizations,
        Section::Audit,
        Section::Keys,
        Section::Roles,
    ];

    fn path(self) -> &'static str {
        match self {
            Section::Dashboard => "/admin",
            Section::Users => "/admin/users",
            Section::Clients => "/admin/clients",
            Section::Organizations => "/admin/organizations",
            Section::Audit => "/admin/audit",
            Section::Keys => "/admin/keys",
            Section::Roles => "/admin/roles",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Dashboard => "Dashboard",
            Section::Users => "Users",
            Section::Clients => "Clients",
            Section::Organizations => "Organisations",
            Section::Audit => "Audit log",
            Section::Keys => "Signing keys",
            Section::Roles => "Roles",
        }
    }
}

impl Section {
    /// Whether an organisation admin's console shows it.
    fn for_organization_admins(self) -> bool {
        matches!(
            self,
            Section::Dashboard | Section::Users | Section::Clients | Section::Audit
        )
    }
}

/// An organisation of the header's switcher.
pub(crate) struct OrgChoice {
    pub slug: String,
    pub name: String,
    pub current: bool,
}

/// A link of the navigation bar.
pub(crate) struct NavLink {
    pub path: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What every console page shows around its content (`templates/admin/base.html` reads it as
/// `chrome`): the navigation, who is signed in, the one-time notice, the CSRF token for forms.
pub(crate) struct Chrome {
    pub nav: Vec<NavLink>,
    pub username: String,
    pub notice: Option<String>,
    pub csrf_token: String,
    /// The organisation an organisation admin administers (its name); `None` for a platform
    /// admin.
    pub organization: Option<String>,
    /// The organisations it may switch to (more than one), the current one marked.
    pub organizations: Vec<OrgChoice>,
}

/// Whether a posted form's action is destructive, and so needs a recent sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    Safe,
    /// The page to come back to after signing in again (the form's page).
    Destructive {
        return_to: &'a str,
    },
}

/// An open console: the admin acting, and the request's audit context naming them.
pub(crate) struct Console {
    pub admin: ConsoleAdmin,
    pub ctx: RequestContext,
    csrf_token: String,
    fresh_csrf: bool,
    notice: Option<String>,
}

impl Console {
    /// For a page (GET).
    pub(crate) async fn open(state: &AppState, req: &HttpRequest) -> Result<Self, ConsoleError> {
        let Some((_, _, session)) = current_session(state, req).await? else {
            return Err(ConsoleError::SignIn(resume_path(req)));
        };
        let chosen = req
            .cookie(ORG_COOKIE)
            .map(|cookie| cookie.value().to_owned());
        let admin = match state
            .app
            .console_access(&session, chosen.as_deref())
            .await?
        {
            ConsoleAccess::Open(admin) => admin,
            ConsoleAccess::Gone => return Err(ConsoleError::SignIn(resume_path(req))),
            ConsoleAccess::NoRole => {
                return Err(ConsoleError::Page(PageError::forbidden(
                    "Your account holds no administrative role.",
                )));
            }
            ConsoleAccess::SecondFactorRequired => return Err(ConsoleError::EnrolSecondFactor),
        };
        let ctx = admin.actor.context(&request_context(req));
        let (csrf_token, fresh_csrf) = csrf_token(req);
        let notice = req
            .cookie(FLASH_COOKIE)
            .and_then(|cookie| decode_flash(cookie.value()));
        Ok(Self {
            admin,
            ctx,
            csrf_token,
            fresh_csrf,
            notice,
        })
    }

    /// For a form post: the browser must not say another site sent it, the CSRF token must
    /// match, and a destructive action needs a recent sign-in.
    pub(crate) async fn for_form(
        state: &AppState,
        req: &HttpRequest,
        submitted_csrf: Option<&str>,
        action: Action<'_>,
    ) -> Result<Self, ConsoleError> {
        if cross_site(req) {
            return Err(ConsoleError::Page(PageError::forbidden(
                "This form was sent from another site and was refused.",
            )));
        }
        if !csrf_matches(req, submitted_csrf) {
            return Err(ConsoleError::Page(PageError::forbidden(
                "Your form expired. Go back, reload the page and try again.",
            )));
        }
        let console = Self::open(state, req).await?;
        if let Action::Destructive { return_to } = action
            && !state
                .app
                .console_sign_in_is_fresh(&console.admin, state.clock.now())
        {
            return Err(ConsoleError::Reauthenticate {
                return_to: return_to.to_owned(),
                minutes: state.app.settings().reauthentication_window.num_minutes(),
            });
        }
        Ok(console)
    }

    pub(crate) fn actor(&self) -> &Actor {
        &self.admin.actor
    }

    /// The frame of a page in `section`.
    pub(crate) fn chrome(&self, section: Section) -> Chrome {
        let org = self.admin.actor.organization();
        Chrome {
            nav: Section::ALL
                .into_iter()
                .filter(|s| org.is_none() || s.for_organization_admins())
                .map(|s| NavLink {
                    path: s.path(),
                    label: s.label(),
                    current: s == section,
                })
                .collect(),
            username: self.admin.username.clone(),
            notice: self.notice.clone(),
            csrf_token: self.csrf_token.clone(),
            organization: org.map(|org| org.name.clone()),
            organizations: if self.admin.organizations.len() > 1 {
                self.admin
                    .organizations
                    .iter()
                    .map(|choice| OrgChoice {
                        slug: choice.slug.clone(),
                        name: choice.name.clone(),
                        current: org.is_some_and(|org| org.id == choice.id),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    /// Renders a page built with [`Console::chrome`]: sets the CSRF cookie if the token is new
    /// and clears the notice it showed.
    pub(crate) fn render(
        &self,
        state: &AppState,
        status: StatusCode,
        page: &impl Template,
    ) -> Result<HttpResponse, ConsoleError> {
        let mut response = super::html(status, page)?;
        if self.fresh_csrf {
            add_cookie(&mut response, &csrf_cookie(state, &self.csrf_token))?;
        }
        if self.notice.is_some() {
            add_cookie(&mut response, &flash_cookie(state, String::new(), true))?;
        }
        Ok(response)
    }

    /// After an action: back to `to` (a console path), which then shows `notice` once.
    pub(crate) fn done(
        &self,
        state: &AppState,
        to: &str,
        notice: impl Into<String>,
    ) -> Result<HttpResponse, ConsoleError> {
        let mut notice: String = notice.into();
        if notice.len() > MAX_FLASH_LEN {
            let mut cut = MAX_FLASH_LEN;
            while !notice.is_char_boundary(cut) {
                cut -= 1;
            }
            notice.truncate(cut);
        }
        let mut response = super::see_other(to);
        add_cookie(
            &mut response,
            &flash_cookie(state, encode_flash(&notice), false),
        )?;
        Ok(response)
    }
}

/// The header's organisation switcher.
#[derive(serde::Deserialize)]
struct SwitchForm {
    organization: String,
    csrf_token: Option<String>,
}

/// `POST /admin/organization`: records which of the admin's organisations the console shows
/// and goes to its dashboard. An organisation the account does not administer is refused here
/// (and would be ignored by [`Console::open`] anyway).
async fn switch_organization(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SwitchForm>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::for_form(&state, &req, form.csrf_token.as_deref(), Action::Safe).await?;
    let Some(choice) = console
        .admin
        .organizations
        .iter()
        .find(|org| org.slug == form.organization)
    else {
        return Err(ConsoleError::Page(PageError::not_found()));
    };
    let cookie = Cookie::build(ORG_COOKIE, choice.slug.clone())
        .path(CONSOLE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.cookies_secure())
        .finish();
    let mut response = console.done(
        &state,
        CONSOLE_PATH,
        format!("You now administer {}.", choice.name),
    )?;
    add_cookie(&mut response, &cookie)?;
    Ok(response)
}

fn add_cookie(response: &mut HttpResponse, cookie: &Cookie<'_>) -> Result<(), ConsoleError> {
    response
        .add_cookie(cookie)
        .map_err(|err| ConsoleError::Page(PageError::internal(&err)))
}

/// `HttpOnly`, `SameSite=Strict`, scoped to the console: only the console's own redirects set
/// it and only its pages read it.
fn flash_cookie(state: &AppState, value: String, remove: bool) -> Cookie<'static> {
    let mut cookie = Cookie::build(FLASH_COOKIE, value)
        .path(CONSOLE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.settings.cookies_secure())
        .finish();
    if remove {
        cookie.make_removal();
    }
    cookie
}

fn encode_flash(notice: &str) -> String {
    url::form_urlencoded::byte_serialize(notice.as_bytes()).collect()
}

fn decode_flash(value: &str) -> Option<String> {
    let text: String = url::form_urlencoded::parse(format!("n={value}").as_bytes())
        .next()
        .map(|(_, text)| text.into_owned())?;
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    (!text.trim().is_empty()).then(|| text.chars().take(MAX_FLASH_LEN).collect())
}

/// `Sec-Fetch-Site` (Fetch Metadata) other than `same-origin` or `none` (typed or bookmarked):
/// a form another site, or another subdomain of ours, made the browser send. Browsers that send
/// no such header rely on the CSRF token alone.
fn cross_site(req: &HttpRequest) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| !matches!(site, "same-origin" | "none"))
}

/// This request's path and query, to come back to after signing in.
fn resume_path(req: &HttpRequest) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map_or(CONSOLE_PATH, |pq| pq.as_str());
    if req.method() == actix_web::http::Method::GET {
        path.to_owned()
    } else {
        CONSOLE_PATH.to_owned()
    }
}

/// Why a console request did not go through.
#[derive(Debug)]
pub(crate) enum ConsoleError {
    /// An error page (in the plain frame: the console may not be open).
    Page(PageError),
    /// No session: sign in, then come back to this path.
    SignIn(String),
    /// `admin.require_2fa`: enrol a second factor first.
    EnrolSecondFactor,
    /// A destructive action needs a sign-in within the last `minutes`; then back to
    /// `return_to`.
    Reauthenticate { return_to: String, minutes: i64 },
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::Page(err) => err.fmt(f),
            ConsoleError::SignIn(_) => f.write_str("sign-in required"),
            ConsoleError::EnrolSecondFactor => f.write_str("second factor required"),
            ConsoleError::Reauthenticate { .. } => f.write_str("recent sign-in required"),
        }
    }
}

impl From<PageError> for ConsoleError {
    fn from(err: PageError) -> Self {
        ConsoleError::Page(err)
    }
}

impl From<gatehouse_app::AppError> for ConsoleError {
    fn from(err: gatehouse_app::AppError) -> Self {
        ConsoleError::Page(PageError::from(err))
    }
}

impl From<gatehouse_identity::IdentityError> for ConsoleError {
    fn from(err: gatehouse_identity::IdentityError) -> Self {
        ConsoleError::Page(PageError::from(err))
    }
}

/// A refusal of the permission gate: 403 with the gate's reason (a role, or a guard rail); a
/// target outside an organisation admin's organisation is a 404, as if it did not exist.
impl From<AdminDenied> for ConsoleError {
    fn from(denied: AdminDenied) -> Self {
        if denied == AdminDenied::OutOfScope {
            return ConsoleError::Page(PageError::not_found());
        }
        ConsoleError::Page(PageError::forbidden(format!(
            "Not done: {denied}. The refusal is in the audit log."
        )))
    }
}

#[derive(Template)]
#[template(path = "admin/reauthenticate.html")]
struct ReauthenticatePage<'a> {
    login_url: &'a str,
    minutes: i64,
    request_id: String,
}

#[derive(Template)]
#[template(path = "admin/enrol_2fa.html")]
struct EnrolSecondFactorPage {
    request_id: String,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::Page(err) => err.status_code(),
            ConsoleError::SignIn(_) => StatusCode::SEE_OTHER,
            ConsoleError::EnrolSecondFactor | ConsoleError::Reauthenticate { .. } => {
                StatusCode::FORBIDDEN
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let page = match self {
            ConsoleError::Page(err) => return err.error_response(),
            ConsoleError::SignIn(resume) => return super::sign_in_first(resume),
            ConsoleError::EnrolSecondFactor => EnrolSecondFactorPage {
                request_id: current_request_id(),
            }
            .render(),
            ConsoleError::Reauthenticate { return_to, minutes } => {
                let mut login = url::form_urlencoded::Serializer::new(String::new());
                login.append_pair("force", "1");
                login.append_pair("return_to", return_to);
                ReauthenticatePage {
                    login_url: &format!("/login?{}", login.finish()),
                    minutes: *minutes,
                    request_id: current_request_id(),
                }
                .render()
            }
        };
        match page {
            Ok(body) => HttpResponse::build(self.status_code())
                .content_type("text/html; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(body),
            Err(err) => PageError::internal(&err).error_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_round_trips_and_drops_control_characters() {
        let text = "Locked alice: \"too many\" 100% & more";
        assert_eq!(decode_flash(&encode_flash(text)).as_deref(), Some(text));
        assert_eq!(decode_flash(&encode_flash("a\nb")).as_deref(), Some("ab"));
        assert_eq!(decode_flash(""), None);
    }
}
