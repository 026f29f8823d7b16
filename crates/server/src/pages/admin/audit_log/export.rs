//! The audit log as a download: JSON lines (one event per line, as the REST API shows it) or
//! CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, quote or line break).
//!
//! CSV cells are opened by spreadsheets, which run a cell starting with `=`, `+`, `-` or `@`
//! as a formula (and some treat a leading tab or carriage return the same way): every logged
//! value can come from an attacker (a typed login, a user agent), so such a cell is written
//! with a leading `'`, which spreadsheets show as text (OWASP "CSV injection").

use gatehouse_identity::AuditEvent;

use crate::api::admin::audit::AuditEventView;

/// What the download is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    JsonLines,
    Csv,
}

impl ExportFormat {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "jsonl" => Some(ExportFormat::JsonLines),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }

    /// The `format=` value, also the file's extension.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ExportFormat::JsonLines => "application/jsonl; charset=utf-8",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// What the file starts with: the CSV's header row.
    pub(crate) fn header(self) -> String {
        match self {
            ExportFormat::JsonLines => String::new(),
            ExportFormat::Csv => csv_row(CSV_COLUMNS.iter().map(|c| (*c).to_owned())),
        }
    }

    /// `events` as lines of the file.
    pub(crate) fn rows(self, events: Vec<AuditEvent>) -> String {
        let mut out = String::new();
        for event in events {
            match self {
                ExportFormat::JsonLines => {
                    // An event always serializes; an empty object would not hide one that
                    // does not, so it is skipped, not replaced.
                    if let Ok(line) = serde_json::to_string(&AuditEventView::from(event)) {
                        out.push_str(&line);
                        out.push('\n');
                    }
                }
                ExportFormat::Csv => out.push_str(&csv_row(csv_cells(event))),
            }
        }
        out
    }

    /// The last line when the export left events out (a JSON object a consumer can tell from
    /// an event by its `truncated` key; a CSV line starting `#`).
    pub(crate) fn truncation_note(self, exported: usize, total: i64) -> String {
        match self {
            ExportFormat::JsonLines => format!(
                "{}\n",
                serde_json::json!({ "truncated": true, "exported": exported, "total": total })
            ),
            ExportFormat::Csv => format!(
                "# truncated: the {exported} newest of {total} matching events; narrow the \
                 filters (since, until) to export the rest\r\n"
            ),
        }
    }
}

const CSV_COLUMNS: [&str; 11] = [
    "id",
    "occurred_at",
    "action",
    "outcome",
    "actor_kind",
    "actor",
    "target",
    "ip",
    "user_agent",
    "request_id",
    "details",
];

fn csv_cells(event: AuditEvent) -> [String; 11] {
    [
        event.id.to_string(),
        event
            .occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        event.action,
        event.outcome.as_str().to_owned(),
        event.actor_kind.as_str().to_owned(),
        event.actor.unwrap_or_default(),
        event.target.unwrap_or_default(),
        event.ip.unwrap_or_default(),
        event.user_agent.unwrap_or_default(),
        event.request_id.unwrap_or_default(),
        event.details.to_string(),
    ]
}

fn csv_row(cells: impl IntoIterator<Item = String>) -> String {
    let cells: Vec<String> = cells.into_iter().map(|cell| csv_cell(&cell)).collect();
    let mut row = cells.join(",");
    row.push_str("\r\n");
    row
}

/// One CSV field: defused if a spreadsheet would run it, quoted if it needs quotes.
fn csv_cell(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use gatehouse_identity::{ActorKind, AuditOutcome};

    use super::*;

    fn event(actor: &str, user_agent: &str) -> AuditEvent {
        AuditEvent {
            org_id: None,
            id: 7,
            occurred_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 30, 12, 0, 0)
                .unwrap(),
            actor: Some(actor.to_owned()),
            actor_kind: ActorKind::Anonymous,
            action: "login.failure".to_owned(),
            target: None,
            ip: Some("192.0.2.1".to_owned()),
            user_agent: Some(user_agent.to_owned()),
            outcome: AuditOutcome::Failure,
            details: serde_json::json!({ "reason": "bad_password" }),
            request_id: Some("abc".to_owned()),
        }
    }

    #[test]
    fn csv_quotes_what_needs_quotes_and_defuses_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        for start in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert_eq!(csv_cell(start), format!("'{start}"));
        }
        assert_eq!(csv_cell(""), "");
    }

    #[test]
    fn a_csv_row_has_every_column_and_ends_with_crlf() {
        let rows = ExportFormat::Csv.rows(vec![event("=cmd|' /C calc'!A0", "Agent, \"v1\"")]);
        assert!(rows.ends_with("\r\n"));
        assert!(rows.starts_with("7,2026-11-30T12:00:00.000000Z,login.failure,failure,"));
        assert!(rows.contains(",'=cmd|' /C calc'!A0,"), "{rows}");
        assert!(rows.contains(",\"Agent, \"\"v1\"\"\","), "{rows}");
        assert!(
            rows.contains(",abc,\"{\"\"reason\"\":\"\"bad_password\"\"}\"\r\n"),
            "{rows}"
        );
        let header = ExportFormat::Csv.header();
        assert_eq!(header.matches(',').count(), CSV_COLUMNS.len() - 1);
    }

    #[test]
    fn json_lines_are_the_api_view_one_per_line() {
        let rows = ExportFormat::JsonLines.rows(vec![event("a\nb", "ua"), event("c", "ua")]);
        let lines: Vec<&str> = rows.lines().collect();
        assert_eq!(lines.len(), 2);
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["actor"], "a\nb");
        assert_eq!(first["actor_kind"], "anonymous");
        assert_eq!(first["request_id"], "abc");
        let note = ExportFormat::JsonLines.truncation_note(5, 9);
        let note: serde_json::Value = serde_json::from_str(note.trim_end()).unwrap();
        assert_eq!(note["truncated"], true);
    }
}
