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
        secret_sealed -> Text,
        status -> Text,
        created_at -> Text,
        secret_key_id -> Nullable<Text>,
    }
}

diesel::table! {
    gateway_secrets (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    images (image_id) {
        image_id -> Text,
        owner_id -> Text,
        name -> Text,
        description -> Text,
        state -> Text,
        architecture -> Text,
        is_public -> Bool,
        root_device_name -> Text,
        size_gib -> Integer,
        disk_path -> Text,
        disk_format -> Text,
        disk_bytes -> BigInt,
        sha256 -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    image_launch_permissions (image_id, account_id) {
        image_id -> Text,
        account_id -> Text,
    }
}

diesel::table! {
    key_pairs (key_pair_id) {
        key_pair_id -> Text,
        account_id -> Text,
        key_name -> Text,
        key_type -> Text,
        fingerprint -> Text,
        public_key -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    tags (account_id, resource_id, tag_key) {
        account_id -> Text,
        resource_id -> Text,
        tag_key -> Text,
        tag_value -> Text,
        resource_type -> Text,
    }
}

diesel::table! {
    reservations (reservation_id) {
        reservation_id -> Text,
        account_id -> Text,
        client_token -> Nullable<Text>,
        request_hash -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    instances (instance_id) {
        instance_id -> Text,
        account_id -> Text,
        reservation_id -> Text,
        launch_index -> Integer,
        image_id -> Text,
        instance_type -> Text,
        vcpus -> Integer,
        memory_mib -> BigInt,
        key_name -> Nullable<Text>,
        availability_zone -> Text,
        state -> Text,
        state_reason_code -> Nullable<Text>,
        state_reason_message -> Nullable<Text>,
        transition_reason -> Text,
        launch_time -> Text,
        state_changed_at -> Text,
        user_data -> Text,
        disable_api_termination -> Bool,
        disable_api_stop -> Bool,
        shutdown_behavior -> Text,
        subnet_id -> Nullable<Text>,
        root_volume_id -> Text,
        root_size_gib -> Integer,
        root_delete_on_termination -> Bool,
        ebs_optimized -> Bool,
        monitoring -> Bool,
        cpu_credits -> Text,
        client_token -> Text,
        reboot_requested_at -> Nullable<Text>,
        hibernation_configured -> Bool,
        stop_mode -> Text,
    }
}

diesel::table! {
    instance_options (instance_id) {
        instance_id -> Text,
        metadata_http_tokens -> Text,
        metadata_http_endpoint -> Text,
        metadata_hop_limit -> Integer,
        metadata_tags -> Text,
        metadata_protocol_ipv6 -> Text,
        tenancy -> Text,
    }
}

diesel::table! {
    instance_security_groups (instance_id, position) {
        instance_id -> Text,
        position -> Integer,
        group_ref -> Text,
    }
}

diesel::table! {
    host_capacity (host_id) {
        host_id -> Text,
    }
}

diesel::table! {
    volumes (volume_id) {
        volume_id -> Text,
        account_id -> Text,
        availability_zone -> Text,
        size_gib -> Integer,
        state -> Text,
        created_at -> Text,
        state_changed_at -> Text,
        instance_id -> Nullable<Text>,
        device -> Nullable<Text>,
        attach_time -> Nullable<Text>,
        delete_on_termination -> Bool,
    }
}

diesel::joinable!(access_keys -> accounts (account_id));
diesel::joinable!(instance_options -> instances (instance_id));
diesel::joinable!(instance_security_groups -> instances (instance_id));
diesel::joinable!(image_launch_permissions -> images (image_id));
diesel::allow_tables_to_appear_in_same_query!(
    instances,
    volumes,
    reservations,
    instance_options,
    instance_security_groups,
    host_capacity,
    accounts,
    access_keys,
    gateway_secrets,
    images,
    image_launch_permissions,
    key_pairs,
    tags,
);
