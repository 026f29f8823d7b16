//! The admin API's client queries: the list (order, keyset pages, totals, search), edits under
//! the rules of a new registration, enabling and disabling, and secret rotation.

use super::clients::{hasher, web_app};
use super::{fixture, t0};
use crate::admin::clients::{self, ClientCursor, ClientListQuery, ClientPatch, SecretRotation};
use crate::{ClientError, ClientType, GrantType, NewClient, Role};

fn query(limit: u32, after: Option<ClientCursor>, search: Option<&str>) -> ClientListQuery {
    ClientListQuery {
        limit,
        after,
        search: search.map(str::to_owned),
        organization: None,
    }
}

fn names(page: &clients::ClientPage) -> Vec<String> {
    page.items.iter().map(|c| c.client.name.clone()).collect()
}

#[test]
fn the_list_is_ordered_by_name_case_insensitively_and_paged_without_gaps() {
    let fx = fixture();
    for name in [
        "beta", "Alpha", "gamma", "alpha", "Delta", "epsilon", "Beta",
    ] {
        fx.db
            .create_client(&web_app(name), &hasher(), t0())
            .unwrap();
    }
    let first = clients::list(&fx.db, &query(3, None, None)).unwrap();
    assert_eq!(first.total, 7);
    assert_eq!(first.items.len(), 3);
    let mut seen = names(&first);
    let mut next = first.next.clone();
    let mut pages = 1;
    while let Some(cursor) = next {
        let cursor = ClientCursor::decode(&cursor.encode()).unwrap();
        let page = clients::list(&fx.db, &query(3, Some(cursor), None)).unwrap();
        assert_eq!(page.total, 7, "the total does not depend on the page");
        seen.extend(names(&page));
        next = page.next.clone();
        pages += 1;
    }
    assert_eq!(pages, 3);
    let lowered: Vec<String> = seen.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(
        lowered,
        [
            "alpha", "alpha", "beta", "beta", "delta", "epsilon", "gamma"
        ]
    );
    // Equal names are ordered by client id, so no row repeats or goes missing across pages.
    let all = clients::list(&fx.db, &query(200, None, None)).unwrap();
    assert_eq!(all.items.len(), 7);
    assert!(all.next.is_none());
    let mut ids: Vec<&str> = all
        .items
        .iter()
        .map(|c| c.client.client_id.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7);
}

#[test]
fn a_page_that_ends_exactly_at_the_last_row_has_no_next_cursor() {
    let fx = fixture();
    for name in ["a", "b"] {
        fx.db
            .create_client(&web_app(name), &hasher(), t0())
            .unwrap();
    }
    let page = clients::list(&fx.db, &query(2, None, None)).unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next.is_none());
    let past = ClientCursor {
        name_key: "zzz".into(),
        client_id: "zzz".into(),
    };
    let empty = clients::list(&fx.db, &query(2, Some(past), None)).unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.total, 2);
}

#[test]
fn search_matches_a_name_prefix_case_insensitively_or_an_exact_id() {
    let fx = fixture();
    let (mail, _) = fx
        .db
        .create_client(&web_app("Mail App"), &hasher(), t0())
        .unwrap();
    fx.db
        .create_client(&web_app("mailroom"), &hasher(), t0())
        .unwrap();
    fx.db
        .create_client(&web_app("Webmail"), &hasher(), t0())
        .unwrap();
    fx.db
        .create_client(&web_app("100%_sure"), &hasher(), t0())
        .unwrap();
    let page = clients::list(&fx.db, &query(50, None, Some("MAIL"))).unwrap();
    assert_eq!(names(&page), ["Mail App", "mailroom"]);
    assert_eq!(page.total, 2);
    let by_id = clients::list(&fx.db, &query(50, None, Some(&mail.client_id))).unwrap();
    assert_eq!(names(&by_id), ["Mail App"]);
    // LIKE metacharacters are literal.
    let literal = clients::list(&fx.db, &query(50, None, Some("100%_"))).unwrap();
    assert_eq!(names(&literal), ["100%_sure"]);
    let none = clients::list(&fx.db, &query(50, None, Some("%"))).unwrap();
    assert_eq!(none.total, 0);
}

#[test]
fn items_carry_their_service_account_roles() {
    let fx = fixture();
    let new = NewClient {
        name: "svc".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["admin".into()],
        ..NewClient::default()
    };
    let (svc, _) = fx
        .db
        .create_client_with_roles(&new, &[Role::UserAdmin, Role::Auditor], &hasher(), t0())
        .unwrap();
    fx.db
        .create_client(&web_app("web"), &hasher(), t0())
        .unwrap();
    let page = clients::list(&fx.db, &query(50, None, None)).unwrap();
    let roles: Vec<Vec<Role>> = page.items.iter().map(|c| c.roles.clone()).collect();
    // Sorted by name, as `Database::client_roles` gives them.
    assert_eq!(roles, [vec![Role::Auditor, Role::UserAdmin], vec![]]);
    let found = clients::find(&fx.db, &svc.client_id).unwrap().unwrap();
    assert_eq!(found.roles, [Role::Auditor, Role::UserAdmin]);
    assert!(clients::find(&fx.db, "nope").unwrap().is_none());
}

#[test]
fn an_edit_is_checked_like_a_registration_and_names_the_field() {
    let fx = fixture();
    let (client, _) = fx
        .db
        .create_client(&web_app("web"), &hasher(), t0())
        .unwrap();
    let refusals = [
        (
            ClientPatch {
                redirect_uris: Some(vec!["https://x.example/cb#frag".into()]),
                ..ClientPatch::default()
            },
            "redirect_uris",
        ),
        (
            ClientPatch {
                name: Some("   ".into()),
                ..ClientPatch::default()
            },
            "name",
        ),
        (
            ClientPatch {
                scopes: Some(vec!["two words".into()]),
                ..ClientPatch::default()
            },
            "scopes",
        ),
        (
            ClientPatch {
                backchannel_logout_uri: Some(Some("http://rp.example.com/bcl".into())),
                ..ClientPatch::default()
            },
            "backchannel_logout_uri",
        ),
        (
            ClientPatch {
                redirect_uris: Some(vec![]),
                ..ClientPatch::default()
            },
            "redirect_uris",
        ),
    ];
    for (patch, field) in refusals {
        match clients::update(&fx.db, &client.client_id, &patch, t0()) {
            Err(ClientError::Invalid { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let unchanged = fx.db.find_client(&client.client_id).unwrap().unwrap();
    assert_eq!(unchanged.redirect_uris, client.redirect_uris);
    assert_eq!(unchanged.name, "web");
}

#[test]
fn an_edit_changes_only_what_it_names_and_can_disable() {
    let fx = fixture();
    let (client, _) = fx
        .db
        .create_client(&web_app("web"), &hasher(), t0())
        .unwrap();
    assert!(client.enabled);
    let later = t0() + chrono::Duration::hours(1);
    let patch = ClientPatch {
        name: Some("Web, renamed".into()),
        redirect_uris: Some(vec![
            "https://app.example.com/cb2".into(),
            "https://app.example.com/cb2".into(),
        ]),
        backchannel_logout_uri: Some(Some("https://app.example.com/bcl".into())),
        require_2fa: Some(true),
        enabled: Some(false),
        ..ClientPatch::default()
    };
    let edited = clients::update(&fx.db, &client.client_id, &patch, later)
        .unwrap()
        .unwrap();
    assert_eq!(edited.client.name, "Web, renamed");
    let stored = fx.db.find_client(&client.client_id).unwrap().unwrap();
    assert_eq!(stored.redirect_uris, ["https://app.example.com/cb2"]);
    assert_eq!(
        stored.backchannel_logout_uri.as_deref(),
        Some("https://app.example.com/bcl")
    );
    assert!(stored.require_2fa);
    assert!(!stored.enabled);
    assert_eq!(stored.scopes, client.scopes);
    assert_eq!(stored.grant_types, client.grant_types);
    assert_eq!(stored.secret_hash, client.secret_hash);
    assert_eq!(stored.created_at, client.created_at);
    assert_eq!(stored.updated_at, later);

    let cleared = ClientPatch {
        backchannel_logout_uri: Some(None),
        enabled: Some(true),
        ..ClientPatch::default()
    };
    clients::update(&fx.db, &client.client_id, &cleared, later).unwrap();
    let stored = fx.db.find_client(&client.client_id).unwrap().unwrap();
    assert_eq!(stored.backchannel_logout_uri, None);
    assert!(stored.enabled);

    assert!(
        clients::update(&fx.db, "unknown", &ClientPatch::default(), later)
            .unwrap()
            .is_none()
    );
}

#[test]
fn rotating_a_secret_replaces_it() {
    let fx = fixture();
    let (client, old) = fx
        .db
        .create_client(&web_app("web"), &hasher(), t0())
        .unwrap();
    let old = old.unwrap();
    let SecretRotation::Rotated(new) =
        clients::rotate_secret(&fx.db, &client.client_id, &hasher(), t0()).unwrap()
    else {
        panic!("a confidential client's secret rotates");
    };
    assert_ne!(new, old);
    let stored = fx.db.find_client(&client.client_id).unwrap().unwrap();
    let hash = stored.secret_hash.unwrap();
    assert!(hasher().verify(&new, &hash));
    assert!(!hasher().verify(&old, &hash));

    let public = NewClient {
        client_type: Some(ClientType::Public),
        ..web_app("spa")
    };
    let (spa, _) = fx.db.create_client(&public, &hasher(), t0()).unwrap();
    assert!(matches!(
        clients::rotate_secret(&fx.db, &spa.client_id, &hasher(), t0()).unwrap(),
        SecretRotation::PublicClient
    ));
    assert!(matches!(
        clients::rotate_secret(&fx.db, "unknown", &hasher(), t0()).unwrap(),
        SecretRotation::NotFound
    ));
}

#[test]
fn an_organisation_narrows_the_client_list_and_its_total() {
    use crate::organizations::{self, NewOrganization};
    let fx = fixture();
    let org = organizations::create(
        &fx.db,
        &NewOrganization {
            slug: "org-a".into(),
            name: "A".into(),
        },
        t0(),
    )
    .unwrap();
    let register = |name: &str, org_id: Option<String>| {
        let new = NewClient {
            name: name.to_owned(),
            redirect_uris: vec!["https://rp.example/cb".into()],
            org_id,
            ..NewClient::default()
        };
        fx.db
            .create_client(&new, &hasher(), t0())
            .unwrap()
            .0
            .client_id
    };
    let mine = register("Alpha", Some(org.id.to_string()));
    register("Beta", None);
    let page = clients::list(
        &fx.db,
        &ClientListQuery {
            organization: Some(org.id),
            ..query(50, None, None)
        },
    )
    .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].client.client_id, mine);
    let searched = clients::list(
        &fx.db,
        &ClientListQuery {
            organization: Some(org.id),
            ..query(50, None, Some("Beta"))
        },
    )
    .unwrap();
    assert_eq!(searched.total, 0);
}
