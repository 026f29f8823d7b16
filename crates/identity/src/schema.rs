//! Diesel's view of the tables created by `migrations/{postgres,sqlite}`, written to match what
//! `diesel print-schema` emits for the Postgres dialect. The SQL types are the subset that
//! `#[derive(MultiConnection)]` maps on both backends (Text, Bool, Integer, BigInt, Timestamp);
//! change a migration and this file together.

diesel::table! {
    audit_events (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        actor -> Nullable<Text>,
        action -> Text,
        target -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        outcome -> Text,
        details -> Text,
        actor_kind -> Text,
        request_id -> Nullable<Text>,
        org_id -> Nullable<Text>,
    }
}

diesel::table! {
    client_roles (client_id, role) {
        client_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Text,
        client_type -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        grant_types -> Text,
        scopes -> Text,
        token_endpoint_auth_method -> Text,
        id_token_signed_response_alg -> Text,
        first_party -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        backchannel_logout_uri -> Nullable<Text>,
        backchannel_logout_session_required -> Bool,
        require_2fa -> Bool,
        enabled -> Bool,
        org_id -> Nullable<Text>,
        resources -> Text,
        exchange_audiences -> Text,
        allow_impersonation -> Bool,
    }
}

diesel::table! {
    organizations (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        enabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    organization_members (org_id, user_id) {
        org_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consents (user_id, client_id) {
        user_id -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    email_tokens (id) {
        id -> BigInt,
        user_id -> Text,
        purpose -> Text,
        token_hash -> Text,
        code_hash -> Nullable<Text>,
        email -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    key_material (name) {
        name -> Text,
        sealed -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> BigInt,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        message_id -> Text,
        status -> Text,
        attempts -> Integer,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        claimed_at -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> BigInt,
        user_id -> Text,
        code_hash -> Text,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        description -> Text,
    }
}

diesel::table! {
    session_end_requests (id) {
        id -> BigInt,
        user_id -> Text,
        reason -> Text,
        requested_by -> Nullable<Text>,
        requested_at -> Timestamp,
        claimed_at -> Nullable<Timestamp>,
        claim_token -> Nullable<Text>,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        alg -> Text,
        status -> Text,
        sealed_private_key -> Text,
        created_at -> Timestamp,
        activated_at -> Nullable<Timestamp>,
        published_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        secret_sealed -> Text,
        algorithm -> Text,
        digits -> Integer,
        period -> Integer,
        last_used_step -> Nullable<BigInt>,
        confirmed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    user_counts (slot) {
        slot -> Integer,
        active -> BigInt,
        locked -> BigInt,
        disabled -> BigInt,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        username -> Text,
        email -> Text,
        email_verified -> Bool,
        password_hash -> Text,
        status -> Text,
        failed_logins -> Integer,
        failed_window_started_at -> Nullable<Timestamp>,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(client_roles -> clients (client_id));
diesel::joinable!(client_roles -> roles (role));
diesel::joinable!(consents -> clients (client_id));
diesel::joinable!(consents -> users (user_id));
diesel::joinable!(clients -> organizations (org_id));
diesel::joinable!(organization_members -> organizations (org_id));
diesel::joinable!(organization_members -> users (user_id));
diesel::joinable!(email_tokens -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(totp_credentials -> users (user_id));
diesel::joinable!(user_roles -> roles (role));
diesel::joinable!(user_roles -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    organizations,
    organization_members,
    client_roles,
    clients,
    consents,
    email_tokens,
    key_material,
    mail_outbox,
    recovery_codes,
    roles,
    session_end_requests,
    signing_keys,
    totp_credentials,
    user_counts,
    user_roles,
    users,
);
