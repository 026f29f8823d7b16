//! `POST /api/v1/users`: validation, conflicts, races, and that failures write nothing.

use gatehouse_tests::{GOOD_PASSWORD, spawn_app};
use serde_json::{Value, json};

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert_eq!(body["request_id"], request_id.as_str());
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("urn:gatehouse:problem:")
    );
    body
}

#[tokio::test]
async fn register_creates_a_user_without_exposing_the_hash() {
    let app = spawn_app().await;
    let before = app.user_count();
    let response = app
        .register("Alice.Smith", "alice@example.com", GOOD_PASSWORD)
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    assert!(!text.contains("argon2"), "the hash leaked: {text}");
    assert!(!text.contains("password"), "{text}");
    let user: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(user["username"], "Alice.Smith");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["status"], "active");
    assert_eq!(
        location,
        format!("/api/v1/users/{}", user["id"].as_str().unwrap())
    );
    assert_eq!(app.user_count(), before + 1);

    let stored = app
        .state
        .accounts
        .database()
        .find_user_by_login("alice.smith")
        .unwrap()
        .expect("stored case-insensitively findable");
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "user.register")
    );
}

#[tokio::test]
async fn each_invalid_field_is_a_400_naming_it_and_writes_nothing() {
    let app = spawn_app().await;
    let before = app.user_count();
    let audit_before = app.audit_actions().len();
    let long_name = "a".repeat(65);
    let long_password = "x".repeat(129);
    let cases = [
        ("ab", "ab@example.com", GOOD_PASSWORD, "username"),
        (
            long_name.as_str(),
            "long@example.com",
            GOOD_PASSWORD,
            "username",
        ),
        ("bad name!", "bad@example.com", GOOD_PASSWORD, "username"),
        ("valid_user", "not-an-email", GOOD_PASSWORD, "email"),
        ("valid_user", "a b@example.com", GOOD_PASSWORD, "email"),
        ("valid_user", "valid@example.com", "short pw", "password"),
        (
            "valid_user",
            "valid@example.com",
            long_password.as_str(),
            "password",
        ),
        // In the shipped common-password list (matched case-insensitively).
        (
            "valid_user",
            "valid@example.com",
            "1QAZ2wsx3edc",
            "password",
        ),
    ];
    for (username, email, password, field) in cases {
        let body = problem(app.register(username, email, password).await, 400).await;
        assert_eq!(body["type"], "urn:gatehouse:problem:validation");
        assert_eq!(body["field"], field, "case {username:?} {email:?}");
    }
    assert_eq!(app.user_count(), before);
    assert_eq!(app.audit_actions().len(), audit_before);
}

#[tokio::test]
async fn malformed_requests_say_what_is_wrong() {
    let app = spawn_app().await;
    let url = app.url("/api/v1/users");
    let before = app.user_count();

    let not_json = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    let body = problem(not_json, 400).await;
    assert_eq!(body["type"], "urn:gatehouse:problem:malformed-body");

    let wrong_type = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    let body = problem(wrong_type, 400).await;
    assert_eq!(body["type"], "urn:gatehouse:problem:unsupported-media-type");

    let missing = app
        .client
        .post(&url)
        .json(&json!({"username": "bob", "email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    let body = problem(missing, 400).await;
    assert_eq!(body["field"], "password");

    let mistyped = app
        .client
        .post(&url)
        .json(&json!({"username": 42, "email": "bob@example.com", "password": GOOD_PASSWORD}))
        .send()
        .await
        .unwrap();
    let body = problem(mistyped, 400).await;
    assert_eq!(body["field"], "username");

    let wrong_method = app.client.get(&url).send().await.unwrap();
    problem(wrong_method, 405).await;
    let nowhere = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    problem(nowhere, 404).await;

    assert_eq!(app.user_count(), before);
}

#[tokio::test]
async fn duplicates_are_409_naming_the_field_case_insensitively() {
    let app = spawn_app().await;
    app.create_user("carol").await;
    let before = app.user_count();

    let body = problem(
        app.register("CAROL", "other@example.com", GOOD_PASSWORD)
            .await,
        409,
    )
    .await;
    assert_eq!(body["field"], "username");
    let body = problem(
        app.register("carol2", "Carol@Example.com", GOOD_PASSWORD)
            .await,
        409,
    )
    .await;
    assert_eq!(body["field"], "email");
    assert_eq!(app.user_count(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_of_one_username_create_exactly_one_user() {
    let app = spawn_app().await;
    let attempts = (0..10).map(|i| {
        let app = &app;
        async move {
            app.register("racer", &format!("racer{i}@example.com"), GOOD_PASSWORD)
                .await
                .status()
                .as_u16()
        }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert!(
        app.state
            .accounts
            .database()
            .find_user_by_login("racer")
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn registration_can_be_disabled() {
    let app = gatehouse_tests::spawn_app_with(gatehouse_tests::TestOptions {
        registration_enabled: false,
        ..Default::default()
    })
    .await;
    let body = problem(
        app.register("dave", "dave@example.com", GOOD_PASSWORD)
            .await,
        403,
    )
    .await;
    assert_eq!(body["type"], "urn:gatehouse:problem:forbidden");
}
