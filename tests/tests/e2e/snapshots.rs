//! Snapshots of protocol output, with ports, tokens, key ids and key material redacted, so any
//! change to what relying parties see shows up in review.

use gatehouse_tests::{ClientSpec, TestApp, spawn_app};
use serde_json::Value;

async fn json_with_issuer_redacted(app: &TestApp, response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text.replace(&app.address, "https://issuer.example")).unwrap()
}

#[tokio::test]
async fn discovery_document() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document = json_with_issuer_redacted(&app, response).await;
    insta::assert_json_snapshot!("discovery", document);

    let rfc8414 = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_with_issuer_redacted(&app, rfc8414).await, document);
}

#[tokio::test]
async fn jwks_shape() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/jwks.json")).send().await.unwrap();
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let mut jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array_mut().unwrap();
    // Stable order for the snapshot: by algorithm; the active and next key of each look alike.
    keys.sort_by_key(|k| k["alg"].as_str().unwrap().to_owned());
    insta::assert_json_snapshot!("jwks", jwks, {
        ".keys[].kid" => "[kid]",
        ".keys[].n" => "[modulus]",
        ".keys[].x" => "[x]",
        ".keys[].y" => "[y]",
    });
}

#[tokio::test]
async fn token_response_and_error_bodies() {
    let app = spawn_app().await;
    let machine = app.register_client(ClientSpec {
        grants: vec![gatehouse_identity::GrantType::ClientCredentials],
        scopes: vec!["reports.read".to_owned()],
        ..Default::default()
    });
    let token: Value = app
        .client
        .post(app.url("/token"))
        .basic_auth(&machine.client_id, machine.client_secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    insta::assert_json_snapshot!("client_credentials_response", token, {
        ".access_token" => "[access_token]",
    });

    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<(&'a str, &'a str)>);
    let cases: [Case; 4] = [
        (
            "error_unsupported_grant_type",
            vec![("grant_type", "password")],
            Some((
                &machine.client_id,
                machine.client_secret.as_deref().unwrap(),
            )),
        ),
        (
            "error_invalid_client",
            vec![("grant_type", "client_credentials")],
            Some((&machine.client_id, "wrong")),
        ),
        (
            "error_missing_grant_type",
            vec![],
            Some((
                &machine.client_id,
                machine.client_secret.as_deref().unwrap(),
            )),
        ),
        (
            "error_unauthenticated",
            vec![("grant_type", "client_credentials")],
            None,
        ),
    ];
    for (name, form, auth) in cases {
        let mut request = app.client.post(app.url("/token")).form(&form);
        if let Some((id, secret)) = auth {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        insta::assert_json_snapshot!(name, serde_json::json!({"status": status, "body": body}));
    }
}
