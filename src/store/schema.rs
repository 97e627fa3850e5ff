//! Diesel's view of the tables in diesel/{sqlite,postgres}; the two backends share one schema.

diesel::table! {
    accounts (account_id) {
        account_id -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    access_keys (access_key_id) {
        access_key_id -> Text,
        account_id -> Text,
        secret_access_key -> Text,
        status -> Text,
        created_at -> Text,
    }
}

diesel::joinable!(access_keys -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, access_keys);
