//! Resource indicators (RFC 8707) from the outside: clients registered for resources, and what
//! a resource server does with the access tokens they get — verify them offline against the
//! published JWKS (RFC 9068 §4) and read their audience.

use gatehouse_identity::admin::clients::{self, ClientPatch};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::Value;

use crate::{ClientSpec, TestApp, TestClient};

/// [`TestApp::register_client`], then registered for `resources` as `gatehouse client create
/// ... --resource URI` registers it.
pub fn register_client_for(app: &TestApp, spec: ClientSpec, resources: &[&str]) -> TestClient {
    let rp = app.register_client(spec);
    let patch = ClientPatch {
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        ..ClientPatch::default()
    };
    let updated = clients::update(
        app.state.accounts.database(),
        &rp.client_id,
        &patch,
        app.clock_now(),
    )
    .unwrap()
    .expect("the client was just registered");
    assert_eq!(updated.client.resources, patch.resources.unwrap());
    rp
}

/// The claims of an access token, verified as a resource server verifies it without calling
/// Gatehouse: the key named by `kid` from `/jwks.json` over HTTP, `typ` `at+jwt`, `iss` the
/// issuer and `exp` in the future (RFC 9068 §4). The audience is the caller's to check.
pub async fn verify_offline(app: &TestApp, token: &str) -> Value {
    let header = segment(token, 0);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    let jwks = app.jwks().await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("kid {} is not in the JWKS", header["kid"]));
    let jwk = Jwk::from_map(jwk.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn JwsVerifier> = match header["alg"].as_str() {
        Some("ES256") => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        Some("RS256") => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
        other => panic!("unexpected alg {other:?}"),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref())
        .expect("the signature verifies against the JWKS");
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["iss"], app.address.as_str(), "{claims}");
    assert!(
        claims["exp"].as_i64().unwrap() > app.clock_now().timestamp(),
        "{claims}"
    );
    claims
}

/// `aud` as a list, whether the token wrote one value or an array (RFC 7519 §4.1.3).
pub fn audience(claims: &Value) -> Vec<String> {
    match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .map(|aud| aud.as_str().unwrap().to_owned())
            .collect(),
        other => panic!("aud is {other}"),
    }
}

/// The `aud` of the access token of a token response, verified offline.
pub async fn token_audience(app: &TestApp, token_response: &Value) -> Vec<String> {
    let token = token_response["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {token_response}"));
    audience(&verify_offline(app, token).await)
}

fn segment(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}
