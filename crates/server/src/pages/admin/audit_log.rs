//! `/admin/audit`: the audit log with the REST API's filters (actor, target, action, outcome,
//! a time window), its exact total, pages chained by the last event's id, and the same
//! selection downloaded as JSON lines or CSV (`/admin/audit/export`), streamed page by page.
//!
//! Times in the form are UTC: a `datetime-local` value (`2026-11-30T14:00`), a date
//! (`since` from its midnight, `until` to the end of that day), or RFC 3339.

mod export;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_DISPOSITION, ContentDisposition};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use gatehouse_app::Gatehouse;
use gatehouse_app::admin_audit::{AuditExport, AuditQuery, EXPORT_MAX_ROWS, parse_outcome};
use gatehouse_identity::admin::audit::AuditFilter;
use gatehouse_identity::{AuditAction, AuditEvent, AuditOutcome};
use strum::IntoEnumIterator as _;

use super::{Chrome, Console, ConsoleError, Section};
use crate::app::AppState;
use crate::routing::{Surface, resource};
use export::ExportFormat;

const AUDIT_PATH: &str = "/admin/audit";
/// Events per page of the console's list.
const PAGE_SIZE: u32 = 50;
/// Longest `actor` or `target` filter, as in the REST API.
const MAX_FILTER_LEN: usize = 512;
/// User agents are cut to this many characters in the list (the full one is its tooltip).
const SHORT_USER_AGENT: usize = 40;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(AUDIT_PATH, Surface::Page).get(show))
        .service(resource("/admin/audit/export", Surface::Page).get(download));
}

/// The query string as typed in the form; kept to fill the form in again.
#[derive(Debug, Default, Clone)]
struct FilterForm {
    actor: String,
    target: String,
    action: String,
    outcome: String,
    since: String,
    until: String,
    before: String,
    format: String,
}

impl FilterForm {
    /// The last value of each known parameter; others (and `submit` buttons) are ignored.
    fn from_query(query: &str) -> Self {
        let mut form = FilterForm::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = value.trim().to_owned();
            match &*name {
                "actor" => form.actor = value,
                "target" => form.target = value,
                "action" => form.action = value,
                "outcome" => form.outcome = value,
                "since" => form.since = value,
                "until" => form.until = value,
                "before" => form.before = value,
                "format" => form.format = value,
                _ => {}
            }
        }
        form
    }

    /// The filter, or the first problem with it in words.
    fn filter(&self) -> Result<AuditFilter, String> {
        let text = |name: &str, value: &str| -> Result<Option<String>, String> {
            if value.chars().count() > MAX_FILTER_LEN {
                return Err(format!(
                    "{name} is longer than {MAX_FILTER_LEN} characters."
                ));
            }
            Ok((!value.is_empty()).then(|| value.to_owned()))
        };
        let action = match self.action.as_str() {
            "" => None,
            name => match name.parse::<AuditAction>() {
                Ok(action) => Some(action.as_str().to_owned()),
                Err(_) => return Err(format!("“{name}” is not an audit action.")),
            },
        };
        let outcome = match self.outcome.as_str() {
            "" => None,
            name => Some(parse_outcome(name).ok_or("The outcome is either success or failure.")?),
        };
        let since = parse_time("since", &self.since, false)?;
        let until = parse_time("until", &self.until, true)?;
        if let (Some(since), Some(until)) = (since, until)
            && until <= since
        {
            return Err("“Until” must be later than “since”.".to_owned());
        }
        Ok(AuditFilter {
            actor: text("The actor", &self.actor)?,
            target: text("The target", &self.target)?,
            action,
            outcome,
            since,
            until,
            org_id: None,
        })
    }

    /// The page's cursor: events below this id.
    fn before(&self) -> Result<Option<i64>, String> {
        if self.before.is_empty() {
            return Ok(None);
        }
        match self.before.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(id)),
            _ => Err("That page link is broken: start again from the first page.".to_owned()),
        }
    }

    /// The filters as a query string (without the cursor), for links to other pages and the
    /// export.
    fn query(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("actor", &self.actor),
            ("target", &self.target),
            ("action", &self.action),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }
}

/// A form time as UTC: RFC 3339, `datetime-local` (with or without seconds), or a date, which
/// means its midnight for `since` and the next midnight for `until` (the whole day included).
fn parse_time(name: &str, value: &str, end_of_day: bool) -> Result<Option<DateTime<Utc>>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(at) = NaiveDateTime::parse_from_str(value, format) {
            return Ok(Some(at.and_utc()));
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        let day = if end_of_day {
            day.succ_opt()
        } else {
            Some(day)
        };
        if let Some(midnight) = day.and_then(|day| day.and_hms_opt(0, 0, 0)) {
            return Ok(Some(midnight.and_utc()));
        }
    }
    Err(format!(
        "“{value}” is not a time for {name}: use a date (2026-11-30) or a date and time \
         (2026-11-30T14:00), in UTC."
    ))
}

/// An event as a row of the list.
struct EventRow {
    id: i64,
    time: String,
    action: String,
    succeeded: bool,
    actor_kind: &'static str,
    actor: String,
    /// `/admin/audit?actor=…`: the actor's other events.
    actor_link: String,
    target: String,
    ip: String,
    user_agent: String,
    user_agent_short: String,
    request_id: String,
    details: String,
}

impl From<AuditEvent> for EventRow {
    fn from(event: AuditEvent) -> Self {
        let actor = event.actor.unwrap_or_default();
        let user_agent = event.user_agent.unwrap_or_default();
        let user_agent_short = if user_agent.chars().count() > SHORT_USER_AGENT {
            let cut: String = user_agent.chars().take(SHORT_USER_AGENT).collect();
            format!("{cut}…")
        } else {
            user_agent.clone()
        };
        let mut actor_link = url::form_urlencoded::Serializer::new(String::new());
        actor_link.append_pair("actor", &actor);
        Self {
            id: event.id,
            time: event
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
            action: event.action,
            succeeded: event.outcome == AuditOutcome::Success,
            actor_kind: event.actor_kind.as_str(),
            actor_link: format!("{AUDIT_PATH}?{}", actor_link.finish()),
            actor,
            target: event.target.unwrap_or_default(),
            ip: event.ip.unwrap_or_default(),
            user_agent,
            user_agent_short,
            request_id: event.request_id.unwrap_or_default(),
            details: event.details.to_string(),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    form: FilterForm,
    actions: Vec<&'static str>,
    error: Option<String>,
    total: i64,
    events: Vec<EventRow>,
    next: Option<String>,
    first_page: Option<String>,
    export_jsonl: String,
    export_csv: String,
    export_cap: usize,
}

impl AuditPage {
    fn new(chrome: Chrome, form: FilterForm) -> Self {
        let query = form.query();
        let export = |format: &str| {
            if query.is_empty() {
                format!("{AUDIT_PATH}/export?format={format}")
            } else {
                format!("{AUDIT_PATH}/export?format={format}&{query}")
            }
        };
        Self {
            chrome,
            actions: AuditAction::iter().map(AuditAction::as_str).collect(),
            error: None,
            total: 0,
            events: Vec::new(),
            next: None,
            first_page: None,
            export_jsonl: export("jsonl"),
            export_csv: export("csv"),
            export_cap: EXPORT_MAX_ROWS,
            form,
        }
    }

    fn link(&self, before: Option<i64>) -> String {
        let query = self.form.query();
        let mut link = format!("{AUDIT_PATH}?{query}");
        if let Some(before) = before {
            if !query.is_empty() {
                link.push('&');
            }
            link.push_str(&format!("before={before}"));
        }
        link
    }
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let form = FilterForm::from_query(req.query_string());
    let mut page = AuditPage::new(console.chrome(Section::Audit), form);
    let parsed = page
        .form
        .filter()
        .and_then(|filter| Ok((filter, page.form.before()?)));
    let (filter, before) = match parsed {
        Ok(parsed) => parsed,
        Err(message) => {
            page.error = Some(message);
            return console.render(&state, StatusCode::BAD_REQUEST, &page);
        }
    };
    let found = state
        .app
        .admin_audit_events(
            console.actor(),
            AuditQuery {
                filter,
                limit: PAGE_SIZE,
                before,
            },
            &console.ctx,
            state.clock.now(),
        )
        .await?;
    page.total = found.total;
    page.next = found.next_before.map(|id| page.link(Some(id)));
    page.first_page = before.map(|_| page.link(None));
    page.events = found.events.into_iter().map(EventRow::from).collect();
    console.render(&state, StatusCode::OK, &page)
}

/// Where an export stands between two chunks of the response.
struct Download {
    app: Gatehouse,
    export: AuditExport,
    format: ExportFormat,
    exported: usize,
    started: bool,
    done: bool,
}

impl Download {
    /// The next chunk of the file: the header, then one page of events per chunk, then the
    /// truncation note if events were left out. `None` at the end.
    async fn next_chunk(mut self) -> Option<(Result<Bytes, actix_web::Error>, Self)> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            let header = self.format.header();
            if !header.is_empty() {
                return Some((Ok(Bytes::from(header)), self));
            }
        }
        match self.app.next_export_page(&mut self.export).await {
            Ok(events) if events.is_empty() => {
                self.done = true;
                if self.export.truncated {
                    let note = self
                        .format
                        .truncation_note(self.exported, self.export.total);
                    return Some((Ok(Bytes::from(note)), self));
                }
                None
            }
            Ok(events) => {
                self.exported += events.len();
                let rows = self.format.rows(events);
                Some((Ok(Bytes::from(rows)), self))
            }
            Err(err) => {
                // The status line is long gone: breaking the connection is how the client
                // learns the file is incomplete.
                tracing::error!(error = %err, "audit export failed part-way");
                self.done = true;
                Some((
                    Err(actix_web::error::ErrorServiceUnavailable(
                        "audit export failed",
                    )),
                    self,
                ))
            }
        }
    }
}

pub async fn download(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let console = Console::open(&state, &req).await?;
    let form = FilterForm::from_query(req.query_string());
    let format = ExportFormat::parse(&form.format);
    let parsed = form.filter();
    let (format, filter) = match (format, parsed) {
        (Some(format), Ok(filter)) => (format, filter),
        (format, parsed) => {
            let mut page = AuditPage::new(console.chrome(Section::Audit), form);
            page.error = Some(match (format, parsed) {
                (_, Err(message)) => message,
                _ => "Choose the export's format: jsonl or csv.".to_owned(),
            });
            return console.render(&state, StatusCode::BAD_REQUEST, &page);
        }
    };
    let now = state.clock.now();
    let export = state
        .app
        .admin_audit_export(console.actor(), filter, format.name(), &console.ctx, now)
        .await?;
    let filename = format!(
        "audit-events-{}.{}",
        now.format("%Y%m%dT%H%M%SZ"),
        format.name()
    );
    let total = export.total;
    let download = Download {
        app: state.app.clone(),
        export,
        format,
        exported: 0,
        started: false,
        done: false,
    };
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            CONTENT_DISPOSITION,
            ContentDisposition::attachment(filename),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Export-Total", total.to_string()))
        .insert_header(("X-Export-Limit", EXPORT_MAX_ROWS.to_string()))
        .streaming(futures_util::stream::unfold(download, Download::next_chunk)))
}
