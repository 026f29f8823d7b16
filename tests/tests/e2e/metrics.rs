//! `/metrics` (Prometheus text format) on its own listener: the series a short flow moves, with
//! bounded labels; the public port does not serve it; and the Grafana dashboard queries only
//! names the server exposes.
//!
//! The recorder is process-wide (every app of this test binary records into it), so the checks
//! compare a scrape before the flow with one after it and expect at least the flow's own events.

use std::collections::{BTreeSet, HashMap};

use gatehouse_identity::GrantType;
use gatehouse_server::Settings;
use gatehouse_server::metrics::{CATALOGUE, MetricsListen};
use gatehouse_tests::oauth::{self, VERIFIER};
use gatehouse_tests::{ClientSpec, TestApp, new_client};
use serde_json::Value;

fn metrics_on(settings: &mut Settings) {
    settings.metrics.listen = MetricsListen::On("127.0.0.1:0".parse().unwrap());
}

async fn spawn_with_metrics() -> TestApp {
    TestApp::builder()
        .configure(metrics_on)
        .with_user("mila")
        .spawn()
        .await
}

/// One scrape: the body, as the text format has it.
async fn scrape(app: &TestApp) -> String {
    let address = app.metrics_address.expect("metrics are on");
    let response = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// Every sample line: `name{labels}` → value.
fn samples(body: &str) -> HashMap<String, f64> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the series named `name` whose labels include every `labels` pair, summed over
/// the series that match (0 when none does).
fn value(samples: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v)
        .sum()
}

/// The metric families a scrape declares (`# TYPE name kind`).
fn families(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every label value of every series, to check none carries request data.
fn label_values(body: &str) -> Vec<String> {
    let mut values = Vec::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((labels, _)) = rest.rsplit_once('}') else {
            continue;
        };
        for pair in labels.split("\",") {
            if let Some((_, v)) = pair.split_once("=\"") {
                values.push(v.trim_end_matches('"').to_owned());
            }
        }
    }
    values
}

/// A short flow touching what the metrics count: a wrong password, a sign-in, the code flow,
/// a refresh, a replayed refresh token, a bad code, client credentials, introspection, and a
/// request to a path no route has. Returns the secrets it saw.
async fn short_flow(app: &TestApp) -> Vec<String> {
    let rp = app.register_client(ClientSpec::default());
    let machine = app.register_client(ClientSpec {
        grants: vec![GrantType::ClientCredentials],
        scopes: vec!["reports.read".to_owned()],
        ..Default::default()
    });

    let wrong = app.login("mila", "not the password").await;
    assert_ne!(wrong.status(), 303, "a wrong password does not sign in");

    let browser = new_client();
    let code = oauth::code_in(app, &browser, &rp, "mila", &[]).await;
    let exchanged = oauth::exchange(app, &rp, &code, VERIFIER).await;
    assert_eq!(exchanged.status(), 200);
    let tokens: Value = exchanged.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let refreshed = oauth::refresh(app, &rp, &refresh).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    // The rotated-out token once more: reuse, the family is revoked.
    let replayed = oauth::refresh(app, &rp, &refresh).await;
    assert_eq!(replayed.status(), 400);
    // The same code again: invalid_grant (and its grant revoked, so after the refreshes).
    let again = oauth::exchange(app, &rp, &code, VERIFIER).await;
    assert_eq!(again.status(), 400);

    let cc = app
        .client
        .post(app.url("/token"))
        .basic_auth(&machine.client_id, machine.client_secret.as_deref())
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports.read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cc.status(), 200);
    let cc: Value = cc.json().await.unwrap();

    let introspected = oauth::introspect(app, &rp, &access).await;
    assert_eq!(introspected.status(), 200);

    let missing = app
        .client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let mut secrets = vec![code, access, refresh];
    secrets.extend(rp.client_secret.clone());
    secrets.extend(machine.client_secret.clone());
    for field in ["access_token", "refresh_token", "id_token"] {
        if let Some(token) = refreshed[field].as_str() {
            secrets.push(token.to_owned());
        }
    }
    secrets.push(cc["access_token"].as_str().unwrap().to_owned());
    secrets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_moves_the_counters_with_bounded_labels() {
    let app = spawn_with_metrics().await;
    let before = samples(&scrape(&app).await);
    let secrets = short_flow(&app).await;
    let body = scrape(&app).await;
    let after = samples(&body);
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };

    // HTTP requests by route pattern, method and status class.
    assert!(
        moved(
            "gatehouse_http_requests_total",
            &[("route", "/token"), ("method", "POST"), ("status", "2xx")]
        ) >= 3.0
    );
    assert!(
        moved(
            "gatehouse_http_requests_total",
            &[("route", "/token"), ("method", "POST"), ("status", "4xx")]
        ) >= 2.0
    );
    assert!(
        moved(
            "gatehouse_http_requests_total",
            &[("route", "unmatched"), ("method", "GET"), ("status", "4xx")]
        ) >= 1.0
    );
    assert!(
        moved(
            "gatehouse_http_request_duration_seconds_count",
            &[("route", "/token"), ("method", "POST")]
        ) >= 5.0
    );
    assert!(
        value(
            &after,
            "gatehouse_http_request_duration_seconds_bucket",
            &[("route", "/introspect"), ("le", "+Inf")]
        ) >= 1.0
    );

    // Tokens by grant, errors by RFC code.
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(
            moved("gatehouse_tokens_issued_total", &[("grant_type", grant)]) >= 1.0,
            "{grant}"
        );
    }
    assert!(
        moved(
            "gatehouse_token_errors_total",
            &[("error", "invalid_grant")]
        ) >= 2.0
    );
    assert!(moved("gatehouse_refresh_reuse_detected_total", &[]) >= 1.0);

    // Sign-ins by step and result; Argon2 timed.
    assert!(
        moved(
            "gatehouse_sign_ins_total",
            &[("method", "password"), ("result", "success")]
        ) >= 1.0
    );
    assert!(
        moved(
            "gatehouse_sign_ins_total",
            &[("method", "password"), ("result", "failure")]
        ) >= 1.0
    );
    assert!(moved("gatehouse_password_hash_duration_seconds_count", &[]) >= 2.0);
    assert!(moved("gatehouse_password_hash_queue_wait_seconds_count", &[]) >= 2.0);

    // The session store and the database pool.
    assert!(
        moved(
            "gatehouse_session_store_duration_seconds_count",
            &[("operation", "take")]
        ) >= 1.0
    );
    assert!(moved("gatehouse_db_pool_wait_seconds_count", &[]) >= 1.0);
    assert!(moved("gatehouse_db_query_duration_seconds_count", &[]) >= 1.0);

    // Label values come from closed sets: no path, token, code or secret in any of them.
    for label in label_values(&body) {
        for secret in &secrets {
            assert!(
                !label.contains(secret.as_str()),
                "a label carries a secret: {label}"
            );
        }
        assert!(
            !label.contains("/no/such/page"),
            "a label carries a path: {label}"
        );
    }
    assert!(!body.contains("/no/such/page"));

    // The public port has no /metrics.
    let public = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404);
}

/// Metrics on, and a registration limit of one per address, so that the flow meets a limiter.
fn metrics_and_a_tight_limit(settings: &mut Settings) {
    metrics_on(settings);
    settings.rate_limits.registration_per_ip.limit = 1;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_is_exposed_and_the_dashboard_queries_only_exposed_names() {
    // `mila` is registered through the API: the one registration the limit allows.
    let app = TestApp::builder()
        .configure(metrics_and_a_tight_limit)
        .with_user("mila")
        .spawn()
        .await;
    short_flow(&app).await;
    let limited = app
        .register("otto", "otto@example.com", "another good passphrase 1")
        .await;
    assert_eq!(limited.status(), 429);
    let body = scrape(&app).await;
    let exposed = families(&body);
    // Sampled gauges and labelled series that the short flow may not reach are described (HELP)
    // even before their first sample.
    let described: BTreeSet<String> = body
        .lines()
        .filter_map(|line| line.strip_prefix("# HELP "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();

    let dashboard: Value =
        serde_json::from_str(include_str!("../../../deploy/grafana/gatehouse.json")).unwrap();
    let queried = dashboard_metric_names(&dashboard);
    assert!(!queried.is_empty());
    let known: BTreeSet<&str> = CATALOGUE.iter().map(|m| m.name).collect();
    for name in &queried {
        assert!(
            known.contains(name.as_str()),
            "the dashboard queries {name}, which Gatehouse does not define"
        );
        assert!(
            exposed.contains(name) || described.contains(name),
            "the dashboard queries {name}, which /metrics does not expose"
        );
    }
    for info in CATALOGUE {
        assert!(
            queried.contains(info.name),
            "the dashboard does not chart {}",
            info.name
        );
        assert!(
            described.contains(info.name),
            "/metrics does not describe {}",
            info.name
        );
    }
}

/// The metric names in every `expr` of the dashboard, with the histogram series suffixes
/// (`_bucket`, `_sum`, `_count`) taken off.
fn dashboard_metric_names(dashboard: &Value) -> BTreeSet<String> {
    let mut exprs = Vec::new();
    collect_exprs(dashboard, &mut exprs);
    let mut names = BTreeSet::new();
    for expr in exprs {
        let mut rest = expr.as_str();
        while let Some(start) = rest.find("gatehouse_") {
            let tail = &rest[start..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    name.strip_suffix(suffix)
                        .filter(|base| base.ends_with("_seconds"))
                })
                .unwrap_or(name);
            names.insert(base.to_owned());
            rest = &tail[end..];
        }
    }
    names
}

fn collect_exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query", Value::String(expr)) => out.push(expr.clone()),
                    _ => collect_exprs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_exprs(item, out)),
        _ => {}
    }
}
