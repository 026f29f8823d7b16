//! The relying party's side of the protocol, shared by the e2e tests: authorization URLs with the
//! test PKCE pair, the code flow in a given browser, and the token, refresh and introspection
//! requests a client makes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::{GOOD_PASSWORD, TestApp, TestClient};

/// The PKCE verifier every test flow uses (RFC 7636 Appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// The S256 challenge of `verifier` (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `/authorize` for `rp`: code flow, `openid profile email`, state `st-123`, plus `extra`.
pub fn authorize_url(app: &TestApp, rp: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &rp.client_id)
        .append_pair("redirect_uri", &rp.redirect_uri);
    if !extra.iter().any(|(k, _)| *k == "scope") {
        query.append_pair("scope", "openid profile email");
    }
    query.append_pair("state", "st-123");
    for (k, v) in extra {
        query.append_pair(k, v);
    }
    app.url(&format!("/authorize?{}", query.finish()))
}

/// One query parameter of a URL.
pub fn param(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A code for `username` through `browser` (signing in if its cookies hold no session), issued
/// with the test PKCE challenge and `extra` parameters.
pub async fn code_in(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    extra: &[(&str, &str)],
) -> String {
    code_in_with(app, browser, rp, username, extra, None).await
}

/// [`code_in`] answering a second-factor page, if one comes, with the code `second_factor`
/// gives.
pub async fn code_in_with(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    extra: &[(&str, &str)],
    second_factor: Option<&dyn Fn() -> String>,
) -> String {
    let challenge = challenge(VERIFIER);
    let mut params = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let url = authorize_url(app, rp, &params);
    let callback = app
        .browse_authorize_with(
            browser,
            &url,
            Some((username, GOOD_PASSWORD)),
            second_factor,
        )
        .await;
    param(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"))
}

/// The code flow through `browser`, exchanged: the token response JSON.
pub async fn tokens_in(
    app: &TestApp,
    browser: &reqwest::Client,
    rp: &TestClient,
    username: &str,
    extra: &[(&str, &str)],
) -> Value {
    let code = code_in(app, browser, rp, username, extra).await;
    let response = exchange(app, rp, &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// `grant_type=authorization_code`, authenticating as `rp` does.
pub async fn exchange(
    app: &TestApp,
    rp: &TestClient,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/token"));
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", rp.redirect_uri.clone()),
        ("code_verifier", verifier.to_owned()),
    ];
    match &rp.client_secret {
        Some(secret) => request = request.basic_auth(&rp.client_id, Some(secret)),
        None => form.push(("client_id", rp.client_id.clone())),
    }
    request.form(&form).send().await.unwrap()
}

/// `grant_type=refresh_token` for a confidential `rp`.
pub async fn refresh(app: &TestApp, rp: &TestClient, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/token"))
        .basic_auth(&rp.client_id, rp.client_secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap()
}

/// `/introspect` of `token`, authenticated as the confidential `caller`.
pub async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/introspect"))
        .basic_auth(&caller.client_id, caller.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}
