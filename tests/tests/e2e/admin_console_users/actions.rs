//! The actions of a user's console page, each done through its form and audited: lock and
//! unlock, roles (and the gate refusing a `user_admin` making an admin), and the others.

use gatehouse_identity::Role;
use gatehouse_tests::oauth::tokens_in;
use gatehouse_tests::{ClientSpec, GOOD_PASSWORD, csrf_from_html, new_client, page_marker};

use super::{
    admin_browser, audited, can_sign_in, checked_roles, console_app, count_of, done, has_form,
    page, post, text_of, user_page, values_of,
};

#[tokio::test]
async fn a_lock_ends_the_users_sessions_and_stops_sign_in_until_unlocked() {
    let app = console_app().await;
    let carol = app.create_user_with_roles("carol", &[]).await;
    let carols_browser = app.signed_in_browser("carol", GOOD_PASSWORD).await;
    assert_eq!(app.account_page(&carols_browser).await.0, 200);
    let browser = admin_browser(&app).await;

    let html = user_page(&app, &browser, carol).await;
    assert_eq!(text_of(&html, "data-username").as_deref(), Some("carol"));
    assert_eq!(text_of(&html, "data-status").as_deref(), Some("active"));
    assert_eq!(
        count_of(&html, "<tr data-session"),
        1,
        "carol's session is listed"
    );
    assert!(has_form(&html, "lock") && !has_form(&html, "unlock"));
    let csrf = csrf_from_html(&html);

    // A lock ending in the past, or one without a reason: the page again with the error.
    for fields in [
        [("reason", "suspicious"), ("until", "2001-01-01T00:00")],
        [("reason", " "), ("until", "")],
        [("reason", "suspicious"), ("until", "next week")],
    ] {
        let response = post(&app, &browser, carol, "lock", &csrf, &fields).await;
        assert_eq!(response.status(), 400, "{fields:?}");
        let html = response.text().await.unwrap();
        assert_eq!(page_marker(&html).as_deref(), Some("admin-user"));
        assert!(html.contains("data-error"), "{html}");
        assert_eq!(text_of(&html, "data-status").as_deref(), Some("active"));
    }
    assert_eq!(audited(&app, "admin.user_lock", carol), 0);

    let response = post(
        &app,
        &browser,
        carol,
        "lock",
        &csrf,
        &[("reason", "phished"), ("until", "")],
    )
    .await;
    let html = done(
        &app,
        &browser,
        response,
        &format!("/admin/users/{carol}"),
        "Locked carol",
    )
    .await;
    assert_eq!(text_of(&html, "data-status").as_deref(), Some("locked"));
    assert_eq!(
        text_of(&html, "data-lock-reason").as_deref(),
        Some("phished")
    );
    assert!(has_form(&html, "unlock") && !has_form(&html, "lock"));
    assert_eq!(count_of(&html, "<tr data-session"), 0, "the session ended");
    assert_eq!(audited(&app, "admin.user_lock", carol), 1);
    assert_eq!(
        app.account_page(&carols_browser).await.0,
        303,
        "carol is signed out"
    );
    assert!(
        !can_sign_in(&app, "carol").await,
        "a locked account cannot sign in"
    );
    // The list shows it too.
    let list = page(
        &app,
        &browser,
        "/admin/users?search=carol",
        200,
        "admin-users",
    )
    .await;
    assert!(list.contains("<span class=\"badge locked\">locked</span>"));

    let response = post(&app, &browser, carol, "unlock", &csrf, &[]).await;
    let html = done(
        &app,
        &browser,
        response,
        &format!("/admin/users/{carol}"),
        "Unlocked carol",
    )
    .await;
    assert_eq!(text_of(&html, "data-status").as_deref(), Some("active"));
    assert_eq!(audited(&app, "admin.user_unlock", carol), 1);
    assert!(
        can_sign_in(&app, "carol").await,
        "unlocked, carol signs in again"
    );

    // A lock with an end shows it.
    let response = post(
        &app,
        &browser,
        carol,
        "lock",
        &csrf,
        &[("reason", "cool off"), ("until", "2099-01-02T03:04")],
    )
    .await;
    let html = done(
        &app,
        &browser,
        response,
        &format!("/admin/users/{carol}"),
        "until 2099-01-02 03:04 UTC",
    )
    .await;
    assert!(html.contains("until 2099-01-02 03:04 UTC"));
    assert!(!can_sign_in(&app, "carol").await);
}

#[tokio::test]
async fn roles_are_replaced_and_a_user_admin_cannot_make_an_admin() {
    let app = console_app().await;
    let dave = app.create_user_with_roles("dave", &[]).await;
    app.create_user_with_roles("uma", &[Role::UserAdmin]).await;
    let browser = admin_browser(&app).await;
    let csrf = csrf_from_html(&user_page(&app, &browser, dave).await);

    let response = post(
        &app,
        &browser,
        dave,
        "roles",
        &csrf,
        &[("role", "auditor"), ("role", "user_admin")],
    )
    .await;
    let html = done(
        &app,
        &browser,
        response,
        &format!("/admin/users/{dave}"),
        "now holds auditor, user_admin",
    )
    .await;
    assert_eq!(checked_roles(&html), ["user_admin", "auditor"]);
    assert_eq!(audited(&app, "admin.user_roles", dave), 1);
    // No box checked: no role (PUT semantics).
    let response = post(&app, &browser, dave, "roles", &csrf, &[]).await;
    let html = done(
        &app,
        &browser,
        response,
        &format!("/admin/users/{dave}"),
        "no role",
    )
    .await;
    assert!(checked_roles(&html).is_empty());
    let response = post(&app, &browser, dave, "roles", &csrf, &[("role", "root")]).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("data-error"));
    assert_eq!(audited(&app, "admin.user_roles", dave), 2);

    // A user_admin reads the page without the audit trail (and without an `admin.denied`
    // event for it), gives roles other than admin, and is refused admin with a 403 page.
    let uma = app.signed_in_browser("uma", GOOD_PASSWORD).await;
    let denied_before = app
        .audit_actions()
        .iter()
        .filter(|(a, _)| a == "admin.denied")
        .count();
    let html = user_page(&app, &uma, dave).await;
    assert!(
        !html.contains("data-event"),
        "no audit trail for a user_admin"
    );
    let denied = || {
        app.audit_actions()
            .iter()
            .filter(|(a, _)| a == "admin.denied")
            .count()
    };
    assert_eq!(denied(), denied_before, "reading the page is not a refusal");
    let csrf = csrf_from_html(&html);
    let response = post(&app, &uma, dave, "roles", &csrf, &[("role", "admin")]).await;
    assert_eq!(response.status(), 403);
    let refusal = response.text().await.unwrap();
    assert!(
        refusal.contains("only an admin may grant or remove the admin role"),
        "{refusal}"
    );
    assert_eq!(denied(), denied_before + 1, "the refusal is audited");
    assert!(
        checked_roles(&user_page(&app, &browser, dave).await).is_empty(),
        "unchanged"
    );
    let response = post(
        &app,
        &uma,
        dave,
        "roles",
        &csrf,
        &[("role", "client_admin")],
    )
    .await;
    let html = done(
        &app,
        &uma,
        response,
        &format!("/admin/users/{dave}"),
        "client_admin",
    )
    .await;
    assert_eq!(checked_roles(&html), ["client_admin"]);
}

#[tokio::test]
async fn each_action_of_the_user_page_is_done_and_audited() {
    let app = console_app().await;
    let gus = app.create_user_with_roles("gus", &[]).await;
    let rp = app.register_client(ClientSpec::default());
    let gus_browser = new_client();
    tokens_in(
        &app,
        &gus_browser,
        &rp,
        "gus",
        &[("scope", "openid offline_access")],
    )
    .await;
    let browser = admin_browser(&app).await;
    let path = format!("/admin/users/{gus}");

    let html = user_page(&app, &browser, gus).await;
    let csrf = csrf_from_html(&html);
    for form in [
        "lock",
        "verify-email",
        "roles",
        "reset-2fa",
        "password-reset",
        "end-sessions",
        "delete-user",
        "revoke-grant",
    ] {
        assert!(has_form(&html, form), "{form}");
    }
    assert_eq!(text_of(&html, "data-totp").as_deref(), Some("off"));

    // Address verification toggles.
    let verified = text_of(&html, "data-email-verified").unwrap();
    let toggled = if verified == "true" { "false" } else { "true" };
    let response = post(
        &app,
        &browser,
        gus,
        "verify-email",
        &csrf,
        &[("email_verified", toggled)],
    )
    .await;
    let html = done(&app, &browser, response, &path, "gus@example.com").await;
    assert_eq!(
        text_of(&html, "data-email-verified").as_deref(),
        Some(toggled)
    );
    assert_eq!(app.email_verified("gus").to_string(), toggled);
    assert_eq!(audited(&app, "admin.user_update", gus), 1);

    // Grants: revoke the one the code flow made.
    let grants = values_of(&html, "data-grant");
    assert_eq!(grants.len(), 1, "{html}");
    let response = post(
        &app,
        &browser,
        gus,
        &format!("grants/{}/revoke", grants[0]),
        &csrf,
        &[],
    )
    .await;
    let html = done(&app, &browser, response, &path, "Grant revoked").await;
    assert!(values_of(&html, "data-grant").is_empty());
    assert_eq!(audited(&app, "admin.user_grant_revoke", gus), 1);
    let response = post(
        &app,
        &browser,
        gus,
        &format!("grants/{}/revoke", grants[0]),
        &csrf,
        &[],
    )
    .await;
    done(&app, &browser, response, &path, "Nothing revoked").await;

    // Sessions: signed out everywhere.
    assert_eq!(app.account_page(&gus_browser).await.0, 200);
    assert_eq!(count_of(&html, "<tr data-session"), 1);
    let response = post(&app, &browser, gus, "sessions/end", &csrf, &[]).await;
    let html = done(&app, &browser, response, &path, "1 session").await;
    assert_eq!(count_of(&html, "<tr data-session"), 0);
    assert_eq!(app.account_page(&gus_browser).await.0, 303);
    assert_eq!(audited(&app, "admin.user_sessions_end", gus), 1);

    // Password reset mail.
    let response = post(&app, &browser, gus, "password-reset", &csrf, &[]).await;
    done(&app, &browser, response, &path, "password reset link").await;
    assert_eq!(audited(&app, "admin.user_password_reset", gus), 1);

    // Second factor reset.
    app.enrol_totp("gus").await;
    let html = user_page(&app, &browser, gus).await;
    assert_eq!(text_of(&html, "data-totp").as_deref(), Some("enabled"));
    let response = post(&app, &browser, gus, "totp/reset", &csrf, &[]).await;
    let html = done(
        &app,
        &browser,
        response,
        &path,
        "Two-factor authentication removed",
    )
    .await;
    assert_eq!(text_of(&html, "data-totp").as_deref(), Some("off"));
    assert_eq!(audited(&app, "admin.user_totp_reset", gus), 1);

    // The page's audit trail has what was done, newest first.
    let trail = values_of(&html, "data-action");
    let position = |action: &str| {
        trail
            .iter()
            .position(|a| a == action)
            .unwrap_or_else(|| panic!("{action} in {trail:?}"))
    };
    let order = [
        "admin.user_totp_reset",
        "admin.user_password_reset",
        "admin.user_sessions_end",
        "admin.user_grant_revoke",
        "admin.user_update",
    ];
    for pair in order.windows(2) {
        assert!(
            position(pair[0]) < position(pair[1]),
            "newest first: {trail:?}"
        );
    }
    assert!(count_of(&html, "<tr data-event") >= 5);

    // Deletion: back to the list, the user gone.
    let response = post(&app, &browser, gus, "delete", &csrf, &[]).await;
    let list = done(&app, &browser, response, "/admin/users", "Deleted user").await;
    assert!(!values_of(&list, "data-user").contains(&"gus".to_owned()));
    assert_eq!(audited(&app, "admin.user_delete", gus), 1);
    let (status, _) = app.get_page(&browser, &path).await;
    assert_eq!(status, 404);
}
