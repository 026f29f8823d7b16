//! The account page's connected apps: clients the user consented to or that hold offline
//! access, and "Revoke", which takes both away (the consent and every grant of the user's for
//! that client).

use gatehouse_tests::oauth::{authorize_url, introspect, refresh, tokens_in};
use gatehouse_tests::{
    ClientSpec, GOOD_PASSWORD, TestApp, TestClient, csrf_from_html, new_client, page_marker,
};
use serde_json::Value;

/// The `<li>` of `client_id` in the connected-apps list, if listed.
fn listed_app(html: &str, client_id: &str) -> Option<String> {
    let start = html.find(r#"<section id="connected-apps">"#)?;
    let section = &html[start..];
    let section = &section[..section.find("</section>")?];
    let item = section.find(&format!(r#"<li data-client-id="{client_id}">"#))?;
    let item = &section[item..];
    Some(item[..item.find("</li>")?].to_owned())
}

async fn refresh_status(app: &TestApp, rp: &TestClient, tokens: &Value) -> (u16, Value) {
    let response = refresh(app, rp, tokens["refresh_token"].as_str().unwrap()).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn is_active(app: &TestApp, rp: &TestClient, tokens: &Value) -> bool {
    let response = introspect(app, rp, tokens["access_token"].as_str().unwrap()).await;
    let body: Value = response.json().await.unwrap();
    body["active"] == true
}

async fn revoke(app: &TestApp, browser: &reqwest::Client, client_id: &str) -> reqwest::Response {
    let (_, account) = app.account_page(browser).await;
    browser
        .post(app.url("/account/apps/revoke"))
        .form(&[
            ("csrf_token", csrf_from_html(&account).as_str()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn revoking_an_app_ends_its_offline_access_and_its_consent() {
    let app = TestApp::builder().with_user("mira").spawn().await;
    let third_party = app.register_client(ClientSpec {
        first_party: false,
        ..ClientSpec::default()
    });
    let other = app.register_client(ClientSpec::default());
    let browser = new_client();
    let offline = [("scope", "openid offline_access")];
    let tokens = tokens_in(&app, &browser, &third_party, "mira", &offline).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let other_tokens = tokens_in(&app, &browser, &other, "mira", &offline).await;

    let (_, account) = app.account_page(&browser).await;
    let listed = listed_app(&account, &third_party.client_id).expect("the app is listed");
    assert!(listed.contains("Test RP"), "{listed}");
    assert!(
        listed.contains("offline_access"),
        "the consented scopes: {listed}"
    );
    assert!(listed.contains(r#"data-offline="on""#), "{listed}");
    assert!(
        listed.contains(r#"action="/account/apps/revoke""#),
        "{listed}"
    );
    // A first-party client needs no consent; its offline grant still connects it.
    let first_party = listed_app(&account, &other.client_id).expect("listed for its grant");
    assert!(
        first_party.contains(r#"data-offline="on""#),
        "{first_party}"
    );

    let response = revoke(&app, &browser, &third_party.client_id).await;
    assert_eq!(response.status(), 303);

    let (status, body) = refresh_status(&app, &third_party, &tokens).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(!is_active(&app, &third_party, &tokens).await);
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(
        listed_app(&account, &third_party.client_id),
        None,
        "{account}"
    );
    // The other app and this browser's session are untouched.
    assert!(listed_app(&account, &other.client_id).is_some());
    assert_eq!(refresh_status(&app, &other, &other_tokens).await.0, 200);

    let audit = app.audit_actions();
    for action in ["consent.revoke", "grant.revoke"] {
        assert!(
            audit.contains(&(action.to_owned(), Some(third_party.client_id.clone()))),
            "{action}: {audit:?}"
        );
    }

    // The next authorization asks for consent again.
    let again = browser
        .get(authorize_url(&app, &third_party, &offline))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let page = again.text().await.unwrap();
    assert_eq!(page_marker(&page).as_deref(), Some("consent"), "{page}");
}

#[tokio::test]
async fn an_offline_grant_stays_connected_after_sign_out_until_revoked() {
    let app = TestApp::builder().with_user("nils").spawn().await;
    let rp = app.register_client(ClientSpec::default());
    let browser = new_client();
    let tokens = tokens_in(
        &app,
        &browser,
        &rp,
        "nils",
        &[("scope", "openid offline_access")],
    )
    .await;
    // An online grant of the same client, in another session.
    let elsewhere = new_client();
    let online = tokens_in(&app, &elsewhere, &rp, "nils", &[]).await;
    assert_eq!(app.sign_out(&browser).await.status(), 303);

    // Signed in again: the offline grant outlived its session, so the app is still connected.
    let browser = new_client();
    let login = app.login_with(&browser, "nils", GOOD_PASSWORD, None).await;
    assert_eq!(login.status(), 303);
    let (_, account) = app.account_page(&browser).await;
    assert!(listed_app(&account, &rp.client_id).is_some(), "{account}");

    assert_eq!(revoke(&app, &browser, &rp.client_id).await.status(), 303);
    // Every grant of the user's for the client: the offline one and the live session's.
    assert_eq!(refresh_status(&app, &rp, &tokens).await.0, 400);
    assert_eq!(refresh_status(&app, &rp, &online).await.0, 400);
    assert!(!is_active(&app, &rp, &online).await);
    let (_, account) = app.account_page(&browser).await;
    assert_eq!(listed_app(&account, &rp.client_id), None, "{account}");
    // Revoking what is not connected changes nothing and is no error.
    assert_eq!(revoke(&app, &browser, &rp.client_id).await.status(), 303);
    assert_eq!(revoke(&app, &browser, "no-such-client").await.status(), 303);
}
