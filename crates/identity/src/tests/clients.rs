//! Client registration: defaults, validation, storage of the JSON lists, lookups and deletion.

use diesel::prelude::*;

use super::{Fixture, ctx, fixture, registration, t0};
use crate::schema::clients;
use crate::{
    Client, ClientError, ClientSecretHasher, ClientType, GrantType, NewClient,
    TokenEndpointAuthMethod,
};

pub(crate) fn hasher() -> ClientSecretHasher {
    ClientSecretHasher::new([42; 32])
}

pub(crate) fn web_app(name: &str) -> NewClient {
    NewClient {
        name: name.to_owned(),
        redirect_uris: vec!["https://app.example.com/callback".to_owned()],
        ..NewClient::default()
    }
}

/// Everything but the secret hash, which `Serialize` skips.
fn shown(client: &Client) -> serde_json::Value {
    serde_json::to_value(client).unwrap()
}

fn assert_nothing_written(fx: &Fixture) {
    assert!(fx.db.list_clients().unwrap().is_empty());
}

#[test]
fn a_confidential_client_gets_the_defaults_and_a_secret_that_verifies() {
    let fx = fixture();
    let (client, secret) = fx
        .db
        .create_client(&web_app("Web App"), &hasher(), t0())
        .unwrap();

    let secret = secret.expect("confidential clients get a secret");
    assert_eq!(secret.len(), 43);
    let hash = client.secret_hash.clone().unwrap();
    assert!(hash.starts_with("hmac-sha256$"), "{hash}");
    assert!(hasher().verify(&secret, &hash));
    assert!(!hasher().verify(&ClientSecretHasher::generate_secret(), &hash));

    assert_eq!(client.client_id.len(), 22);
    assert_eq!(client.name, "Web App");
    assert_eq!(client.client_type, ClientType::Confidential);
    assert!(!client.is_public());
    assert_eq!(
        client.grant_types,
        [GrantType::AuthorizationCode, GrantType::RefreshToken]
    );
    assert!(client.allows_grant(GrantType::AuthorizationCode));
    assert!(client.allows_grant(GrantType::RefreshToken));
    assert!(!client.allows_grant(GrantType::ClientCredentials));
    assert_eq!(
        client.scopes,
        ["openid", "profile", "email", "offline_access"]
    );
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic
    );
    assert_eq!(client.id_token_signed_response_alg, "RS256");
    assert!(client.post_logout_redirect_uris.is_empty());
    assert!(!client.first_party);
    assert_eq!(client.backchannel_logout_uri, None);
    assert!(!client.backchannel_logout_session_required);
    assert!(!client.require_2fa);
    assert_eq!((client.created_at, client.updated_at), (t0(), t0()));

    let stored = fx.db.find_client(&client.client_id).unwrap().unwrap();
    assert_eq!(shown(&stored), shown(&client));
    assert_eq!(stored.secret_hash, Some(hash));
    assert!(fx.db.find_client("no-such-client").unwrap().is_none());
}

#[test]
fn a_public_client_has_no_secret_and_authenticates_with_none() {
    let fx = fixture();
    let new = NewClient {
        client_type: Some(ClientType::Public),
        redirect_uris: vec!["com.example.app:/oauth2redirect".to_owned()],
        ..web_app("Mobile")
    };
    let (client, secret) = fx.db.create_client(&new, &hasher(), t0()).unwrap();
    assert_eq!(secret, None);
    assert_eq!(client.secret_hash, None);
    assert!(client.is_public());
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::None
    );

    let explicit = NewClient {
        token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
        ..new
    };
    let (again, _) = fx.db.create_client(&explicit, &hasher(), t0()).unwrap();
    let stored = fx.db.find_client(&again.client_id).unwrap().unwrap();
    assert_eq!(stored.secret_hash, None);
    assert_eq!(stored.client_type, ClientType::Public);
    assert_ne!(again.client_id, client.client_id);
}

#[test]
fn every_field_round_trips_including_json_that_needs_escaping() {
    let fx = fixture();
    let new = NewClient {
        org_id: None,
        resources: Vec::new(),
        exchange_audiences: Vec::new(),
        allow_impersonation: false,
        name: "Ünïcode \"quoted\" name".to_owned(),
        client_type: Some(ClientType::Confidential),
        redirect_uris: vec![
            "https://app.example.com/cb?q=\"x\"&back=\\".to_owned(),
            "http://127.0.0.1:8080/cb".to_owned(),
            "https://app.example.com/cb?q=\"x\"&back=\\".to_owned(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".to_owned()],
        grant_types: vec![
            GrantType::ClientCredentials,
            GrantType::AuthorizationCode,
            GrantType::ClientCredentials,
        ],
        scopes: vec![
            "openid".to_owned(),
            "api:read".to_owned(),
            "!#[]~".to_owned(),
        ],
        token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
        id_token_signed_response_alg: Some("ES256".to_owned()),
        first_party: true,
        backchannel_logout_uri: Some("https://app.example.com/bcl?q=\"x\"".to_owned()),
        backchannel_logout_session_required: true,
        require_2fa: true,
    };
    let (client, _) = fx.db.create_client(&new, &hasher(), t0()).unwrap();
    assert_eq!(
        client.redirect_uris,
        [
            "https://app.example.com/cb?q=\"x\"&back=\\",
            "http://127.0.0.1:8080/cb"
        ],
        "kept as written, repeats dropped"
    );
    assert_eq!(
        client.grant_types,
        [GrantType::ClientCredentials, GrantType::AuthorizationCode]
    );
    assert_eq!(client.scopes, ["openid", "api:read", "!#[]~"]);

    let stored = fx.db.find_client(&client.client_id).unwrap().unwrap();
    assert_eq!(shown(&stored), shown(&client));
    assert_eq!(stored.name, new.name);
    assert_eq!(
        stored.post_logout_redirect_uris,
        new.post_logout_redirect_uris
    );
    assert_eq!(
        stored.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretPost
    );
    assert_eq!(stored.id_token_signed_response_alg, "ES256");
    assert!(stored.first_party);
    assert_eq!(stored.backchannel_logout_uri, new.backchannel_logout_uri);
    assert!(stored.backchannel_logout_session_required);
    assert!(stored.require_2fa);
    let json = shown(&stored);
    assert_eq!(
        json["backchannel_logout_uri"],
        "https://app.example.com/bcl?q=\"x\""
    );
    assert_eq!(json["backchannel_logout_session_required"], true);
    assert_eq!(json["require_2fa"], true);

    // The columns hold JSON arrays of the wire names, readable by anything.
    let (grants, uris): (String, String) = clients::table
        .find(&client.client_id)
        .select((clients::grant_types, clients::redirect_uris))
        .first(&mut *fx.db.conn().unwrap())
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&grants).unwrap(),
        serde_json::json!(["client_credentials", "authorization_code"])
    );
    assert_eq!(
        serde_json::from_str::<Vec<String>>(&uris).unwrap(),
        stored.redirect_uris
    );
}

#[test]
fn a_client_credentials_client_needs_no_redirect_uri() {
    let fx = fixture();
    let new = NewClient {
        name: "Batch job".to_owned(),
        grant_types: vec![GrantType::ClientCredentials],
        ..NewClient::default()
    };
    let (client, secret) = fx.db.create_client(&new, &hasher(), t0()).unwrap();
    assert!(secret.is_some());
    assert!(client.redirect_uris.is_empty());
    assert!(client.allows_grant(GrantType::ClientCredentials));
}

#[test]
fn each_invalid_field_is_named_and_nothing_is_written() {
    let fx = fixture();
    let valid = web_app("valid");
    let public = NewClient {
        client_type: Some(ClientType::Public),
        ..valid.clone()
    };
    let cases: Vec<(NewClient, &str)> = vec![
        (web_app(""), "name"),
        (web_app("   "), "name"),
        (web_app(&"n".repeat(101)), "name"),
        (web_app("tab\tname"), "name"),
        (
            NewClient {
                redirect_uris: vec![],
                ..valid.clone()
            },
            "redirect_uris",
        ),
        (
            NewClient {
                redirect_uris: vec!["/relative/callback".to_owned()],
                ..valid.clone()
            },
            "redirect_uris",
        ),
        (
            NewClient {
                redirect_uris: vec![
                    "https://app.example.com/ok".to_owned(),
                    "https://app.example.com/cb#fragment".to_owned(),
                ],
                ..valid.clone()
            },
            "redirect_uris",
        ),
        (
            NewClient {
                redirect_uris: vec!["myapp:/callback".to_owned()],
                ..valid.clone()
            },
            "redirect_uris",
        ),
        (
            NewClient {
                redirect_uris: vec!["javascript:alert(1)".to_owned()],
                ..valid.clone()
            },
            "redirect_uris",
        ),
        (
            NewClient {
                post_logout_redirect_uris: vec!["https://app.example.com/bye#x".to_owned()],
                ..valid.clone()
            },
            "post_logout_redirect_uris",
        ),
        (
            NewClient {
                post_logout_redirect_uris: vec!["bye".to_owned()],
                ..valid.clone()
            },
            "post_logout_redirect_uris",
        ),
        (
            NewClient {
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretBasic),
                ..public.clone()
            },
            "token_endpoint_auth_method",
        ),
        (
            NewClient {
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
                ..public.clone()
            },
            "token_endpoint_auth_method",
        ),
        (
            NewClient {
                token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
                ..valid.clone()
            },
            "token_endpoint_auth_method",
        ),
        (
            NewClient {
                grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
                ..public.clone()
            },
            "grant_types",
        ),
        (
            NewClient {
                scopes: vec!["openid".to_owned(), String::new()],
                ..valid.clone()
            },
            "scopes",
        ),
        (
            NewClient {
                scopes: vec!["openid profile".to_owned()],
                ..valid.clone()
            },
            "scopes",
        ),
        (
            NewClient {
                scopes: vec!["say\"what".to_owned()],
                ..valid.clone()
            },
            "scopes",
        ),
        (
            NewClient {
                id_token_signed_response_alg: Some("HS256".to_owned()),
                ..valid.clone()
            },
            "id_token_signed_response_alg",
        ),
        (
            NewClient {
                id_token_signed_response_alg: Some("none".to_owned()),
                ..valid.clone()
            },
            "id_token_signed_response_alg",
        ),
        (
            NewClient {
                backchannel_logout_uri: Some("http://rp.example.com/logout".to_owned()),
                ..valid.clone()
            },
            "backchannel_logout_uri",
        ),
        (
            NewClient {
                backchannel_logout_uri: Some("https://rp.example.com/logout#x".to_owned()),
                ..valid.clone()
            },
            "backchannel_logout_uri",
        ),
        (
            NewClient {
                backchannel_logout_uri: Some("logout".to_owned()),
                ..valid.clone()
            },
            "backchannel_logout_uri",
        ),
        (
            NewClient {
                backchannel_logout_session_required: true,
                ..valid.clone()
            },
            "backchannel_logout_session_required",
        ),
    ];
    for (input, expected) in cases {
        let label = format!("{input:?}");
        match fx.db.create_client(&input, &hasher(), t0()) {
            Err(err @ ClientError::Invalid { field, .. }) => {
                assert_eq!(field, expected, "{label}");
                assert!(
                    err.to_string().starts_with(&format!("{expected}: ")),
                    "{err}"
                );
            }
            other => panic!("{label}: expected Invalid({expected}), got {other:?}"),
        }
    }
    assert_nothing_written(&fx);

    // The boundaries themselves pass.
    fx.db
        .create_client(&web_app(&"n".repeat(100)), &hasher(), t0())
        .unwrap();
    fx.db.create_client(&web_app("n"), &hasher(), t0()).unwrap();
}

#[test]
fn the_offending_uri_is_quoted_in_the_message() {
    let fx = fixture();
    let new = NewClient {
        redirect_uris: vec!["https://app.example.com/cb#frag".to_owned()],
        ..web_app("quoted")
    };
    let err = fx.db.create_client(&new, &hasher(), t0()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`https://app.example.com/cb#frag`"),
        "{message}"
    );
    assert!(message.contains("fragment"), "{message}");
}

#[test]
fn clients_are_listed_by_name_then_id() {
    let fx = fixture();
    let mut ids = Vec::new();
    for name in ["charlie", "alpha", "bravo", "alpha"] {
        let (client, _) = fx
            .db
            .create_client(&web_app(name), &hasher(), t0())
            .unwrap();
        ids.push((name, client.client_id));
    }
    ids.sort();
    let listed: Vec<(String, String)> = fx
        .db
        .list_clients()
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.client_id))
        .collect();
    let expected: Vec<(String, String)> = ids
        .into_iter()
        .map(|(name, id)| (name.to_owned(), id))
        .collect();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn deleting_a_client_deletes_its_consents() {
    let fx = fixture();
    let user = fx
        .accounts
        .register(registration("owner"), &[], &ctx(), t0())
        .await
        .unwrap();
    let (doomed, _) = fx
        .db
        .create_client(&web_app("doomed"), &hasher(), t0())
        .unwrap();
    let (kept, _) = fx
        .db
        .create_client(&web_app("kept"), &hasher(), t0())
        .unwrap();
    let scopes = vec!["openid".to_owned()];
    fx.db
        .grant_consent(user.id, &doomed.client_id, &scopes, t0())
        .unwrap();
    fx.db
        .grant_consent(user.id, &kept.client_id, &scopes, t0())
        .unwrap();

    assert!(fx.db.delete_client(&doomed.client_id).unwrap());
    assert!(
        !fx.db.delete_client(&doomed.client_id).unwrap(),
        "already gone"
    );
    assert!(fx.db.find_client(&doomed.client_id).unwrap().is_none());
    assert_eq!(
        fx.db.find_consent(user.id, &doomed.client_id).unwrap(),
        None
    );

    let left: Vec<String> = fx
        .db
        .list_consents(user.id)
        .unwrap()
        .into_iter()
        .map(|(client_id, _, _)| client_id)
        .collect();
    assert_eq!(left, [kept.client_id]);
    assert_eq!(fx.db.list_clients().unwrap().len(), 1);
}

#[test]
fn serialization_never_includes_the_secret_hash() {
    let fx = fixture();
    let (client, secret) = fx
        .db
        .create_client(&web_app("shown"), &hasher(), t0())
        .unwrap();
    let json = shown(&client);
    let text = json.to_string();
    assert!(json.get("secret_hash").is_none(), "{text}");
    assert!(!text.contains("hmac-sha256"), "{text}");
    assert!(!text.contains(&secret.unwrap()), "{text}");
    assert_eq!(json["client_type"], "confidential");
    assert_eq!(json["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        json["grant_types"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
}

/// The schema holds the secret-versus-type rule even against code that skips validation.
#[test]
fn the_schema_refuses_a_public_client_with_a_secret_and_vice_versa() {
    let fx = fixture();
    let (confidential, _) = fx
        .db
        .create_client(&web_app("template"), &hasher(), t0())
        .unwrap();
    let mut conn = fx.db.conn().unwrap();

    let public_with_secret = Client {
        client_id: "public-with-secret".to_owned(),
        client_type: ClientType::Public,
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        ..confidential.clone()
    };
    assert!(crate::clients::insert(&mut conn, &public_with_secret).is_err());

    let confidential_without = Client {
        client_id: "confidential-without".to_owned(),
        secret_hash: None,
        ..confidential.clone()
    };
    assert!(crate::clients::insert(&mut conn, &confidential_without).is_err());

    let confidential_with_none = Client {
        client_id: "confidential-none".to_owned(),
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        ..confidential
    };
    assert!(crate::clients::insert(&mut conn, &confidential_with_none).is_err());
    drop(conn);
    assert_eq!(fx.db.list_clients().unwrap().len(), 1);
}
