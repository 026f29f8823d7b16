#!/usr/bin/env python3
"""Seeds COUNT users for the admin search scenario, straight into the database.

usage: seed_users.py sqlite DB_FILE COUNT TEMPLATE_USER
       seed_users.py postgres DATABASE_URL COUNT TEMPLATE_USER   (through psql)

Why SQL and not the API: every account created through the API (or `gatehouse user create`)
costs an argon2id hash, about 15 ms of one core, so 100,000 users would take 25 minutes; one
INSERT .. SELECT writes them in seconds. The rows go through the same table, indexes and triggers
(the user counters of migration 2026-11-30-000009) as a sign-up's, so the list, its search and
its totals see them as real accounts. They share TEMPLATE_USER's password hash (nobody signs in
as them).

Accounts: `<given name><n>` with `<surname>.<given name><n>@example.org`, 48 given names and 37
surnames (so a two-letter prefix matches about 2 % of the users, a full name and a few digits a
handful); about 1 % locked and 0.4 % disabled. Ids are UUID-shaped and fixed by n, so a second
run fails on the primary key rather than doubling the users. Standard library only; prints one
line: the number of users inserted and the seconds it took.
"""
import sqlite3
import subprocess
import sys
import time

GIVEN = (
    "olivia liam emma noah ava oliver sophia elijah isabella lucas mia mason amelia ethan "
    "harper logan evelyn james abigail aiden ella jacob scarlett jackson grace levi chloe "
    "sebastian victoria mateo riley jack aria owen lily theodore aurora samuel zoey henry "
    "nora leo hazel luke ellie wyatt ruby isaac"
).split()
SURNAMES = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez "
    "gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white harris "
    "sanchez clark ramirez lewis robinson walker young allen king wright scott torres"
).split()
assert len(GIVEN) == 48 and len(SURNAMES) == 37

# The only differences between the dialects: the row generator and zero padding.
DIALECT = {
    "postgres": {
        "rows": "SELECT n FROM generate_series(1, {count}) AS n",
        "pad12": "lpad(seq.n::text, 12, '0')",
    },
    "sqlite": {
        "rows": "SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {count}",
        "pad12": "printf('%012d', seq.n)",
    },
}


def insert_sql(dialect, count, template_user):
    given = ", ".join(f"({i}, '{name}')" for i, name in enumerate(GIVEN))
    surnames = ", ".join(f"({i}, '{name}')" for i, name in enumerate(SURNAMES))
    d = DIALECT[dialect]
    return f"""
WITH RECURSIVE
    seq(n) AS ({d["rows"].format(count=count)}),
    given(i, name) AS (VALUES {given}),
    surnames(i, name) AS (VALUES {surnames})
INSERT INTO users (id, username, email, email_verified, password_hash, status, created_at,
                   updated_at)
SELECT '5eed0000-0000-4000-8000-' || {d["pad12"]},
       given.name || seq.n,
       surnames.name || '.' || given.name || seq.n || '@example.org',
       seq.n % 3 <> 0,
       (SELECT password_hash FROM users WHERE username = '{template_user}'),
       CASE WHEN seq.n % 100 = 0 THEN 'locked' WHEN seq.n % 250 = 1 THEN 'disabled'
            ELSE 'active' END,
       '2026-11-30 12:00:00',
       '2026-11-30 12:00:00'
FROM seq
JOIN given ON given.i = seq.n % {len(GIVEN)}
JOIN surnames ON surnames.i = seq.n % {len(SURNAMES)};
"""


def main():
    dialect, target, count, template_user = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sql = insert_sql(dialect, count, template_user)
    started = time.monotonic()
    if dialect == "sqlite":
        db = sqlite3.connect(target, timeout=30)
        db.execute("PRAGMA foreign_keys = ON")
        with db:
            db.execute(sql)
            # Not `rowcount` (-1 for a statement starting with WITH) nor `total_changes` (which
            # counts the triggers' updates too).
            inserted = db.execute("SELECT changes()").fetchone()[0]
        db.close()
    else:
        # A deployment's autovacuum would analyze the table after such an insert; the scratch
        # database's server may have it off, and without statistics the planner guesses.
        out = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", target],
            input=f"\\set QUIET off\n{sql}\\set QUIET on\nANALYZE users;\n",
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.exit(f"seed_users: psql failed: {out.stderr.strip()}")
        inserted = int(out.stdout.split()[-1])  # "INSERT 0 <n>"
    if inserted != count:
        sys.exit(f"seed_users: inserted {inserted} users, expected {count}")
    print(f"{inserted} {time.monotonic() - started:.1f}")


main()
