//! Diesel's view of the tables in diesel/{sqlite,postgres}; the two backends share one schema.

diesel::table! {
    accounts (account_id) {
        account_id -> Text,
        created_at -> Text,
        default_vpc_made -> Bool,
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
        vpc_id -> Nullable<Text>,
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

diesel::table! {
    gateway_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    vpcs (vpc_id) {
        vpc_id -> Text,
        account_id -> Text,
        cidr_block -> Text,
        cidr_association_id -> Text,
        is_default -> Bool,
        state -> Text,
        instance_tenancy -> Text,
        enable_dns_support -> Bool,
        enable_dns_hostnames -> Bool,
        enable_nau_metrics -> Bool,
        created_at -> Text,
    }
}

diesel::table! {
    subnets (subnet_id) {
        subnet_id -> Text,
        account_id -> Text,
        vpc_id -> Text,
        cidr_block -> Text,
        availability_zone -> Text,
        state -> Text,
        default_for_az -> Bool,
        map_public_ip_on_launch -> Bool,
        created_at -> Text,
    }
}

diesel::table! {
    internet_gateways (gateway_id) {
        gateway_id -> Text,
        account_id -> Text,
        vpc_id -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    route_tables (route_table_id) {
        route_table_id -> Text,
        account_id -> Text,
        vpc_id -> Text,
        main_association_id -> Nullable<Text>,
        created_at -> Text,
    }
}

diesel::table! {
    routes (route_table_id, destination) {
        route_table_id -> Text,
        destination -> Text,
        gateway_id -> Nullable<Text>,
        network_interface_id -> Nullable<Text>,
        instance_id -> Nullable<Text>,
        origin -> Text,
    }
}

diesel::table! {
    route_table_associations (association_id) {
        association_id -> Text,
        route_table_id -> Text,
        subnet_id -> Text,
    }
}

diesel::table! {
    security_groups (group_id) {
        group_id -> Text,
        account_id -> Text,
        vpc_id -> Text,
        group_name -> Text,
        description -> Text,
        created_at -> Text,
    }
}

diesel::table! {
    network_interfaces (interface_id) {
        interface_id -> Text,
        account_id -> Text,
        vpc_id -> Text,
        subnet_id -> Text,
        availability_zone -> Text,
        mac_address -> Text,
        description -> Text,
        source_dest_check -> Bool,
        interface_type -> Text,
        created_at -> Text,
        instance_id -> Nullable<Text>,
        device_index -> Nullable<Integer>,
        attachment_id -> Nullable<Text>,
        attach_time -> Nullable<Text>,
        attachment_status -> Nullable<Text>,
        delete_on_termination -> Bool,
    }
}

diesel::table! {
    interface_addresses (interface_id, private_ip) {
        interface_id -> Text,
        private_ip -> Text,
        subnet_id -> Text,
        is_primary -> Bool,
    }
}

diesel::table! {
    interface_security_groups (interface_id, position) {
        interface_id -> Text,
        position -> Integer,
        group_id -> Text,
    }
}

diesel::table! {
    public_addresses (public_ip) {
        public_ip -> Text,
        account_id -> Text,
        allocation_id -> Nullable<Text>,
        association_id -> Nullable<Text>,
        interface_id -> Nullable<Text>,
        private_ip -> Nullable<Text>,
        created_at -> Text,
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
    gateway_settings,
    vpcs,
    subnets,
    internet_gateways,
    route_tables,
    routes,
    route_table_associations,
    security_groups,
    network_interfaces,
    interface_addresses,
    interface_security_groups,
    public_addresses,
);
