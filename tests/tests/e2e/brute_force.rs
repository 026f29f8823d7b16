//! Brute-force protection through the real pages (`docs/brute-force.md`): a source that keeps
//! failing is delayed with 429 and `Retry-After`, the delay grows and expires with the clock, an
//! attacker elsewhere cannot lock the owner out (with or without a second factor), the
//! account-wide ceiling locks for everyone for a bounded time (and an administrator can lift
//! it), a source spraying many accounts is delayed for all of them, and unknown usernames are
//! answered exactly like known ones.
//!
//! Sources are real client addresses: each browser binds its own loopback address
//! (127.0.0.0/8 all reaches the server on 127.0.0.1), so the server sees a different peer.

use std::net::{IpAddr, Ipv4Addr};

use chrono::Duration;
use gatehouse_tests::totp::code_at;
use gatehouse_tests::{GOOD_PASSWORD, TestApp, csrf_from_html, hidden_value, page_marker};
use reqwest::Method;
use serde_json::Value;

const WRONG: &str = "not the password!";

/// A browser whose requests come from 127.0.0.`last`.
fn source(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

/// One sign-in attempt: status, `Retry-After`, `Cache-Control`, page.
struct Answer {
    status: u16,
    retry_after: Option<u64>,
    cache_control: Option<String>,
    html: String,
}

async fn sign_in(app: &TestApp, browser: &reqwest::Client, login: &str, password: &str) -> Answer {
    let response = app.login_with(browser, login, password, None).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let retry_after = header("retry-after").map(|value| value.parse().unwrap());
    let cache_control = header("cache-control");
    Answer {
        status: response.status().as_u16(),
        retry_after,
        cache_control,
        html: response.text().await.unwrap(),
    }
}

async fn signs_in(app: &TestApp, browser: &reqwest::Client, login: &str) -> bool {
    let answer = sign_in(app, browser, login, GOOD_PASSWORD).await;
    answer.status == 303
}

fn audited(app: &TestApp, action: &str) -> Vec<Option<String>> {
    app.audit_actions()
        .into_iter()
        .filter(|(name, _)| name == action)
        .map(|(_, target)| target)
        .collect()
}

#[tokio::test]
async fn a_failing_source_is_delayed_with_429_and_the_delay_grows_then_expires() {
    let app = TestApp::builder().with_user("alice").spawn().await;
    let attacker = source(2);

    // `delay_after` = 3: the third failure makes the source wait `delay_secs` = 1.
    for attempt in 1..=3 {
        let answer = sign_in(&app, &attacker, "alice", WRONG).await;
        assert_eq!(answer.status, 401, "attempt {attempt}");
        assert_eq!(answer.retry_after, None);
    }
    // Refused before the password is looked at: the right one gets the same 429.
    for password in [WRONG, GOOD_PASSWORD] {
        let answer = sign_in(&app, &attacker, "alice", password).await;
        assert_eq!(answer.status, 429, "{}", answer.html);
        assert_eq!(answer.retry_after, Some(1));
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
        assert_eq!(page_marker(&answer.html).as_deref(), Some("login"));
        assert!(
            answer.html.contains("Please try again in 1 second."),
            "{}",
            answer.html
        );
    }
    let delays = audited(&app, "login.delay");
    assert_eq!(delays, [Some("alice".to_owned())]);
    // Refused attempts are not failures: three, not five.
    assert_eq!(audited(&app, "login.failure").len(), 3);

    // Once the wait is over the next failure doubles it.
    app.advance_clock(Duration::seconds(1));
    assert_eq!(sign_in(&app, &attacker, "alice", WRONG).await.status, 401);
    let answer = sign_in(&app, &attacker, "alice", GOOD_PASSWORD).await;
    assert_eq!((answer.status, answer.retry_after), (429, Some(2)));
    app.advance_clock(Duration::seconds(1));
    let answer = sign_in(&app, &attacker, "alice", GOOD_PASSWORD).await;
    assert_eq!((answer.status, answer.retry_after), (429, Some(1)));

    // The delay has expired: the right password signs in from that source, which wipes its
    // failures there (the next wrong password is a plain 401, no wait).
    app.advance_clock(Duration::seconds(1));
    assert!(signs_in(&app, &attacker, "alice").await);
    let fresh = source(2);
    for _ in 1..=2 {
        let answer = sign_in(&app, &fresh, "alice", WRONG).await;
        assert_eq!((answer.status, answer.retry_after), (401, None));
    }
    assert_eq!(audited(&app, "account.lockout").len(), 0);
}

#[tokio::test]
async fn an_attacker_cannot_lock_the_owner_out() {
    let app = TestApp::builder()
        .with_user("bob")
        .with_user("carla")
        .spawn()
        .await;
    let (secret, _) = app.enrol_totp("carla").await;
    app.advance_clock(Duration::seconds(30));

    // Two attackers hammer both accounts, waiting out each delay, until their waits are long:
    // six failures each (the sixth makes them wait 8 s).
    for last in [2, 3] {
        let attacker = source(last);
        for login in ["bob", "carla"] {
            let mut failures = 0;
            while failures < 6 {
                let answer = sign_in(&app, &attacker, login, WRONG).await;
                match answer.retry_after {
                    Some(wait) => {
                        app.advance_clock(Duration::seconds(i64::try_from(wait).unwrap()))
                    }
                    None => failures += 1,
                }
            }
            let answer = sign_in(&app, &attacker, login, GOOD_PASSWORD).await;
            assert_eq!(answer.status, 429, "{login} from 127.0.0.{last}");
            assert_eq!(answer.retry_after, Some(8));
        }
    }
    let lockouts = audited(&app, "account.lockout");
    assert!(lockouts.is_empty(), "{lockouts:?}");

    // The owner, from an address that has not been failing: the password alone for bob...
    let owner = source(9);
    assert!(signs_in(&app, &owner, "bob").await);
    assert_eq!(app.account_page(&owner).await.0, 200);

    // ...and the password plus the code for carla.
    let owner = source(10);
    let answer = sign_in(&app, &owner, "carla", GOOD_PASSWORD).await;
    assert_eq!(answer.status, 303);
    let (status, html) = submit_code(&app, &owner, &code_at(&secret, app.clock_now(), 0)).await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(app.account_page(&owner).await.0, 200);
}

/// Submits `code` on the second-factor page of `browser`'s pending sign-in.
async fn submit_code(app: &TestApp, browser: &reqwest::Client, code: &str) -> (u16, String) {
    let (status, response) = submit_code_response(app, browser, code).await;
    (status, response.text().await.unwrap())
}

async fn submit_code_response(
    app: &TestApp,
    browser: &reqwest::Client,
    code: &str,
) -> (u16, reqwest::Response) {
    let page = browser
        .get(app.url("/login/second-factor"))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("second-factor"),
        "{html}"
    );
    let response = browser
        .post(app.url("/login/second-factor"))
        .form(&[
            ("code", code),
            ("csrf_token", &csrf_from_html(&html)),
            ("return_to", &hidden_value(&html, "return_to")),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response)
}

#[tokio::test]
async fn wrong_codes_delay_the_second_factor_step_of_that_source_only() {
    let app = TestApp::builder().with_user("dora").spawn().await;
    let (secret, _) = app.enrol_totp("dora").await;
    app.advance_clock(Duration::seconds(30));

    // Someone with the password guesses codes.
    let thief = source(2);
    assert_eq!(
        sign_in(&app, &thief, "dora", GOOD_PASSWORD).await.status,
        303
    );
    for attempt in 1..=3 {
        let (status, _) = submit_code(&app, &thief, "000000").await;
        assert_eq!(status, 401, "attempt {attempt}");
    }
    // The fourth is refused unseen, even the right code, and the pending sign-in stays.
    let right = code_at(&secret, app.clock_now(), 0);
    let (status, response) = submit_code_response(&app, &thief, &right).await;
    assert_eq!(status, 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let html = response.text().await.unwrap();
    assert_eq!(
        page_marker(&html).as_deref(),
        Some("second-factor"),
        "{html}"
    );
    // The password step from that source waits too.
    let answer = sign_in(&app, &thief, "dora", GOOD_PASSWORD).await;
    assert_eq!((answer.status, answer.retry_after), (429, Some(1)));

    // The owner elsewhere is not held up.
    let owner = source(9);
    assert_eq!(
        sign_in(&app, &owner, "dora", GOOD_PASSWORD).await.status,
        303
    );
    let (status, html) = submit_code(&app, &owner, &right).await;
    assert_eq!(status, 303, "{html}");
    assert_eq!(app.account_page(&owner).await.0, 200);
    assert_ne!(
        app.account_page(&thief).await.0,
        200,
        "no session for the thief"
    );
}

/// Three failures from each of 127.0.0.`first` and the next address: with a ceiling of six,
/// the sixth on the account locks it, though neither address got past its first delay.
async fn lock_from_two_sources(app: &TestApp, login: &str, first: u8) {
    for last in [first, first + 1] {
        let attacker = source(last);
        for _ in 0..3 {
            assert_eq!(sign_in(app, &attacker, login, WRONG).await.status, 401);
        }
    }
}

fn ceiling_of_six(settings: &mut gatehouse_server::Settings) {
    settings.lockout.max_failures = 6;
}

#[tokio::test]
async fn the_ceiling_locks_for_everyone_for_a_bounded_time_and_an_admin_can_lift_it() {
    let app = TestApp::builder()
        .configure(ceiling_of_six)
        .with_user("erik")
        .with_admin("boss")
        .spawn()
        .await;
    let erik = app.user_id("erik");

    lock_from_two_sources(&app, "erik", 2).await;
    assert_eq!(audited(&app, "account.lockout"), [Some(erik.to_string())]);

    // Locked for everyone: the owner from a clean address gets the wrong-password answer.
    let owner = source(9);
    let answer = sign_in(&app, &owner, "erik", GOOD_PASSWORD).await;
    assert_eq!(answer.status, 401);
    assert!(answer.html.contains("Invalid username or password."));
    let answer = sign_in(&app, &source(10), "erik", GOOD_PASSWORD).await;
    assert_eq!(answer.status, 401);

    // Bounded: `lock_secs` (15 minutes) later the owner gets in.
    app.advance_clock(Duration::minutes(14));
    assert!(!signs_in(&app, &source(11), "erik").await);
    app.advance_clock(Duration::minutes(1) + Duration::seconds(1));
    assert!(signs_in(&app, &source(12), "erik").await);

    // Locked again; an administrator unlocks at once.
    lock_from_two_sources(&app, "erik", 20).await;
    assert_eq!(audited(&app, "account.lockout").len(), 2);
    assert!(!signs_in(&app, &source(13), "erik").await);
    let token = app.admin_token_for("boss").await;
    let response = app
        .client
        .request(
            Method::POST,
            app.url(&format!("/api/v1/admin/users/{erik}/unlock")),
        )
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "active", "{body}");
    assert!(signs_in(&app, &source(14), "erik").await);
}

fn spray_limit_of_five(settings: &mut gatehouse_server::Settings) {
    settings.lockout.source_delay_after = 5;
}

#[tokio::test]
async fn a_source_spraying_many_logins_is_delayed_for_all_of_them() {
    let app = TestApp::builder()
        .configure(spray_limit_of_five)
        .with_user("fay")
        .spawn()
        .await;
    let sprayer = source(2);
    for n in 1..=5 {
        let answer = sign_in(&app, &sprayer, &format!("user{n}"), WRONG).await;
        assert_eq!(answer.status, 401);
    }
    let answer = sign_in(&app, &sprayer, "fay", GOOD_PASSWORD).await;
    assert_eq!((answer.status, answer.retry_after), (429, Some(1)));
    let delays: Vec<_> = audited(&app, "login.delay");
    assert_eq!(delays, [Some("127.0.0.2".to_owned())]);
    // Other addresses are not held up.
    assert!(signs_in(&app, &source(3), "fay").await);
}

#[tokio::test]
async fn unknown_usernames_are_delayed_exactly_like_known_ones() {
    let app = TestApp::builder().with_user("gina").spawn().await;
    let mut transcripts = Vec::new();
    for (last, login) in [(2, "gina"), (3, "no-such-user")] {
        let browser = source(last);
        let mut transcript = Vec::new();
        for _ in 0..5 {
            let answer = sign_in(&app, &browser, login, WRONG).await;
            let message = answer
                .html
                .split(r#"role="alert">"#)
                .nth(1)
                .and_then(|rest| rest.split('<').next())
                .unwrap_or_default()
                .to_owned();
            transcript.push((answer.status, answer.retry_after, message));
        }
        app.advance_clock(Duration::seconds(1));
        let answer = sign_in(&app, &browser, login, WRONG).await;
        transcript.push((answer.status, answer.retry_after, String::new()));
        let answer = sign_in(&app, &browser, login, WRONG).await;
        transcript.push((answer.status, answer.retry_after, String::new()));
        transcripts.push(transcript);
    }
    assert_eq!(transcripts[0], transcripts[1]);
    let statuses: Vec<(u16, Option<u64>)> = transcripts[0]
        .iter()
        .map(|(status, retry, _)| (*status, *retry))
        .collect();
    assert_eq!(
        statuses,
        [
            (401, None),
            (401, None),
            (401, None),
            (429, Some(1)),
            (429, Some(1)),
            (401, None),
            (429, Some(2)),
        ]
    );
    let mut delays = audited(&app, "login.delay");
    delays.sort();
    assert_eq!(
        delays,
        [
            Some("gina".to_owned()),
            Some("gina".to_owned()),
            Some("no-such-user".to_owned()),
            Some("no-such-user".to_owned()),
        ]
    );
}
