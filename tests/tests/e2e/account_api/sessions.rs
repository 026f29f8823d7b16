//! The session list and ending sessions through the account API.

use super::*;

#[tokio::test]
async fn the_session_list_marks_the_current_session_and_names_its_clients() {
    let app = spawn_app().await;
    app.create_user("emil").await;
    let rp = account_client(&app);
    let a = new_client();
    let b = new_client();
    let a_tokens = account_tokens(&app, &a, &rp, "emil").await;
    app.clock.advance(Duration::seconds(5));
    let b_tokens = account_tokens(&app, &b, &rp, "emil").await;

    let list = sessions(&app, access(&a_tokens)).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(
        list.iter().filter(|s| s["current"] == true).count(),
        1,
        "{list:?}"
    );
    // Oldest first: A signed in first, so A's own session leads its list.
    assert_eq!(list[0]["current"], true);
    for session in &list {
        assert_eq!(session["clients"], json!([rp.client_id]), "{session}");
        assert_eq!(session["amr"], json!(["pwd"]), "{session}");
        assert_eq!(session["ip"], "127.0.0.1", "{session}");
        assert_eq!(session["id"].as_str().unwrap().len(), 64, "{session}");
        for time in ["created_at", "last_seen_at"] {
            let value = session[time].as_str().unwrap();
            DateTime::parse_from_rfc3339(value).unwrap_or_else(|_| panic!("{time}: {value}"));
        }
    }
    assert!(
        DateTime::parse_from_rfc3339(list[0]["created_at"].as_str().unwrap()).unwrap()
            < DateTime::parse_from_rfc3339(list[1]["created_at"].as_str().unwrap()).unwrap()
    );

    // B's token marks B's session, the other one.
    let a_current = current_session_id(&app, access(&a_tokens)).await;
    let b_current = current_session_id(&app, access(&b_tokens)).await;
    assert_ne!(a_current, b_current);
    assert_eq!(list[1]["id"], b_current.as_str());
}

#[tokio::test]
async fn ending_another_session_ends_its_cookie_and_tokens() {
    let app = spawn_app().await;
    app.create_user("finn").await;
    let rp = account_client(&app);
    let a = new_client();
    let b = new_client();
    let a_tokens = account_tokens(&app, &a, &rp, "finn").await;
    let b_tokens = account_tokens(&app, &b, &rp, "finn").await;
    let b_session = current_session_id(&app, access(&b_tokens)).await;

    let answer = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/account/sessions/{b_session}"),
        Some(access(&a_tokens)),
        None,
    )
    .await;
    assert_eq!((answer.status, answer.body), (204, Value::Null));

    // B's cookie is refused, its refresh token is invalid_grant, its access token revoked.
    assert_eq!(app.account_page(&b).await.0, 303);
    let response = refresh(&app, &rp, b_tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let answer = get(&app, "/api/v1/account", access(&b_tokens)).await;
    assert_eq!(answer.status, 401);
    assert!(
        answer
            .header(WWW_AUTHENTICATE)
            .contains(r#"error="invalid_token""#)
    );

    // A is untouched and now alone.
    assert_eq!(app.account_page(&a).await.0, 200);
    let list = sessions(&app, access(&a_tokens)).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["current"], true);
    let response = refresh(&app, &rp, a_tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn unknown_and_other_users_session_ids_are_404_and_change_nothing() {
    let app = spawn_app().await;
    app.create_user("gus").await;
    app.create_user("hana").await;
    let rp = account_client(&app);
    let gus = new_client();
    let hana = new_client();
    let gus_tokens = account_tokens(&app, &gus, &rp, "gus").await;
    let hana_tokens = account_tokens(&app, &hana, &rp, "hana").await;
    let hana_session = current_session_id(&app, access(&hana_tokens)).await;

    for id in [
        "0".repeat(64),
        "not-a-session".to_owned(),
        hana_session.clone(),
    ] {
        let answer = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/account/sessions/{id}"),
            Some(access(&gus_tokens)),
            None,
        )
        .await;
        assert_eq!(answer.status, 404, "{id}");
        assert_eq!(answer.problem_type(), "urn:gatehouse:problem:not-found");
    }

    // Hana's session, cookie and tokens live on; so does Gus's.
    assert_eq!(app.account_page(&hana).await.0, 200);
    assert_eq!(
        current_session_id(&app, access(&hana_tokens)).await,
        hana_session
    );
    let response = refresh(&app, &rp, hana_tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sessions(&app, access(&gus_tokens)).await.len(), 1);
    assert_eq!(app.account_page(&gus).await.0, 200);
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_only_the_tokens_session() {
    let app = spawn_app().await;
    app.create_user("ines").await;
    let rp = account_client(&app);
    let this = new_client();
    let this_tokens = account_tokens(&app, &this, &rp, "ines").await;
    let others: Vec<reqwest::Client> = (0..3).map(|_| new_client()).collect();
    for other in &others {
        account_tokens(&app, other, &rp, "ines").await;
    }
    assert_eq!(sessions(&app, access(&this_tokens)).await.len(), 4);

    let answer = call(
        &app,
        Method::DELETE,
        "/api/v1/account/sessions",
        Some(access(&this_tokens)),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({ "count": 3 }));

    let list = sessions(&app, access(&this_tokens)).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["current"], true);
    assert_eq!(app.account_page(&this).await.0, 200);
    for other in &others {
        assert_eq!(app.account_page(other).await.0, 303);
    }
    // Nothing left to end.
    let answer = call(
        &app,
        Method::DELETE,
        "/api/v1/account/sessions",
        Some(access(&this_tokens)),
        None,
    )
    .await;
    assert_eq!(answer.body, json!({ "count": 0 }));
}
