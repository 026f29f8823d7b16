//! Ending a browser session ends what was issued in it: the cookie, and the refresh and access
//! tokens of its grants (not those with `offline_access`), whichever way it ends.

use gatehouse_tests::oauth::{introspect, refresh, tokens_in};
use gatehouse_tests::{
    ClientSpec, TestApp, TestClient, csrf_from_html, hidden_value, new_client, spawn_app,
};
use serde_json::Value;

async fn is_active(app: &TestApp, rp: &TestClient, tokens: &Value) -> bool {
    let response = introspect(app, rp, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["active"] == true
}

async fn refresh_status(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Value) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn ending_another_session_from_the_list_ends_its_cookie_and_online_tokens() {
    let app = spawn_app().await;
    app.create_user("sami").await;
    let rp = app.register_client(ClientSpec::default());
    let a = new_client();
    let b = new_client();
    let a_tokens = tokens_in(&app, &a, &rp, "sami", &[]).await;
    let b_tokens = tokens_in(&app, &b, &rp, "sami", &[]).await;
    let b_offline = tokens_in(&app, &b, &rp, "sami", &[("scope", "openid offline_access")]).await;

    // A sees both sessions, itself marked; the other has an "End" form naming it.
    let (status, html) = app.account_page(&a).await;
    assert_eq!(status, 200);
    assert!(html.contains("2 active sessions"), "{html}");
    assert_eq!(html.matches("(this browser)").count(), 1, "{html}");
    let b_handle = hidden_value(&html, "session");
    let response = a
        .post(app.url("/account/sessions/end"))
        .form(&[("csrf_token", csrf_from_html(&html)), ("session", b_handle)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    // B's cookie is refused at once.
    let response = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    // B's online grant is dead: refresh is invalid_grant, the access token inactive.
    let (status, body) = refresh_status(&app, &rp, &b_tokens).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!is_active(&app, &rp, &b_tokens).await);
    // Its offline grant survives a single sign-out; A's session and tokens are untouched.
    assert!(is_active(&app, &rp, &b_offline).await);
    assert_eq!(refresh_status(&app, &rp, &b_offline).await.0, 200);
    assert!(is_active(&app, &rp, &a_tokens).await);
    assert_eq!(app.account_page(&a).await.0, 200);
    assert!(
        app.audit_actions()
            .iter()
            .any(|(action, _)| action == "session.end")
    );
}

#[tokio::test]
async fn signing_out_ends_the_tokens_issued_in_the_session() {
    let app = spawn_app().await;
    app.create_user("tomas").await;
    let rp = app.register_client(ClientSpec::default());
    let browser = new_client();
    let tokens = tokens_in(&app, &browser, &rp, "tomas", &[]).await;
    assert!(is_active(&app, &rp, &tokens).await);

    let response = app.sign_out(&browser).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.account_page(&browser).await.0, 303);
    assert!(!is_active(&app, &rp, &tokens).await);
    let (status, body) = refresh_status(&app, &rp, &tokens).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn another_users_session_id_changes_nothing() {
    let app = spawn_app().await;
    app.create_user("uma").await;
    app.create_user("vik").await;
    let rp = app.register_client(ClientSpec::default());
    let uma = new_client();
    let vik = new_client();
    tokens_in(&app, &uma, &rp, "uma", &[]).await;
    let vik_tokens = tokens_in(&app, &vik, &rp, "vik", &[]).await;
    tokens_in(&app, &uma, &rp, "uma", &[]).await;
    // A second session for vik, whose id uma then tries to end.
    let vik2 = new_client();
    tokens_in(&app, &vik2, &rp, "vik", &[]).await;
    let (_, vik_html) = app.account_page(&vik).await;
    let vik2_handle = hidden_value(&vik_html, "session");

    let (_, uma_html) = app.account_page(&uma).await;
    let response = uma
        .post(app.url("/account/sessions/end"))
        .form(&[
            ("csrf_token", csrf_from_html(&uma_html)),
            ("session", vik2_handle),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(app.account_page(&vik2).await.0, 200);
    assert!(is_active(&app, &rp, &vik_tokens).await);
}

#[tokio::test]
async fn signing_out_all_other_sessions_keeps_only_this_one() {
    let app = spawn_app().await;
    app.create_user("wen").await;
    let rp = app.register_client(ClientSpec::default());
    let this = new_client();
    let this_tokens = tokens_in(&app, &this, &rp, "wen", &[]).await;
    let others: Vec<reqwest::Client> = (0..3).map(|_| new_client()).collect();
    let mut other_tokens = Vec::new();
    for other in &others {
        other_tokens.push(tokens_in(&app, other, &rp, "wen", &[]).await);
    }

    let (_, html) = app.account_page(&this).await;
    assert!(html.contains("4 active sessions"), "{html}");
    let response = this
        .post(app.url("/account/sessions/end-others"))
        .form(&[("csrf_token", csrf_from_html(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);

    let (status, html) = app.account_page(&this).await;
    assert_eq!(status, 200);
    assert!(html.contains("1 active session<"), "{html}");
    assert!(is_active(&app, &rp, &this_tokens).await);
    for (other, tokens) in others.iter().zip(&other_tokens) {
        assert_eq!(app.account_page(other).await.0, 303);
        assert!(!is_active(&app, &rp, tokens).await);
    }
}
