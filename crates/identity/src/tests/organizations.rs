//! Organisations: the slug rule, unique slugs, finding by id or slug, edits, memberships (an
//! upsert of the role), the counts the admin lists show, and a delete refused while clients
//! belong to the organisation.

use super::clients::{hasher, web_app};
use super::{Fixture, ctx, fixture, registration, t0};
use crate::organizations::{
    self as orgs, NewOrganization, OrgError, OrgRole, Organization, OrganizationPatch,
};
use crate::{NewClient, User};

fn new(slug: &str, name: &str) -> NewOrganization {
    NewOrganization {
        slug: slug.to_owned(),
        name: name.to_owned(),
    }
}

fn acme(fx: &Fixture) -> Organization {
    orgs::create(&fx.db, &new("acme", "Acme Corp"), t0()).unwrap()
}

async fn user(fx: &Fixture, username: &str) -> User {
    fx.accounts
        .register(registration(username), &[], &ctx(), t0())
        .await
        .unwrap()
}

#[test]
fn slugs_are_short_lowercase_words_never_shaped_like_an_id() {
    for good in ["ab", "acme", "acme-eu-2", "0day", &"a".repeat(63)] {
        assert!(orgs::validate_slug(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "a",
        "Acme",
        "acme corp",
        "-acme",
        "acme-",
        "acme_eu",
        "acmé",
        &"a".repeat(64),
        // A UUID would be read as an id wherever either is accepted.
        "0b8f5c1e-6f3a-4d2b-9a51-7c0e2d9f4a10",
    ] {
        assert!(orgs::validate_slug(bad).is_err(), "{bad:?}");
    }
    let fx = fixture();
    for (slug, name, field) in [
        ("Acme", "Acme", "slug"),
        ("0b8f5c1e-6f3a-4d2b-9a51-7c0e2d9f4a10", "Acme", "slug"),
        ("acme", "", "name"),
        ("acme", "   ", "name"),
        ("acme", "Acme\u{7}", "name"),
        ("acme", &"n".repeat(101), "name"),
    ] {
        match orgs::create(&fx.db, &new(slug, name), t0()) {
            Err(OrgError::Invalid { field: named, .. }) => assert_eq!(named, field, "{slug}"),
            other => panic!("{slug:?}/{name:?}: {other:?}"),
        }
    }
    assert!(orgs::list(&fx.db).unwrap().is_empty(), "nothing written");
}

#[test]
fn a_slug_is_unique_and_names_the_organisation_as_its_id_does() {
    let fx = fixture();
    let created = acme(&fx);
    assert!(created.enabled);
    assert!(matches!(
        orgs::create(&fx.db, &new("acme", "Another Acme"), t0()),
        Err(OrgError::SlugTaken)
    ));
    assert_eq!(orgs::list(&fx.db).unwrap(), vec![created.clone()]);

    assert_eq!(orgs::find(&fx.db, "acme").unwrap().as_ref(), Some(&created));
    let by_id = orgs::find(&fx.db, &created.id.to_string()).unwrap();
    assert_eq!(by_id.as_ref(), Some(&created));
    for unknown in [
        "globex",
        "ACME",
        "a/b",
        "",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        assert_eq!(orgs::find(&fx.db, unknown).unwrap(), None, "{unknown:?}");
    }
}

#[test]
fn an_edit_renames_and_switches_and_leaves_the_slug() {
    let fx = fixture();
    let created = acme(&fx);
    let later = t0() + chrono::Duration::minutes(5);
    let patch = OrganizationPatch {
        name: Some("Acme Europe".to_owned()),
        enabled: Some(false),
    };
    let edited = orgs::update(&fx.db, created.id, &patch, later)
        .unwrap()
        .unwrap();
    assert_eq!(edited.name, "Acme Europe");
    assert!(!edited.enabled);
    assert_eq!(edited.slug, "acme");
    assert_eq!(edited.updated_at, later);
    assert_eq!(edited.created_at, created.created_at);
    assert_eq!(orgs::find(&fx.db, "acme").unwrap(), Some(edited));

    let blank = OrganizationPatch {
        name: Some(" ".to_owned()),
        enabled: None,
    };
    assert!(matches!(
        orgs::update(&fx.db, created.id, &blank, later),
        Err(OrgError::Invalid { field: "name", .. })
    ));
    assert_eq!(
        orgs::update(&fx.db, uuid::Uuid::new_v4(), &patch, later).unwrap(),
        None
    );
}

#[tokio::test]
async fn adding_a_member_again_changes_the_role() {
    let fx = fixture();
    let org = acme(&fx);
    let alice = user(&fx, "alice").await;
    let bob = user(&fx, "bob").await;

    assert!(orgs::add_member(&fx.db, org.id, bob.id, OrgRole::Member, t0()).unwrap());
    assert!(orgs::add_member(&fx.db, org.id, alice.id, OrgRole::Member, t0()).unwrap());
    let later = t0() + chrono::Duration::hours(1);
    assert!(orgs::add_member(&fx.db, org.id, alice.id, OrgRole::OrgAdmin, later).unwrap());

    let members = orgs::members(&fx.db, org.id).unwrap();
    let shown: Vec<(&str, OrgRole)> = members
        .iter()
        .map(|m| (m.username.as_str(), m.role))
        .collect();
    assert_eq!(
        shown,
        [("alice", OrgRole::OrgAdmin), ("bob", OrgRole::Member)],
        "once each, by username"
    );
    assert_eq!(
        members[0].since,
        t0(),
        "a role change keeps the membership's date"
    );
    assert_eq!(
        orgs::role_of(&fx.db, org.id, alice.id).unwrap(),
        Some(OrgRole::OrgAdmin)
    );
    let memberships = orgs::memberships_of(&fx.db, alice.id).unwrap();
    assert_eq!(memberships.len(), 1);
    assert_eq!(memberships[0].organization.slug, "acme");

    // Unknown organisation or user: nothing written.
    assert!(
        !orgs::add_member(&fx.db, uuid::Uuid::new_v4(), bob.id, OrgRole::Member, t0()).unwrap()
    );
    assert!(
        !orgs::add_member(&fx.db, org.id, uuid::Uuid::new_v4(), OrgRole::Member, t0()).unwrap()
    );
    assert_eq!(orgs::members(&fx.db, org.id).unwrap().len(), 2);

    assert!(orgs::remove_member(&fx.db, org.id, bob.id).unwrap());
    assert!(!orgs::remove_member(&fx.db, org.id, bob.id).unwrap());
    assert_eq!(orgs::role_of(&fx.db, org.id, bob.id).unwrap(), None);

    let summary = orgs::summary(&fx.db, "acme").unwrap().unwrap();
    assert_eq!((summary.members, summary.clients), (1, 0));
}

#[tokio::test]
async fn an_organisation_with_clients_is_not_deleted() {
    let fx = fixture();
    let org = acme(&fx);
    let other = orgs::create(&fx.db, &new("globex", "Globex"), t0()).unwrap();
    let alice = user(&fx, "alice").await;
    assert!(orgs::add_member(&fx.db, org.id, alice.id, OrgRole::Member, t0()).unwrap());
    let in_org = NewClient {
        org_id: Some(org.id.to_string()),
        ..web_app("Acme portal")
    };
    let (client, _) = fx.db.create_client(&in_org, &hasher(), t0()).unwrap();
    fx.db
        .create_client(&web_app("Global app"), &hasher(), t0())
        .unwrap();

    assert_eq!(
        orgs::client_ids(&fx.db, org.id).unwrap(),
        [client.client_id.as_str()]
    );
    let listed = orgs::clients(&fx.db, org.id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "Acme portal");
    let summaries = orgs::summaries(&fx.db).unwrap();
    let counts: Vec<(&str, i64, i64)> = summaries
        .iter()
        .map(|s| (s.organization.slug.as_str(), s.members, s.clients))
        .collect();
    assert_eq!(counts, [("acme", 1, 1), ("globex", 0, 0)]);

    assert!(matches!(
        orgs::delete(&fx.db, org.id),
        Err(OrgError::HasClients(1))
    ));
    assert!(orgs::find(&fx.db, "acme").unwrap().is_some());
    assert_eq!(
        orgs::members(&fx.db, org.id).unwrap().len(),
        1,
        "nothing removed"
    );

    assert!(fx.db.delete_client(&client.client_id).unwrap());
    assert!(orgs::delete(&fx.db, org.id).unwrap());
    assert_eq!(orgs::find(&fx.db, "acme").unwrap(), None);
    assert!(orgs::memberships_of(&fx.db, alice.id).unwrap().is_empty());
    assert!(!orgs::delete(&fx.db, org.id).unwrap(), "already gone");
    assert!(orgs::find(&fx.db, "globex").unwrap().is_some());
    assert!(orgs::delete(&fx.db, other.id).unwrap());
}
