//! Exact numbers of users by stored status, read from the counters that migration
//! `2026-11-30-000009_user_counts` keeps with triggers (in the transaction of every insert,
//! delete and change of status of `users`, spread over up to 16 slot rows on Postgres so that
//! concurrent sign-ups do not queue on one row). Reading them costs a few rows whatever the
//! number of users, where `count(*)` reads every row: this is how the admin list's `total`
//! stays cheap on a million users when nothing but the status narrows it.

use diesel::prelude::*;

use crate::UserStatus;
use crate::db::DbConnection;
use crate::schema::user_counts;

/// Users by the status stored in their row (a lock whose time ran out still counts as
/// `locked`, as the list's status filter sees it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub active: i64,
    pub locked: i64,
    pub disabled: i64,
}

impl StatusCounts {
    /// Every user.
    pub fn total(&self) -> i64 {
        self.active + self.locked + self.disabled
    }

    /// Users with `status`; every user without one.
    pub fn matching(&self, status: Option<UserStatus>) -> i64 {
        match status {
            None => self.total(),
            Some(UserStatus::Active) => self.active,
            Some(UserStatus::Locked) => self.locked,
            Some(UserStatus::Disabled) => self.disabled,
        }
    }
}

/// The sum of the counter slots, in one statement (one snapshot).
pub(crate) fn status_counts(conn: &mut DbConnection) -> QueryResult<StatusCounts> {
    let slots: Vec<(i64, i64, i64)> = user_counts::table
        .select((
            user_counts::active,
            user_counts::locked,
            user_counts::disabled,
        ))
        .load(conn)?;
    Ok(slots.into_iter().fold(
        StatusCounts::default(),
        |sum, (active, locked, disabled)| StatusCounts {
            active: sum.active + active,
            locked: sum.locked + locked,
            disabled: sum.disabled + disabled,
        },
    ))
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::admin::users::{
        UserChanges, UserFilter, delete_user, list_users, lock_user, unlock_user, update_user,
    };
    use crate::schema::users;
    use crate::tests::{Fixture, ctx, fixture, registration, t0};
    use crate::{Backend, IdentityError, User};

    /// The counters, and the same numbers counted row by row.
    fn counted_both_ways(fx: &Fixture) -> (StatusCounts, StatusCounts) {
        fx.db
            .read(|conn| {
                let mut by_status = |status: UserStatus| {
                    users::table
                        .filter(users::status.eq(status.as_str()))
                        .count()
                        .get_result::<i64>(conn)
                };
                let rows = StatusCounts {
                    active: by_status(UserStatus::Active)?,
                    locked: by_status(UserStatus::Locked)?,
                    disabled: by_status(UserStatus::Disabled)?,
                };
                Ok((status_counts(conn)?, rows))
            })
            .unwrap()
    }

    #[track_caller]
    fn assert_counts(fx: &Fixture, active: i64, locked: i64, disabled: i64) {
        let (counters, rows) = counted_both_ways(fx);
        let expected = StatusCounts {
            active,
            locked,
            disabled,
        };
        assert_eq!(rows, expected, "the rows themselves");
        assert_eq!(counters, expected, "the counters");
    }

    fn register(fx: &Fixture, username: &str) -> User {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(
                fx.accounts
                    .register(registration(username), &[], &ctx(), t0()),
            )
            .unwrap()
    }

    /// A row for [`insert_many`] and friends: `(id, username, email, …)`.
    fn user_values(username: &str, status: UserStatus) -> String {
        format!(
            "('{id}', '{username}', '{username}@example.com', 'not a hash', '{status}', \
             '2030-06-01 09:00:00', '2030-06-01 09:00:00')",
            id = uuid::Uuid::new_v4(),
            status = status.as_str()
        )
    }

    const INSERT_USERS: &str = concat!(
        "INSERT INTO users (id, username, email, password_hash, status, created_at, updated_at)",
        " VALUES"
    );

    /// `count` accounts in one INSERT statement, as a bulk import or the load test's seeding
    /// writes them (one counter update on Postgres, one per row on SQLite).
    fn insert_many(fx: &Fixture, prefix: &str, count: u32, status: UserStatus) {
        let rows: Vec<String> = (0..count)
            .map(|n| user_values(&format!("{prefix}{n}"), status))
            .collect();
        let sql = format!("{INSERT_USERS} {}", rows.join(", "));
        execute(fx, &sql);
    }

    fn execute(fx: &Fixture, sql: &str) {
        fx.db
            .write(|conn| -> Result<(), IdentityError> { Ok(conn.batch_execute(sql)?) })
            .unwrap();
    }

    #[test]
    fn counters_follow_every_change_of_users() {
        let fx = fixture();
        assert_counts(&fx, 0, 0, 0);

        let alice = register(&fx, "alice");
        let bob = register(&fx, "bob");
        let carol = register(&fx, "carol");
        assert_counts(&fx, 3, 0, 0);

        lock_user(&fx.db, bob.id, None, t0()).unwrap().unwrap();
        assert_counts(&fx, 2, 1, 0);
        // Locking a locked account again changes no count.
        lock_user(&fx.db, bob.id, None, t0()).unwrap().unwrap();
        assert_counts(&fx, 2, 1, 0);

        let disable = UserChanges {
            status: Some(UserStatus::Disabled),
            ..UserChanges::default()
        };
        update_user(&fx.db, carol.id, &disable, t0())
            .unwrap()
            .unwrap();
        assert_counts(&fx, 1, 1, 1);
        // Updates that leave the status alone (here the address) change no count either.
        let verify = UserChanges {
            email_verified: Some(true),
            ..UserChanges::default()
        };
        update_user(&fx.db, alice.id, &verify, t0())
            .unwrap()
            .unwrap();
        assert_counts(&fx, 1, 1, 1);

        unlock_user(&fx.db, bob.id, t0()).unwrap().unwrap();
        assert_counts(&fx, 2, 0, 1);

        delete_user(&fx.db, carol.id).unwrap().unwrap();
        assert_counts(&fx, 2, 0, 0);
        delete_user(&fx.db, bob.id).unwrap().unwrap();
        assert_counts(&fx, 1, 0, 0);

        insert_many(&fx, "bulk-active", 150, UserStatus::Active);
        insert_many(&fx, "bulk-locked", 40, UserStatus::Locked);
        assert_counts(&fx, 151, 40, 0);

        fx.db
            .write(|conn| -> Result<usize, IdentityError> {
                diesel::update(users::table.filter(users::username.like("bulk-locked1%")))
                    .set(users::status.eq(UserStatus::Disabled.as_str()))
                    .execute(conn)?;
                Ok(
                    diesel::delete(users::table.filter(users::username.like("bulk-active1%")))
                        .execute(conn)?,
                )
            })
            .unwrap();
        // 11 of the locked ones ("bulk-locked1", "…10" to "…19") are disabled now, and 61 of the
        // active ones ("bulk-active1", "…10"–"…19", "…100"–"…149") are gone.
        assert_counts(&fx, 90, 29, 11);
    }

    #[test]
    fn a_rolled_back_change_is_not_counted() {
        let fx = fixture();
        register(&fx, "alice");
        let failed: Result<(), IdentityError> = fx.db.write(|conn| {
            conn.batch_execute(&format!(
                "{INSERT_USERS} {}",
                user_values("xavier", UserStatus::Active)
            ))?;
            diesel::update(users::table)
                .set(users::status.eq(UserStatus::Locked.as_str()))
                .execute(conn)?;
            // A duplicate username: the whole transaction rolls back.
            conn.batch_execute(&format!(
                "{INSERT_USERS} {}",
                user_values("XAVIER", UserStatus::Active)
            ))?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_counts(&fx, 1, 0, 0);
    }

    #[test]
    fn truncating_users_resets_the_counters() {
        let fx = fixture();
        if fx.db.backend() != Backend::Postgres {
            // SQLite has no TRUNCATE; its `DELETE FROM users` runs the row triggers.
            return;
        }
        register(&fx, "alice");
        insert_many(&fx, "bulk", 20, UserStatus::Locked);
        assert_counts(&fx, 1, 20, 0);
        execute(&fx, "TRUNCATE users CASCADE");
        assert_counts(&fx, 0, 0, 0);
        register(&fx, "bob");
        assert_counts(&fx, 1, 0, 0);
    }

    #[test]
    fn the_list_total_comes_from_the_counters_without_search_or_role() {
        let fx = fixture();
        register(&fx, "alice");
        insert_many(&fx, "bulk", 10, UserStatus::Locked);
        let total = |filter: &UserFilter| list_users(&fx.db, filter, None, 5).unwrap().total;
        let locked = UserFilter {
            status: Some(UserStatus::Locked),
            ..UserFilter::default()
        };
        assert_eq!(total(&UserFilter::default()), 11);
        assert_eq!(total(&locked), 10);
        // Proof that these totals are the counters' and not a count of rows: move a counter
        // behind the triggers' back (never done outside this test).
        fx.db
            .write(|conn| -> Result<usize, IdentityError> {
                Ok(diesel::update(user_counts::table.find(0))
                    .set(user_counts::locked.eq(user_counts::locked + 1000))
                    .execute(conn)?)
            })
            .unwrap();
        assert_eq!(total(&UserFilter::default()), 1011);
        assert_eq!(total(&locked), 1010);
        // A search still counts the rows.
        let search = UserFilter {
            search: Some("bulk".into()),
            ..locked
        };
        assert_eq!(total(&search), 10);
    }
}
