//! The admin API's user queries: the list (order, cursor, search, filters, totals) and the
//! changes with their last-admin backstop.

use super::{Fixture, PASSWORD, ctx, fixture, t0};
use crate::admin::users::{
    AdminUserError, UserChanges, UserCursor, UserFilter, delete_user, find_user, list_users,
    lock_user, other_active_admins, set_user_roles, unlock_user, update_user,
};
use crate::{Email, LoginError, Registration, Role, User, UserStatus};

fn create(fx: &Fixture, username: &str, email: &str, roles: &[Role]) -> User {
    let input = Registration {
        username: username.to_owned(),
        email: email.to_owned(),
        password: PASSWORD.to_owned(),
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(fx.accounts.register(input, roles, &ctx(), t0()))
        .unwrap()
}

fn names(fx: &Fixture, filter: &UserFilter) -> (Vec<String>, i64) {
    let page = list_users(&fx.db, filter, None, 200).unwrap();
    (
        page.users.into_iter().map(|s| s.user.username).collect(),
        page.total,
    )
}

fn search(text: &str) -> UserFilter {
    UserFilter {
        search: Some(text.to_owned()),
        ..UserFilter::default()
    }
}

#[test]
fn pages_follow_lower_username_and_the_cursor_continues_exactly() {
    let fx = fixture();
    for name in ["delta", "Alpha", "charlie", "Echo", "bravo"] {
        create(
            &fx,
            name,
            &format!("{}@example.com", name.to_lowercase()),
            &[],
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<UserCursor> = None;
    let mut pages = 0;
    loop {
        let page = list_users(&fx.db, &UserFilter::default(), cursor.as_ref(), 2).unwrap();
        assert_eq!(page.total, 5, "total counts every page");
        pages += 1;
        seen.extend(page.users.iter().map(|s| s.user.username.clone()));
        match page.next {
            Some(next) => {
                // The cursor survives its opaque form.
                cursor = Some(UserCursor::decode(&next.encode()).unwrap());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["Alpha", "bravo", "charlie", "delta", "Echo"]);

    // A cursor past the end: nothing, and no next page.
    let past = UserCursor {
        key: "zzzz".into(),
        id: uuid::Uuid::nil(),
    };
    let page = list_users(&fx.db, &UserFilter::default(), Some(&past), 2).unwrap();
    assert!(page.users.is_empty());
    assert!(page.next.is_none());
    assert_eq!(page.total, 5);
}

#[test]
fn search_is_a_case_insensitive_prefix_of_username_or_email() {
    let fx = fixture();
    create(&fx, "abcdef", "first@example.com", &[]);
    create(&fx, "xyz", "ABCmail@example.com", &[]);
    create(&fx, "zabc", "other@example.com", &[]);
    create(&fx, "a_b", "under@example.com", &[]);
    create(&fx, "axb", "axb@example.com", &[]);

    assert_eq!(
        names(&fx, &search("abc")),
        (vec!["abcdef".into(), "xyz".into()], 2)
    );
    assert_eq!(
        names(&fx, &search("ABC")),
        (vec!["abcdef".into(), "xyz".into()], 2)
    );
    // An infix does not match.
    assert_eq!(names(&fx, &search("bcd")), (vec![], 0));
    // `_` is a character, not a wildcard.
    assert_eq!(names(&fx, &search("a_")), (vec!["a_b".into()], 1));
    assert_eq!(names(&fx, &search("%")), (vec![], 0));
    assert_eq!(names(&fx, &search("OTHER@")), (vec!["zabc".into()], 1));
    // Text no account can have matches nothing, without an error.
    assert_eq!(names(&fx, &search("a\0")), (vec![], 0));
    // An empty search is no search.
    assert_eq!(names(&fx, &search("")).1, 5);
}

#[test]
fn status_and_role_filters_narrow_items_and_total() {
    let fx = fixture();
    let admin = create(&fx, "root", "root@example.com", &[Role::Admin]);
    let helper = create(
        &fx,
        "helper",
        "helper@example.com",
        &[Role::UserAdmin, Role::Auditor],
    );
    let locked = create(&fx, "locked", "locked@example.com", &[Role::Auditor]);
    create(&fx, "plain", "plain@example.com", &[]);
    lock_user(&fx.db, locked.id, None, t0()).unwrap().unwrap();

    let by_role = |role| UserFilter {
        role: Some(role),
        ..UserFilter::default()
    };
    assert_eq!(
        names(&fx, &by_role(Role::Auditor)),
        (vec!["helper".into(), "locked".into()], 2)
    );
    assert_eq!(names(&fx, &by_role(Role::Admin)), (vec!["root".into()], 1));
    let locked_auditors = UserFilter {
        status: Some(UserStatus::Locked),
        role: Some(Role::Auditor),
        ..UserFilter::default()
    };
    assert_eq!(names(&fx, &locked_auditors), (vec!["locked".into()], 1));
    let active = UserFilter {
        status: Some(UserStatus::Active),
        ..UserFilter::default()
    };
    assert_eq!(names(&fx, &active).1, 3);

    let summary = find_user(&fx.db, helper.id).unwrap().unwrap();
    assert_eq!(summary.roles, [Role::Auditor, Role::UserAdmin]);
    assert!(!summary.totp_enabled);
    assert!(find_user(&fx.db, uuid::Uuid::new_v4()).unwrap().is_none());
    assert_eq!(other_active_admins(&fx.db, admin.id).unwrap(), 0);
    assert_eq!(other_active_admins(&fx.db, helper.id).unwrap(), 1);
}

#[test]
fn lock_refuses_sign_in_and_unlock_restores_it() {
    let fx = fixture();
    let user = create(&fx, "carol", "carol@example.com", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sign_in = || rt.block_on(fx.accounts.authenticate("carol", PASSWORD, &ctx(), t0()));

    let locked = lock_user(&fx.db, user.id, None, t0()).unwrap().unwrap();
    assert_eq!(locked.status, UserStatus::Locked);
    assert_eq!(locked.locked_until, None);
    assert!(matches!(sign_in(), Err(LoginError::InvalidCredentials)));

    let unlocked = unlock_user(&fx.db, user.id, t0()).unwrap().unwrap();
    assert_eq!(unlocked.status, UserStatus::Active);
    assert_eq!(unlocked.failed_logins, 0);
    assert!(sign_in().is_ok());
    assert!(
        unlock_user(&fx.db, uuid::Uuid::new_v4(), t0())
            .unwrap()
            .is_none()
    );
}

#[test]
fn updates_change_address_verification_and_status() {
    let fx = fixture();
    let user = create(&fx, "dave", "dave@example.com", &[]);
    create(&fx, "erin", "erin@example.com", &[]);

    let changes = UserChanges {
        email: Some(Email::parse("Erin@Example.com").unwrap()),
        ..UserChanges::default()
    };
    assert!(matches!(
        update_user(&fx.db, user.id, &changes, t0()),
        Err(AdminUserError::Duplicate("email"))
    ));
    let changes = UserChanges {
        email: Some(Email::parse("dave2@example.com").unwrap()),
        email_verified: Some(true),
        status: Some(UserStatus::Disabled),
    };
    let updated = update_user(&fx.db, user.id, &changes, t0())
        .unwrap()
        .unwrap();
    assert_eq!(updated.email, "dave2@example.com");
    assert!(updated.email_verified);
    assert_eq!(updated.status, UserStatus::Disabled);
    // Unlocking leaves a disabled account disabled; `active` enables it.
    assert_eq!(
        unlock_user(&fx.db, user.id, t0()).unwrap().unwrap().status,
        UserStatus::Disabled
    );
    let enable = UserChanges {
        status: Some(UserStatus::Active),
        ..UserChanges::default()
    };
    assert_eq!(
        update_user(&fx.db, user.id, &enable, t0())
            .unwrap()
            .unwrap()
            .status,
        UserStatus::Active
    );
}

#[test]
fn the_last_active_admin_is_kept_by_every_change() {
    let fx = fixture();
    let root = create(&fx, "root", "root@example.com", &[Role::Admin]);
    let disable = UserChanges {
        status: Some(UserStatus::Disabled),
        ..UserChanges::default()
    };
    assert!(matches!(
        set_user_roles(&fx.db, root.id, &[Role::UserAdmin], t0()),
        Err(AdminUserError::LastAdmin)
    ));
    assert!(matches!(
        lock_user(&fx.db, root.id, None, t0()),
        Err(AdminUserError::LastAdmin)
    ));
    assert!(matches!(
        update_user(&fx.db, root.id, &disable, t0()),
        Err(AdminUserError::LastAdmin)
    ));
    assert!(matches!(
        delete_user(&fx.db, root.id),
        Err(AdminUserError::LastAdmin)
    ));
    assert_eq!(
        find_user(&fx.db, root.id).unwrap().unwrap().roles,
        [Role::Admin]
    );

    // With a second active admin, each goes through.
    let second = create(&fx, "second", "second@example.com", &[Role::Admin]);
    assert_eq!(
        set_user_roles(
            &fx.db,
            root.id,
            &[Role::Auditor, Role::UserAdmin, Role::Auditor],
            t0()
        )
        .unwrap()
        .unwrap(),
        [Role::Auditor, Role::UserAdmin]
    );
    // Now `second` is the last one.
    assert!(matches!(
        delete_user(&fx.db, second.id),
        Err(AdminUserError::LastAdmin)
    ));
    let deleted = delete_user(&fx.db, root.id).unwrap().unwrap();
    assert_eq!(deleted.username, "root");
    assert!(find_user(&fx.db, root.id).unwrap().is_none());
    assert!(delete_user(&fx.db, root.id).unwrap().is_none());
    assert_eq!(set_user_roles(&fx.db, root.id, &[], t0()).unwrap(), None);
}

/// An organisation narrows the page, the search and the total to its members (organisation
/// admins' lists), in SQL.
#[test]
fn an_organisation_narrows_the_list_search_and_total_to_its_members() {
    use crate::organizations::{self, NewOrganization, OrgRole};
    let fx = fixture();
    let new_org = |slug: &str| {
        organizations::create(
            &fx.db,
            &NewOrganization {
                slug: slug.to_owned(),
                name: slug.to_owned(),
            },
            t0(),
        )
        .unwrap()
    };
    let (a, b) = (new_org("org-a"), new_org("org-b"));
    let anna = create(&fx, "anna", "anna@a.example", &[]);
    let amos = create(&fx, "amos", "amos@a.example", &[Role::Auditor]);
    let abby = create(&fx, "abby", "abby@b.example", &[]);
    create(&fx, "alone", "alone@example.com", &[]);
    for (org, user) in [(&a, &anna), (&a, &amos), (&b, &abby), (&b, &amos)] {
        assert!(organizations::add_member(&fx.db, org.id, user.id, OrgRole::Member, t0()).unwrap());
    }
    let in_a = |filter: UserFilter| UserFilter {
        organization: Some(a.id),
        ..filter
    };
    assert_eq!(
        names(&fx, &in_a(UserFilter::default())),
        (vec!["amos".into(), "anna".into()], 2)
    );
    assert_eq!(
        names(&fx, &in_a(search("ab"))),
        (Vec::<String>::new(), 0),
        "abby is B's"
    );
    assert_eq!(names(&fx, &in_a(search("a"))).1, 2);
    assert_eq!(
        names(
            &fx,
            &in_a(UserFilter {
                role: Some(Role::Auditor),
                ..UserFilter::default()
            })
        ),
        (vec!["amos".into()], 1)
    );
    assert_eq!(
        names(
            &fx,
            &in_a(UserFilter {
                status: Some(UserStatus::Active),
                ..UserFilter::default()
            })
        )
        .1,
        2,
        "not the global counters"
    );
    let page = list_users(&fx.db, &in_a(UserFilter::default()), None, 1).unwrap();
    assert_eq!(page.total, 2);
    let rest = list_users(&fx.db, &in_a(UserFilter::default()), page.next.as_ref(), 1).unwrap();
    assert_eq!(rest.users[0].user.username, "anna");
    assert!(rest.next.is_none());
    let counts = crate::admin::audit::count_org_users_by_status(&fx.db, b.id, t0()).unwrap();
    assert_eq!((counts.total, counts.active), (2, 2));
}
