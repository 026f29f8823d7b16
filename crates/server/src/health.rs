//! Liveness (`/healthz`: the process answers) and readiness (`/readyz`: its backends answer, so a
//! load balancer should send it traffic).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::app::AppState;
use crate::routing::{Surface, resource};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", Surface::Json).get(healthz))
        .service(resource("/readyz", Surface::Json).get(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.accounts.database().clone();
    let database = async {
        match tokio::time::timeout(PROBE_TIMEOUT, db.run(|db| db.ping())).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let sessions = async {
        match tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    };
    let (database, sessions) = tokio::join!(database, sessions);
    let describe = |result: &Result<(), String>| match result {
        Ok(()) => json!({"status": "up"}),
        Err(reason) => json!({"status": "down", "error": reason}),
    };
    let checks = json!({"database": describe(&database), "sessions": describe(&sessions)});
    let down: Vec<&str> = [("database", &database), ("sessions", &sessions)]
        .into_iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| name)
        .collect();
    if down.is_empty() {
        HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "ready", "checks": checks}))
    } else {
        for name in &down {
            tracing::warn!(backend = name, "readiness check failed");
        }
        HttpResponse::ServiceUnavailable()
            .insert_header(("Cache-Control", "no-store"))
            .json(json!({"status": "unavailable", "down": down, "checks": checks}))
    }
}
