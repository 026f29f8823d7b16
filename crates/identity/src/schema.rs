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
    }
}

diesel::table! {
    roles (id) {
        id -> Text,
        description -> Text,
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

diesel::joinable!(user_roles -> roles (role));
diesel::joinable!(user_roles -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(audit_events, roles, user_roles, users);
