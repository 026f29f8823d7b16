//! The Swagger UI at `/api/docs`: its page and files come from the binary (no other origin is
//! named anywhere), and it renders the one OpenAPI document the server serves.

use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use serde_json::Value;
use url::Url;

use gatehouse_tests::{TestApp, spawn_app};

/// The values of every `attribute="…"` in `html`.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let marker = format!("{attribute}=\"");
    html.match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = &html[at + marker.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

/// The string values of `"name": "…"` in a script (Swagger UI's generated configuration).
fn script_string_values(script: &str, name: &str) -> Vec<String> {
    let marker = format!("\"{name}\":");
    script
        .match_indices(&marker)
        .filter_map(|(at, _)| {
            let rest = script[at + marker.len()..].trim_start().strip_prefix('"')?;
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

async fn get(app: &TestApp, url: &Url) -> reqwest::Response {
    app.client.get(url.as_str()).send().await.unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response
        .headers()
        .get(&name)
        .unwrap_or_else(|| panic!("{} has no {name}", response.url()))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn api_docs_serves_the_swagger_ui_from_the_binary_on_our_document() {
    let app = spawn_app().await;

    // `/api/docs` leads to the page; its links to its files are relative to `/api/docs/`.
    let home = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(home.status(), 308);
    let page_url = Url::parse(&app.url("/api/docs"))
        .unwrap()
        .join(header(&home, LOCATION))
        .unwrap();
    assert_eq!(page_url.path(), "/api/docs/");

    let page = get(&app, &page_url).await;
    assert_eq!(page.status(), 200);
    assert!(header(&page, CONTENT_TYPE).starts_with("text/html"));
    let csp = header(&page, CONTENT_SECURITY_POLICY).to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.split(';').any(|d| d.trim() == directive),
            "{directive} missing from {csp}"
        );
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    let html = page.text().await.unwrap();

    let mut assets = attribute_values(&html, "src");
    assets.extend(attribute_values(&html, "href"));
    for file in [
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
        "swagger-ui.css",
    ] {
        assert!(
            assets.iter().any(|asset| asset.ends_with(file)),
            "the page does not load {file}: {assets:?}"
        );
    }

    let mut initializer = None;
    for asset in &assets {
        let url = page_url.join(asset).unwrap();
        assert_eq!(
            url.origin(),
            page_url.origin(),
            "{asset} is not served by us"
        );
        let response = get(&app, &url).await;
        assert_eq!(response.status(), 200, "{url}");
        let expected_type = match url.path().rsplit_once('.').map(|(_, ext)| ext) {
            Some("js") => "javascript",
            Some("css") => "text/css",
            Some("png") => "image/png",
            other => panic!("unexpected asset {url} ({other:?})"),
        };
        let content_type = header(&response, CONTENT_TYPE).to_owned();
        assert!(
            content_type.contains(expected_type),
            "{url}: {content_type}"
        );
        let body = response.bytes().await.unwrap();
        assert!(!body.is_empty(), "{url} is empty");
        if url.path().ends_with("/swagger-initializer.js") {
            initializer = Some(String::from_utf8(body.to_vec()).unwrap());
        }
    }

    // The UI loads its document from the path the API already serves it at, and that is the
    // server's one document.
    let initializer = initializer.expect("the page loads swagger-initializer.js");
    let spec_urls = script_string_values(&initializer, "url");
    assert_eq!(spec_urls, ["/api/v1/openapi.json"], "{initializer}");
    let spec = get(&app, &page_url.join(&spec_urls[0]).unwrap()).await;
    assert_eq!(spec.status(), 200);
    let spec: Value = spec.json().await.unwrap();
    let ours = serde_json::to_value(gatehouse_server::api::openapi::document()).unwrap();
    assert_eq!(spec, ours);
    assert_eq!(
        script_string_values(&initializer, "validatorUrl"),
        ["none"],
        "the UI must not call swagger.io's validator: {initializer}"
    );
}

#[tokio::test]
async fn api_docs_answers_unknown_files_and_other_methods_like_the_api() {
    let app = spawn_app().await;

    let missing = app
        .client
        .get(app.url("/api/docs/no-such-file.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()[CONTENT_TYPE], "application/problem+json");

    let head = app.client.head(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(head.status(), 200);

    for path in ["/api/docs", "/api/docs/"] {
        let post = app.client.post(app.url(path)).send().await.unwrap();
        assert_eq!(post.status(), 405, "{path}");
        assert_eq!(post.headers()["allow"], "GET, HEAD", "{path}");
    }
}
