//! Every route answers a method it does not serve with 405, an `Allow` header naming the methods
//! it does serve, and a body in its surface's format; HEAD works wherever GET is side-effect free.

use reqwest::Method;
use reqwest::header::{ALLOW, CONTENT_TYPE};
use serde_json::Value;

use gatehouse_tests::spawn_app;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// RFC 6749 §5.2 error JSON: `invalid_request`.
    OAuth,
    /// Plain JSON: `method_not_allowed`.
    Json,
    /// The HTML error page.
    Html,
    /// RFC 9457 problem JSON.
    Problem,
}

/// Every route of the app: path, the methods it serves, and the format of its errors.
const ROUTES: &[(&str, &str, Format)] = &[
    ("/healthz", "GET, HEAD", Format::Json),
    ("/readyz", "GET, HEAD", Format::Json),
    (
        "/.well-known/openid-configuration",
        "GET, HEAD",
        Format::Json,
    ),
    (
        "/.well-known/oauth-authorization-server",
        "GET, HEAD",
        Format::Json,
    ),
    ("/jwks.json", "GET, HEAD", Format::Json),
    ("/authorize", "GET, POST", Format::Html),
    ("/token", "POST", Format::OAuth),
    ("/introspect", "POST", Format::OAuth),
    ("/revoke", "POST", Format::OAuth),
    ("/userinfo", "GET, POST", Format::OAuth),
    ("/logout", "GET, POST", Format::Html),
    ("/api/v1/openapi.json", "GET, HEAD", Format::Problem),
    ("/api/v1/users", "POST", Format::Problem),
    ("/api/v1/account", "GET, HEAD, PATCH", Format::Problem),
    (
        "/api/v1/account/email-verification",
        "POST",
        Format::Problem,
    ),
    (
        "/api/v1/account/email-verification/confirm",
        "POST",
        Format::Problem,
    ),
    ("/api/v1/account/password", "POST", Format::Problem),
    ("/api/v1/password-resets", "POST", Format::Problem),
    ("/api/v1/admin/users", "GET, HEAD, POST", Format::Problem),
    (
        "/api/v1/admin/users/x",
        "GET, HEAD, PATCH, DELETE",
        Format::Problem,
    ),
    ("/api/v1/admin/users/x/lock", "POST", Format::Problem),
    ("/api/v1/admin/users/x/unlock", "POST", Format::Problem),
    ("/api/v1/admin/users/x/roles", "PUT", Format::Problem),
    ("/api/v1/admin/users/x/totp", "DELETE", Format::Problem),
    (
        "/api/v1/admin/users/x/password-reset",
        "POST",
        Format::Problem,
    ),
    (
        "/api/v1/admin/users/x/sessions",
        "GET, HEAD, DELETE",
        Format::Problem,
    ),
    ("/api/v1/admin/users/x/grants", "GET, HEAD", Format::Problem),
    ("/api/v1/admin/users/x/grants/y", "DELETE", Format::Problem),
    ("/api/v1/admin/roles", "GET, HEAD", Format::Problem),
    ("/api/v1/admin/clients", "GET, HEAD, POST", Format::Problem),
    (
        "/api/v1/admin/clients/x",
        "GET, HEAD, PATCH, DELETE",
        Format::Problem,
    ),
    ("/api/v1/admin/clients/x/secret", "POST", Format::Problem),
    ("/api/v1/admin/clients/x/roles", "PUT", Format::Problem),
    ("/api/v1/admin/clients/x/disable", "POST", Format::Problem),
    ("/api/v1/admin/clients/x/enable", "POST", Format::Problem),
    ("/api/v1/admin/audit-events", "GET, HEAD", Format::Problem),
    ("/api/v1/admin/keys", "GET, HEAD", Format::Problem),
    ("/api/v1/admin/keys/rotate", "POST", Format::Problem),
    ("/api/v1/admin/stats", "GET, HEAD", Format::Problem),
    (
        "/api/v1/admin/organizations",
        "GET, HEAD, POST",
        Format::Problem,
    ),
    (
        "/api/v1/admin/organizations/x",
        "GET, HEAD, PATCH, DELETE",
        Format::Problem,
    ),
    (
        "/api/v1/admin/organizations/x/members",
        "GET, HEAD",
        Format::Problem,
    ),
    (
        "/api/v1/admin/organizations/x/members/y",
        "PUT, DELETE",
        Format::Problem,
    ),
    ("/api/v1/password-resets/complete", "POST", Format::Problem),
    (
        "/api/v1/account/sessions",
        "GET, HEAD, DELETE",
        Format::Problem,
    ),
    ("/api/v1/account/sessions/abc", "DELETE", Format::Problem),
    ("/api/v1/account/totp", "POST, DELETE", Format::Problem),
    ("/api/v1/account/totp/confirm", "POST", Format::Problem),
    ("/api/v1/account/recovery-codes", "POST", Format::Problem),
    ("/", "GET, HEAD", Format::Html),
    ("/static/gatehouse.css", "GET, HEAD", Format::Html),
    ("/login", "GET, HEAD, POST", Format::Html),
    ("/login/second-factor", "GET, HEAD, POST", Format::Html),
    ("/login/step-up", "GET, HEAD", Format::Html),
    ("/register", "GET, HEAD, POST", Format::Html),
    ("/email/verify", "GET", Format::Html),
    ("/email/unverified", "GET, HEAD", Format::Html),
    ("/password/forgot", "GET, HEAD, POST", Format::Html),
    ("/password/reset", "GET, HEAD, POST", Format::Html),
    ("/account", "GET, HEAD", Format::Html),
    ("/account/email", "POST", Format::Html),
    ("/account/email/verify", "POST", Format::Html),
    ("/account/email/resend", "POST", Format::Html),
    ("/account/password", "POST", Format::Html),
    ("/account/sessions/end", "POST", Format::Html),
    ("/account/sessions/end-others", "POST", Format::Html),
    ("/account/consents/revoke", "POST", Format::Html),
    ("/account/apps/revoke", "POST", Format::Html),
    ("/account/totp", "GET, HEAD", Format::Html),
    ("/account/totp/enrol", "POST", Format::Html),
    ("/account/totp/confirm", "POST", Format::Html),
    ("/account/totp/disable", "POST", Format::Html),
    ("/account/recovery-codes", "POST", Format::Html),
];

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_in_each_surfaces_format() {
    let app = spawn_app().await;
    let wrong = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"];
    for &(path, allow, format) in ROUTES {
        // A method the route serves is not a wrong one (DELETE on the account API).
        for method in wrong
            .iter()
            .filter(|method| !allow.split(", ").any(|a| a == **method))
        {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let what = format!("{method} {path}");
            let response = app
                .client
                .request(method, app.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 405, "{what}");
            assert_eq!(response.headers()[ALLOW], allow, "{what}");
            let content_type = content_type(&response);
            let body = response.text().await.unwrap();
            match format {
                Format::OAuth | Format::Json => {
                    assert_eq!(content_type, "application/json", "{what}");
                    let body: Value = serde_json::from_str(&body).unwrap();
                    let code = if format == Format::OAuth {
                        "invalid_request"
                    } else {
                        "method_not_allowed"
                    };
                    assert_eq!(body["error"], code, "{what}");
                    assert!(
                        body["error_description"].as_str().unwrap().contains(allow),
                        "{what}: {body}"
                    );
                }
                Format::Html => {
                    assert_eq!(content_type, "text/html; charset=utf-8", "{what}");
                    assert!(body.contains("Method not allowed"), "{what}: {body}");
                }
                Format::Problem => {
                    assert_eq!(content_type, "application/problem+json", "{what}");
                    let body: Value = serde_json::from_str(&body).unwrap();
                    assert_eq!(
                        body["type"], "urn:gatehouse:problem:method-not-allowed",
                        "{what}"
                    );
                    assert_eq!(body["status"], 405, "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn methods_named_in_allow_are_served() {
    let app = spawn_app().await;
    for &(path, allow, _) in ROUTES {
        for method in allow.split(", ") {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), app.url(path))
                .send()
                .await
                .unwrap();
            // Without parameters, a session or a body most of these refuse the request, but
            // not its method.
            assert_ne!(response.status(), 405, "{method} {path}");
            assert!(
                response.status().as_u16() < 500,
                "{method} {path}: {}",
                response.status()
            );
        }
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_app().await;
    for &(path, allow, _) in ROUTES {
        if !allow.contains("HEAD") {
            continue;
        }
        let get = app.client.get(app.url(path)).send().await.unwrap();
        let head = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(content_type(&head), content_type(&get), "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
}

#[tokio::test]
async fn head_is_refused_where_get_has_side_effects() {
    let app = spawn_app().await;
    for path in [
        "/authorize",
        "/logout",
        "/userinfo",
        "/token",
        "/email/verify",
    ] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 405, "HEAD {path}");
        let allow = response.headers()[ALLOW].to_str().unwrap().to_owned();
        assert!(!allow.contains("HEAD"), "HEAD {path}: Allow {allow}");
        assert!(response.bytes().await.unwrap().is_empty(), "HEAD {path}");
    }
}
