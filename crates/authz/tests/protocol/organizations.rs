//! Sign-in in an organisation's context without HTTP: who may sign in (members of an enabled
//! organisation only, named by `organization` or by the client), the claims of scope
//! `organization` in the ID token, the access token and userinfo, and the grant ending when
//! the membership or the organisation does.

use gatehouse_authz::{
    AuthorizeOutcome, ConsentDecision, DeviceAction, DeviceOutcome, ErrorCode, OAuthError,
};
use gatehouse_identity::admin::audit::{AuditFilter, list_audit_events};
use gatehouse_identity::organizations::{self, NewOrganization, OrganizationPatch};
use gatehouse_identity::{
    AuditOutcome, ClientType, GrantType, NewClient, OrgRole, Organization, RequestContext,
};
use serde_json::{Value, json};

use crate::support::*;

backend_tests!(
    a_member_of_the_clients_organisation_signs_in_with_its_claims,
    without_the_scope_no_token_carries_organisation_claims,
    a_non_member_is_refused_at_the_redirect_and_audited,
    a_disabled_organisation_refuses_sign_in_and_refresh,
    the_organization_parameter_names_it_by_slug_or_by_id,
    the_organization_parameter_cannot_move_a_client_to_another_organisation,
    removal_from_the_organisation_ends_refresh_and_userinfo,
    a_device_request_of_an_organisation_client_is_for_its_members,
);

const ORG_SCOPES: &str = "openid profile organization";

fn org(h: &Harness, slug: &str) -> Organization {
    organizations::create(
        &h.db,
        &NewOrganization {
            slug: slug.to_owned(),
            name: format!("{slug} Ltd"),
        },
        t0(),
    )
    .unwrap()
}

fn add_member(h: &Harness, org: &Organization, user_id: uuid::Uuid, role: OrgRole) {
    assert!(organizations::add_member(&h.db, org.id, user_id, role, t0()).unwrap());
}

fn set_enabled(h: &Harness, org: &Organization, enabled: bool) {
    organizations::update(
        &h.db,
        org.id,
        &OrganizationPatch {
            enabled: Some(enabled),
            ..OrganizationPatch::default()
        },
        t0(),
    )
    .unwrap()
    .unwrap();
}

/// A confidential client (code + refresh) allowed scope `organization`, of `org` if given.
fn client_of(h: &Harness, org: Option<&Organization>) -> TestClient {
    h.client(NewClient {
        name: "Vendor portal".into(),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: [
            "openid",
            "profile",
            "email",
            "offline_access",
            "organization",
        ]
        .map(String::from)
        .to_vec(),
        org_id: org.map(|org| org.id.to_string()),
        ..NewClient::default()
    })
}

async fn authorize(
    h: &Harness,
    client: &TestClient,
    overrides: &[(&str, &str)],
) -> AuthorizeOutcome {
    h.authorize(
        &h.authorize_params(client, overrides),
        ConsentDecision::Approved,
    )
    .await
}

fn org_claims_of(claims: &Value) -> Value {
    json!({
        "org_id": claims.get("org_id"),
        "org_slug": claims.get("org_slug"),
        "org_roles": claims.get("org_roles"),
    })
}

fn expected_claims(org: &Organization, role: &str) -> Value {
    json!({ "org_id": org.id.to_string(), "org_slug": org.slug, "org_roles": [role] })
}

fn no_claims() -> Value {
    json!({ "org_id": null, "org_slug": null, "org_roles": null })
}

/// The organisation claims of the ID token, the access token and userinfo, in that order.
async fn claims_everywhere(h: &Harness, tokens: &Value) -> [Value; 3] {
    let access = str_field(tokens, "access_token");
    let userinfo = h.authz.userinfo(access, t0()).await.unwrap();
    [
        org_claims_of(&jwt_payload(str_field(tokens, "id_token"))),
        org_claims_of(&jwt_payload(access)),
        org_claims_of(&userinfo),
    ]
}

async fn refused_events(h: &Harness, org: &Organization) -> Vec<gatehouse_identity::AuditEvent> {
    let filter = AuditFilter {
        action: Some("org.sign_in_refused".into()),
        org_id: Some(org.id),
        ..AuditFilter::default()
    };
    list_audit_events(&h.db, &filter, None, 50).unwrap().events
}

async fn a_member_of_the_clients_organisation_signs_in_with_its_claims(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    add_member(&h, &acme, h.user.id, OrgRole::OrgAdmin);
    let portal = client_of(&h, Some(&acme));

    let code = h.code_with(&portal, &[("scope", ORG_SCOPES)]).await;
    let tokens = h.exchange(&portal, &code).await.unwrap();
    let expected = expected_claims(&acme, "org_admin");
    for (place, claims) in ["ID token", "access token", "userinfo"]
        .iter()
        .zip(claims_everywhere(&h, &tokens).await)
    {
        assert_eq!(claims, expected, "{place}");
    }
    // Userinfo reads the role again: a changed role shows at once.
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let userinfo = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap();
    assert_eq!(org_claims_of(&userinfo), expected_claims(&acme, "member"));
    assert!(refused_events(&h, &acme).await.is_empty());
}

async fn without_the_scope_no_token_carries_organisation_claims(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let portal = client_of(&h, Some(&acme));

    let code = h.code_with(&portal, &[("scope", "openid profile")]).await;
    let tokens = h.exchange(&portal, &code).await.unwrap();
    for claims in claims_everywhere(&h, &tokens).await {
        assert_eq!(claims, no_claims());
    }
    // A global client asked with scope `organization` but no organisation: none either.
    let global = client_of(&h, None);
    let code = h.code_with(&global, &[("scope", ORG_SCOPES)]).await;
    let tokens = h.exchange(&global, &code).await.unwrap();
    for claims in claims_everywhere(&h, &tokens).await {
        assert_eq!(claims, no_claims());
    }
    // And a client not registered for the scope may not ask for it.
    assert_redirect_error(
        &authorize(&h, &h.confidential, &[("scope", ORG_SCOPES)]).await,
        "invalid_scope",
    );
}

async fn a_non_member_is_refused_at_the_redirect_and_audited(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    let portal = client_of(&h, Some(&acme));

    let outcome = authorize(&h, &portal, &[("scope", ORG_SCOPES)]).await;
    assert_redirect_error(&outcome, "access_denied");
    // With the scope or without it: membership is the rule of the client, not of the scope.
    let outcome = authorize(&h, &portal, &[("scope", "openid")]).await;
    assert_redirect_error(&outcome, "access_denied");
    // Nobody is asked to log in for nothing: no session, the login page first as always.
    let outcome = h
        .authz
        .authorize(
            &h.authorize_params(&portal, &[]),
            None,
            ConsentDecision::NotAsked,
            t0(),
        )
        .await;
    assert!(
        matches!(outcome, AuthorizeOutcome::LoginRequired { .. }),
        "{outcome:?}"
    );

    // Audited in the organisation's trail, with the request's context.
    let ctx = RequestContext {
        ip: Some("203.0.113.9".into()),
        request_id: Some("req-42".into()),
        ..RequestContext::default()
    };
    let outcome = h
        .authz
        .authorize_in_context(
            &h.authorize_params(&portal, &[]),
            Some(&h.session),
            ConsentDecision::Approved,
            &ctx,
            t0(),
        )
        .await;
    assert_redirect_error(&outcome, "access_denied");
    let events = refused_events(&h, &acme).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let newest = &events[0];
    assert_eq!(newest.outcome, AuditOutcome::Failure);
    assert_eq!(newest.org_id, Some(acme.id));
    assert_eq!(
        newest.actor.as_deref(),
        Some(h.user.id.to_string().as_str())
    );
    assert_eq!(newest.target.as_deref(), Some(portal.id()));
    assert_eq!(newest.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(newest.request_id.as_deref(), Some("req-42"));
    assert_eq!(newest.details["reason"], "not_a_member");
    assert_eq!(newest.details["organization"], "acme");

    // Another user who is a member gets in.
    let bob = h.register("bob").await;
    add_member(&h, &acme, bob.id, OrgRole::Member);
    let session = gatehouse_authz::AuthSession {
        user_id: bob.id,
        ..h.session.clone()
    };
    let tokens = h
        .tokens_in(&session, &portal, &[("scope", ORG_SCOPES)])
        .await;
    assert_eq!(
        org_claims_of(&jwt_payload(str_field(&tokens, "id_token"))),
        expected_claims(&acme, "member")
    );
}

async fn a_disabled_organisation_refuses_sign_in_and_refresh(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let portal = client_of(&h, Some(&acme));
    let code = h
        .code_with(&portal, &[("scope", "openid organization offline_access")])
        .await;
    let tokens = h.exchange(&portal, &code).await.unwrap();
    let refresh_token = str_field(&tokens, "refresh_token").to_owned();

    set_enabled(&h, &acme, false);
    assert_redirect_error(&authorize(&h, &portal, &[]).await, "access_denied");
    let events = refused_events(&h, &acme).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["reason"], "organization_disabled");
    // By parameter too, for a global client.
    let global = client_of(&h, None);
    assert_redirect_error(
        &authorize(&h, &global, &[("organization", "acme")]).await,
        "access_denied",
    );
    // A non-member is refused as a non-member: only members learn it is disabled.
    let bob = h.register("bob").await;
    let bob_session = gatehouse_authz::AuthSession {
        user_id: bob.id,
        ..h.session.clone()
    };
    let outcome = h
        .authz
        .authorize(
            &h.authorize_params(&portal, &[]),
            Some(&bob_session),
            ConsentDecision::Approved,
            t0(),
        )
        .await;
    assert_redirect_error(&outcome, "access_denied");
    let description = &redirect_query(&outcome)["error_description"];
    assert!(!description.contains("disabled"), "{description}");
    assert_eq!(
        refused_events(&h, &acme).await[0].details["reason"],
        "not_a_member"
    );
    let err = h.refresh(&portal, &refresh_token).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant, "{err}");
    let err = h
        .authz
        .userinfo(str_field(&tokens, "access_token"), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken), "{err}");

    // Enabled again: members sign in again.
    set_enabled(&h, &acme, true);
    h.code(&portal).await;
}

async fn the_organization_parameter_names_it_by_slug_or_by_id(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let global = client_of(&h, None);

    let id = acme.id.to_string();
    for name in ["acme", id.as_str()] {
        let code = h
            .code_with(&global, &[("scope", ORG_SCOPES), ("organization", name)])
            .await;
        let tokens = h.exchange(&global, &code).await.unwrap();
        for claims in claims_everywhere(&h, &tokens).await {
            assert_eq!(claims, expected_claims(&acme, "member"), "{name}");
        }
    }

    // Unknown, by slug or by id, or not a name at all: invalid_request at the redirect URI.
    let unknown = uuid::Uuid::new_v4().to_string();
    for name in ["nobody", unknown.as_str(), "Not A Slug!"] {
        let outcome = authorize(&h, &global, &[("organization", name)]).await;
        assert_redirect_error(&outcome, "invalid_request");
    }
    // Repeated: invalid_request like any repeated parameter.
    let mut params = h.authorize_params(&global, &[("organization", "acme")]);
    params.push(("organization".into(), "acme".into()));
    assert_redirect_error(
        &h.authorize(&params, ConsentDecision::Approved).await,
        "invalid_request",
    );

    // A non-member naming it is refused.
    let globex = org(&h, "globex");
    assert_redirect_error(
        &authorize(&h, &global, &[("organization", "globex")]).await,
        "access_denied",
    );
    assert_eq!(refused_events(&h, &globex).await.len(), 1);
}

async fn the_organization_parameter_cannot_move_a_client_to_another_organisation(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    let globex = org(&h, "globex");
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    add_member(&h, &globex, h.user.id, OrgRole::Member);
    let portal = client_of(&h, Some(&acme));

    let outcome = authorize(&h, &portal, &[("organization", "globex")]).await;
    assert_redirect_error(&outcome, "invalid_request");
    let query = redirect_query(&outcome);
    assert!(
        query["error_description"].contains("another organization"),
        "{query:?}"
    );
    // Naming its own organisation is fine.
    let code = h
        .code_with(&portal, &[("scope", ORG_SCOPES), ("organization", "acme")])
        .await;
    let tokens = h.exchange(&portal, &code).await.unwrap();
    assert_eq!(
        org_claims_of(&jwt_payload(str_field(&tokens, "access_token"))),
        expected_claims(&acme, "member")
    );
}

async fn removal_from_the_organisation_ends_refresh_and_userinfo(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let portal = client_of(&h, Some(&acme));
    let code = h
        .code_with(&portal, &[("scope", "openid organization offline_access")])
        .await;
    let tokens = h.exchange(&portal, &code).await.unwrap();
    let refreshed = h
        .refresh(&portal, str_field(&tokens, "refresh_token"))
        .await
        .unwrap();
    assert_eq!(
        org_claims_of(&jwt_payload(str_field(&refreshed, "access_token"))),
        expected_claims(&acme, "member")
    );

    assert!(organizations::remove_member(&h.db, acme.id, h.user.id).unwrap());
    let err: OAuthError = h
        .refresh(&portal, str_field(&refreshed, "refresh_token"))
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidGrant, "{err}");
    let err = h
        .authz
        .userinfo(str_field(&refreshed, "access_token"), t0())
        .await
        .unwrap_err();
    assert_eq!(err.code, Some(ErrorCode::InvalidToken), "{err}");
    // And no new sign-in.
    assert_redirect_error(&authorize(&h, &portal, &[]).await, "access_denied");
}

async fn a_device_request_of_an_organisation_client_is_for_its_members(backend: Backend) {
    let h = Harness::new(backend).await;
    let acme = org(&h, "acme");
    let bot = h.client(NewClient {
        name: "Acme bot".into(),
        client_type: Some(ClientType::Public),
        grant_types: vec![GrantType::DeviceCode],
        scopes: ["openid", "organization"].map(String::from).to_vec(),
        org_id: Some(acme.id.to_string()),
        ..NewClient::default()
    });
    let start = |extra: &'static [(&'static str, &'static str)]| {
        let mut pairs = vec![("scope", "openid organization")];
        pairs.extend_from_slice(extra);
        let form = bot.form(&pairs);
        let authz = &h.authz;
        let credentials = bot.credentials();
        async move { authz.device_authorization(&form, credentials, t0()).await }
    };

    // Another organisation than the client's: refused before any code exists.
    org(&h, "globex");
    let err = start(&[("organization", "globex")]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest, "{err}");
    let err = start(&[("organization", "nobody")]).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidRequest, "{err}");
    // RFC 8707 §2 at the device authorization endpoint: a resource the client is not
    // registered for.
    let err = start(&[("resource", "https://api.example.test/")])
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidTarget, "{err}");

    let started = start(&[]).await.unwrap();
    let user_code = str_field(&started, "user_code").to_owned();
    let device_code = str_field(&started, "device_code").to_owned();

    // Not a member: neither shown nor approved; the request waits for the right user.
    for action in [DeviceAction::Show, DeviceAction::Approve] {
        let err = h
            .authz
            .verify_device(&user_code, &h.session, action, t0())
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied, "{err}");
        assert!(err.description.contains("acme Ltd"), "{err}");
    }
    assert_eq!(refused_events(&h, &acme).await.len(), 2);

    add_member(&h, &acme, h.user.id, OrgRole::Member);
    let DeviceOutcome::Confirm(request) = h
        .authz
        .verify_device(&user_code, &h.session, DeviceAction::Show, t0())
        .await
        .unwrap()
    else {
        panic!("no confirmation");
    };
    assert_eq!(request.organization.as_deref(), Some("acme Ltd"));
    assert!(matches!(
        h.authz
            .verify_device(&user_code, &h.session, DeviceAction::Approve, t0())
            .await
            .unwrap(),
        DeviceOutcome::Approved(_)
    ));
    let tokens = h
        .authz
        .token(
            &bot.form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
            ]),
            bot.credentials(),
            t0(),
        )
        .await
        .unwrap();
    for claims in claims_everywhere(&h, &tokens).await {
        assert_eq!(claims, expected_claims(&acme, "member"));
    }
}
