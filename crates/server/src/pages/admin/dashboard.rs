//! `/admin`: the dashboard. Users by status, sign-ins, failures and lockouts over the last 24
//! hours and 7 days (read from the audit log, so bounded by its retention) with a chart drawn
//! on the server, and the latest administrators' actions for those who may read the audit log.

mod chart;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use gatehouse_app::admin_audit::Dashboard;
use gatehouse_identity::{AuditEvent, AuditOutcome};

use super::{Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::routing::{Surface, resource};
use chart::{Chart, Periods};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/admin", Surface::Page).get(show));
}

/// A recent administrator's action.
pub(super) struct EventRow {
    pub id: i64,
    pub time: String,
    pub action: String,
    pub succeeded: bool,
    pub actor_kind: &'static str,
    pub actor: String,
    pub target: String,
}

impl From<AuditEvent> for EventRow {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            time: event
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            action: event.action,
            succeeded: event.outcome == AuditOutcome::Success,
            actor_kind: event.actor_kind.as_str(),
            actor: event.actor.unwrap_or_default(),
            target: event.target.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    now: String,
    dashboard: Dashboard,
    hourly: Chart,
    daily: Chart,
    /// `None`: the actor may not read the audit log.
    recent: Option<Vec<EventRow>>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let mut dashboard = state
        .app
        .admin_dashboard(console.actor(), &console.ctx, state.clock.now())
        .await?;
    let now = dashboard.now;
    let hourly = chart::build(
        Periods::Hours,
        &dashboard.sign_ins.hourly,
        &dashboard.failures.hourly,
        now,
    );
    let daily = chart::build(
        Periods::Days,
        &dashboard.sign_ins.daily,
        &dashboard.failures.daily,
        now,
    );
    let recent = dashboard
        .recent_admin_events
        .take()
        .map(|events| events.into_iter().map(EventRow::from).collect());
    let page = DashboardPage {
        chrome: console.chrome(Section::Dashboard),
        now: now.format("%Y-%m-%d %H:%M UTC").to_string(),
        dashboard,
        hourly,
        daily,
        recent,
    };
    console.render(&state, StatusCode::OK, &page)
}
