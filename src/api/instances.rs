//! RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances, GetConsoleOutput,
//! Describe/ModifyInstanceAttribute, DescribeInstanceStatus,
//! DescribeInstanceCreditSpecifications.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{
    attribute_flag as flag, attribute_value as value, empty_attribute as empty, filters, page,
    refuse_ids_with_max_results, tag_set, tag_specifications,
};
use super::Principal;
use crate::domain::InstanceState;
use crate::engine::instances::{
    status_of, AttributeChanges, BlockDeviceRequest, GroupRef, Instance, InstanceAttribute,
    MetadataOptionsRequest, Reservation, RunRequest, StateChange,
};
use crate::engine::tags::{check_tag, tags_for, TagSpecification};
use crate::engine::{Engine, EngineError};

// ---- requests ----

/// What `NetworkInterface.1` asks of the primary interface.
#[derive(Debug, Default)]
struct InterfaceRequest {
    subnet_id: Option<String>,
    security_group_ids: Vec<String>,
    private_ip_address: Option<String>,
    associate_public_ip_address: Option<bool>,
    delete_on_termination: Option<bool>,
    description: Option<String>,
}

/// `NetworkInterface.N`: only a new primary interface (device 0); actions.toml refuses the
/// members that need what is not served (IPv6, an existing interface, prefixes).
fn primary_interface(
    interfaces: Vec<input::InstanceNetworkInterfaceSpecification>,
) -> Result<Option<InterfaceRequest>, ApiError> {
    let only_one = || {
        ApiError::Engine(EngineError::UnsupportedOperation(
            "Only one network interface (device index 0) is supported.".into(),
        ))
    };
    if interfaces.len() > 1 {
        return Err(only_one());
    }
    let Some(interface) = interfaces.into_iter().next() else {
        return Ok(None);
    };
    if interface.device_index.is_some_and(|i| i != 0) {
        return Err(only_one());
    }
    Ok(Some(InterfaceRequest {
        subnet_id: interface.subnet_id.filter(|v| !v.is_empty()),
        security_group_ids: interface.groups,
        private_ip_address: interface.private_ip_address.filter(|v| !v.is_empty()),
        associate_public_ip_address: interface.associate_public_ip_address,
        delete_on_termination: interface.delete_on_termination,
        description: interface.description,
    }))
}

/// `BlockDeviceMapping.N`, as sent: the engine decides what each mapping means.
fn block_device_request(mapping: input::BlockDeviceMapping) -> BlockDeviceRequest {
    let ebs = mapping.ebs.unwrap_or_default();
    BlockDeviceRequest {
        device_name: mapping.device_name,
        volume_size: ebs.volume_size.map(i64::from),
        delete_on_termination: ebs.delete_on_termination,
        volume_type: ebs.volume_type,
        encrypted: ebs.encrypted,
        iops: ebs.iops.map(i64::from),
        throughput: ebs.throughput.map(i64::from),
        no_device: mapping.no_device,
        virtual_name: mapping.virtual_name,
    }
}

fn run_request(req: input::RunInstancesRequest) -> Result<RunRequest, ApiError> {
    let block_device_mappings = req
        .block_device_mappings
        .into_iter()
        .map(block_device_request)
        .collect();
    let mut subnet_id = req.subnet_id;
    let mut security_group_ids = req.security_group_ids;
    let security_groups = req.security_groups;
    let mut private_ip_address = req.private_ip_address.filter(|v| !v.is_empty());
    let mut interface_options = (None, None, None);
    if let Some(interface) = primary_interface(req.network_interfaces)? {
        if subnet_id.is_some() {
            return Err(ApiError::InvalidParameterCombination(
                "Network interfaces and an instance-level subnet ID may not be specified on the same request".into(),
            ));
        }
        if !security_group_ids.is_empty() || !security_groups.is_empty() {
            return Err(ApiError::InvalidParameterCombination(
                "Network interfaces and an instance-level security groups may not be specified on the same request".into(),
            ));
        }
        if private_ip_address.is_some() && interface.private_ip_address.is_some() {
            return Err(ApiError::InvalidParameterCombination(
                "Network interfaces and an instance-level private IP address may not be specified on the same request".into(),
            ));
        }
        subnet_id = interface.subnet_id;
        security_group_ids = interface.security_group_ids;
        private_ip_address = private_ip_address.or(interface.private_ip_address);
        interface_options = (
            interface.associate_public_ip_address,
            interface.delete_on_termination,
            interface.description,
        );
    }
    // Placement.GroupName: accepted as AWS does (no placement groups here).
    let placement = req.placement.unwrap_or_default();
    let metadata = req.metadata_options.unwrap_or_default();
    Ok(RunRequest {
        image_id: String::new(),
        instance_type: req.instance_type.unwrap_or_else(|| "t3.micro".into()),
        min_count: req.min_count.into(),
        max_count: req.max_count.into(),
        key_name: req.key_name.filter(|k| !k.is_empty()),
        user_data: req.user_data.unwrap_or_default(),
        security_group_ids,
        security_groups,
        subnet_id,
        availability_zone: placement.availability_zone,
        private_ip_address,
        associate_public_ip: interface_options.0,
        interface_delete_on_termination: interface_options.1,
        interface_description: interface_options.2,
        block_device_mappings,
        instance_tags: Vec::new(),
        volume_tags: Vec::new(),
        client_token: req.client_token,
        disable_api_termination: req.disable_api_termination.unwrap_or(false),
        disable_api_stop: req.disable_api_stop.unwrap_or(false),
        shutdown_behavior: req
            .instance_initiated_shutdown_behavior
            .unwrap_or_else(|| "stop".into()),
        ebs_optimized: req.ebs_optimized.unwrap_or(false),
        monitoring: req.monitoring.is_some_and(|m| m.enabled),
        cpu_credits: req.credit_specification.map(|c| c.cpu_credits),
        hibernation_configured: req
            .hibernation_options
            .and_then(|h| h.configured)
            .unwrap_or(false),
        metadata_options: MetadataOptionsRequest {
            http_tokens: metadata.http_tokens,
            http_endpoint: metadata.http_endpoint,
            http_put_response_hop_limit: metadata.http_put_response_hop_limit.map(i64::from),
            instance_metadata_tags: metadata.instance_metadata_tags,
            http_protocol_ipv6: metadata.http_protocol_ipv6,
        },
        tenancy: placement.tenancy,
    })
}

/// The structured form (`InstanceType.Value=...`) and the older `Attribute` + `Value`.
fn attribute_changes(
    req: &mut input::ModifyInstanceAttributeRequest,
) -> Result<AttributeChanges, ApiError> {
    let text = |v: Option<input::AttributeValue>| v.and_then(|v| v.value);
    let flag = |v: Option<input::AttributeBooleanValue>| v.and_then(|v| v.value);
    let mut changes = AttributeChanges {
        instance_type: text(req.instance_type.take()),
        user_data: req.user_data.take().and_then(|v| v.value),
        disable_api_termination: flag(req.disable_api_termination.take()),
        disable_api_stop: flag(req.disable_api_stop.take()),
        shutdown_behavior: text(req.instance_initiated_shutdown_behavior.take()),
        ebs_optimized: flag(req.ebs_optimized.take()),
    };
    // SourceDestCheck and EnaSupport are accepted and kept as they are: there is one network
    // interface and no ENA here.
    if let (Some(attribute), Some(value)) = (req.attribute.as_deref(), req.value.take()) {
        let as_bool = |v: &str| v.eq_ignore_ascii_case("true");
        match attribute {
            "instanceType" => changes.instance_type = Some(value),
            "userData" => changes.user_data = Some(value),
            "disableApiTermination" => changes.disable_api_termination = Some(as_bool(&value)),
            "disableApiStop" => changes.disable_api_stop = Some(as_bool(&value)),
            "instanceInitiatedShutdownBehavior" => changes.shutdown_behavior = Some(value),
            "ebsOptimized" => changes.ebs_optimized = Some(as_bool(&value)),
            other => {
                return Err(ApiError::InvalidParameterValue(format!(
                    "Value ({other}) for parameter attribute is invalid. Unknown attribute."
                )))
            }
        }
    }
    let named: Vec<&str> = [
        ("instanceType", changes.instance_type.is_some()),
        ("userData", changes.user_data.is_some()),
        (
            "disableApiTermination",
            changes.disable_api_termination.is_some(),
        ),
        ("disableApiStop", changes.disable_api_stop.is_some()),
        (
            "instanceInitiatedShutdownBehavior",
            changes.shutdown_behavior.is_some(),
        ),
        ("ebsOptimized", changes.ebs_optimized.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| *name)
    .collect();
    if named.len() > 1 {
        return Err(ApiError::InvalidParameterCombination(format!(
            "Fields for multiple attribute types specified: {}",
            named.join(", ")
        )));
    }
    Ok(changes)
}

// ---- answers ----

fn state(state: InstanceState) -> Option<output::InstanceState> {
    Some(output::InstanceState {
        code: Some(state.code()),
        name: Some(state.as_str().to_owned()),
    })
}

fn group_set(groups: &[GroupRef]) -> Option<Vec<output::GroupIdentifier>> {
    Some(
        groups
            .iter()
            .map(|g| output::GroupIdentifier {
                group_id: Some(g.group_id.clone()),
                group_name: Some(g.group_name.clone()),
            })
            .collect(),
    )
}

fn block_devices(instance: &Instance) -> Option<Vec<output::InstanceBlockDeviceMapping>> {
    if instance.row.state == InstanceState::Terminated {
        return Some(Vec::new());
    }
    Some(vec![output::InstanceBlockDeviceMapping {
        device_name: Some(instance.root_device_name.clone()),
        ebs: Some(output::EbsInstanceBlockDevice {
            volume_id: Some(instance.row.root_volume_id.clone()),
            status: Some("attached".into()),
            attach_time: Some(instance.row.launch_time.clone()),
            delete_on_termination: Some(instance.row.root_delete_on_termination),
            ..Default::default()
        }),
    }])
}

/// An instance as EC2 renders it in DescribeInstances and RunInstances.
fn instance(engine: &Engine, instance: Instance) -> output::Instance {
    let block_device_mappings = block_devices(&instance);
    let (cores, threads) = engine
        .instance_type(&instance.row.instance_type)
        .map_or((1, 1), |t| (t.cores(), t.threads_per_core()));
    let metadata = instance.metadata_options;
    let primary = instance
        .interfaces
        .iter()
        .find(|i| i.row.device_index == Some(0));
    let private_dns_name = primary
        .map(|i| i.private_dns_name.clone())
        .unwrap_or_default();
    let private_ip_address = primary.and_then(|i| i.private_ip().map(str::to_owned));
    let public_ip_address = primary.and_then(|i| i.public_ip().map(str::to_owned));
    let source_dest_check = primary.is_none_or(|i| i.row.source_dest_check);
    let network_interfaces = instance
        .interfaces
        .into_iter()
        .map(super::interfaces::instance_interface)
        .collect();
    let row = instance.row;
    let state_reason = row
        .state_reason_code
        .clone()
        .filter(|c| !c.is_empty())
        .map(|code| output::StateReason {
            message: Some(
                row.state_reason_message
                    .clone()
                    .unwrap_or_else(|| code.clone()),
            ),
            code: Some(code),
        });
    output::Instance {
        state: state(row.state),
        private_dns_name: Some(private_dns_name),
        private_ip_address,
        public_ip_address,
        public_dns_name: Some(String::new()),
        state_transition_reason: Some(row.transition_reason),
        key_name: row.key_name,
        ami_launch_index: Some(row.launch_index),
        product_codes: Some(Vec::new()),
        launch_time: Some(row.launch_time.clone()),
        placement: Some(output::Placement {
            availability_zone: Some(row.availability_zone),
            group_name: Some(String::new()),
            tenancy: Some(instance.tenancy.as_str().into()),
            ..Default::default()
        }),
        monitoring: Some(output::Monitoring {
            state: Some(
                if row.monitoring {
                    "enabled"
                } else {
                    "disabled"
                }
                .into(),
            ),
            ..Default::default()
        }),
        subnet_id: row.subnet_id,
        vpc_id: instance.vpc_id,
        source_dest_check: Some(source_dest_check),
        security_groups: group_set(&instance.groups),
        state_reason,
        architecture: Some(instance.architecture),
        root_device_type: Some("ebs".into()),
        root_device_name: Some(instance.root_device_name),
        block_device_mappings,
        virtualization_type: Some("hvm".into()),
        client_token: Some(row.client_token),
        tags: tag_set(instance.tags),
        hypervisor: Some("xen".into()),
        network_interfaces: Some(network_interfaces),
        ebs_optimized: Some(row.ebs_optimized),
        ena_support: Some(false),
        cpu_options: Some(output::CpuOptions {
            core_count: Some(i32::try_from(cores).unwrap_or(i32::MAX)),
            threads_per_core: Some(i32::try_from(threads).unwrap_or(i32::MAX)),
            ..Default::default()
        }),
        capacity_reservation_specification: Some(
            output::CapacityReservationSpecificationResponse {
                capacity_reservation_preference: Some("open".into()),
                ..Default::default()
            },
        ),
        hibernation_options: Some(output::HibernationOptions {
            configured: Some(row.hibernation_configured),
        }),
        metadata_options: Some(output::InstanceMetadataOptionsResponse {
            state: Some("applied".into()),
            http_tokens: Some(metadata.http_tokens.as_str().into()),
            http_put_response_hop_limit: Some(
                i32::try_from(metadata.http_put_response_hop_limit).unwrap_or(i32::MAX),
            ),
            http_endpoint: Some(metadata.http_endpoint.as_str().into()),
            http_protocol_ipv6: Some(metadata.http_protocol_ipv6.as_str().into()),
            instance_metadata_tags: Some(metadata.instance_metadata_tags.as_str().into()),
        }),
        enclave_options: Some(output::EnclaveOptions {
            enabled: Some(false),
        }),
        boot_mode: Some("legacy-bios".into()),
        platform_details: Some("Linux/UNIX".into()),
        usage_operation: Some("RunInstances".into()),
        usage_operation_update_time: Some(row.launch_time),
        maintenance_options: Some(output::InstanceMaintenanceOptions {
            auto_recovery: Some("default".into()),
            ..Default::default()
        }),
        current_instance_boot_mode: Some("legacy-bios".into()),
        instance_id: Some(row.instance_id),
        image_id: Some(row.image_id),
        instance_type: Some(row.instance_type),
        ..Default::default()
    }
}

fn reservation(engine: &Engine, reservation: Reservation) -> output::Reservation {
    output::Reservation {
        reservation_id: Some(reservation.reservation_id),
        owner_id: Some(reservation.owner_id),
        groups: Some(Vec::new()),
        instances: Some(
            reservation
                .instances
                .into_iter()
                .map(|i| instance(engine, i))
                .collect(),
        ),
        ..Default::default()
    }
}

fn state_changes(changes: Vec<StateChange>) -> Option<Vec<output::InstanceStateChange>> {
    Some(
        changes
            .into_iter()
            .map(|c| output::InstanceStateChange {
                current_state: state(c.current),
                previous_state: state(c.previous),
                instance_id: Some(c.instance_id),
            })
            .collect(),
    )
}

fn attribute_result(
    instance_id: String,
    attribute: InstanceAttribute,
) -> output::InstanceAttribute {
    let mut r = output::InstanceAttribute {
        instance_id: Some(instance_id),
        ..Default::default()
    };
    match attribute {
        InstanceAttribute::Text("instanceType", v) => r.instance_type = value(v),
        InstanceAttribute::Text(_, v) => r.instance_initiated_shutdown_behavior = value(v),
        InstanceAttribute::Bool("disableApiTermination", v) => r.disable_api_termination = flag(v),
        InstanceAttribute::Bool("disableApiStop", v) => r.disable_api_stop = flag(v),
        InstanceAttribute::Bool("sourceDestCheck", v) => r.source_dest_check = flag(v),
        InstanceAttribute::Bool("ebsOptimized", v) => r.ebs_optimized = flag(v),
        InstanceAttribute::Bool(_, v) => r.ena_support = flag(v),
        // `<userData/>` when there is none.
        InstanceAttribute::UserData(v) => r.user_data = Some(output::AttributeValue { value: v }),
        InstanceAttribute::RootDeviceName(v) => r.root_device_name = value(v),
        InstanceAttribute::BlockDeviceMapping(instance) => {
            r.block_device_mappings = block_devices(&instance)
        }
        InstanceAttribute::GroupSet(groups) => r.groups = group_set(&groups),
        InstanceAttribute::Empty("productCodes") => r.product_codes = Some(Vec::new()),
        InstanceAttribute::Empty("kernel") => r.kernel_id = empty(),
        InstanceAttribute::Empty("ramdisk") => r.ramdisk_id = empty(),
        InstanceAttribute::Empty("enclaveOptions") => {
            r.enclave_options = Some(output::EnclaveOptions {
                enabled: Some(false),
            })
        }
        InstanceAttribute::Empty(_) => r.sriov_net_support = empty(),
    }
    r
}

fn summary(state: InstanceState) -> Option<output::InstanceStatusSummary> {
    let (status, reachability) = status_of(state);
    Some(output::InstanceStatusSummary {
        status: Some(status.into()),
        details: Some(
            reachability
                .map(|status| output::InstanceStatusDetails {
                    name: Some("reachability".into()),
                    status: Some(status.into()),
                    ..Default::default()
                })
                .into_iter()
                .collect(),
        ),
    })
}

// ---- handlers ----

pub async fn run_instances(
    engine: &Engine,
    who: &Principal,
    mut req: input::RunInstancesRequest,
) -> Result<output::Reservation, ApiError> {
    let specs = tag_specifications(std::mem::take(&mut req.tag_specifications))?;
    let image_id = req.image_id.take();
    let mut request = run_request(req)?;
    // Checked after every other key: AWS names unknown parameters first.
    request.image_id = image_id.ok_or_else(|| ApiError::MissingParameter("ImageId".into()))?;
    for spec in &specs {
        for tag in &spec.tags {
            check_tag(tag)?;
        }
        if spec.resource_type != "instance" && spec.resource_type != "volume" {
            return Err(ApiError::InvalidParameterValue(format!(
                "'{}' is not a valid taggable resource type for this operation.",
                spec.resource_type
            )));
        }
    }
    let of = |kind: &str| -> Vec<TagSpecification> {
        specs
            .iter()
            .filter(|s| s.resource_type == kind)
            .cloned()
            .collect()
    };
    request.instance_tags = tags_for(&of("instance"), "instance")?;
    request.volume_tags = tags_for(&of("volume"), "volume")?;
    let made = engine.run_instances(&who.account_id, request).await?;
    Ok(reservation(engine, made))
}

pub async fn describe_instances(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeInstancesRequest,
) -> Result<output::DescribeInstancesResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    refuse_ids_with_max_results(&req.instance_ids, &page, "instancesSet")?;
    let (instances, next_token) = engine
        .describe_instances(
            &who.account_id,
            req.instance_ids,
            filters(req.filters)?,
            page,
        )
        .await?;
    // Instances come in id order; each reservation is listed once, with its instances.
    let mut reservations: Vec<Reservation> = Vec::new();
    for instance in instances {
        match reservations
            .iter_mut()
            .find(|r| r.reservation_id == instance.row.reservation_id)
        {
            Some(r) => r.instances.push(instance),
            None => reservations.push(Reservation {
                reservation_id: instance.row.reservation_id.clone(),
                owner_id: instance.row.account_id.clone(),
                instances: vec![instance],
            }),
        }
    }
    Ok(output::DescribeInstancesResult {
        reservations: Some(
            reservations
                .into_iter()
                .map(|r| reservation(engine, r))
                .collect(),
        ),
        next_token,
    })
}

pub async fn start_instances(
    engine: &Engine,
    who: &Principal,
    req: input::StartInstancesRequest,
) -> Result<output::StartInstancesResult, ApiError> {
    let ids = req.instance_ids;
    Ok(output::StartInstancesResult {
        starting_instances: state_changes(engine.start_instances(&who.account_id, ids).await?),
    })
}

pub async fn stop_instances(
    engine: &Engine,
    who: &Principal,
    req: input::StopInstancesRequest,
) -> Result<output::StopInstancesResult, ApiError> {
    let ids = req.instance_ids;
    // Force or SkipOsShutdown: the domain is powered off without asking the guest.
    let force = req.force.unwrap_or(false) || req.skip_os_shutdown.unwrap_or(false);
    let hibernate = req.hibernate.unwrap_or(false);
    Ok(output::StopInstancesResult {
        stopping_instances: state_changes(
            engine
                .stop_instances(&who.account_id, ids, force, hibernate)
                .await?,
        ),
    })
}

pub async fn terminate_instances(
    engine: &Engine,
    who: &Principal,
    req: input::TerminateInstancesRequest,
) -> Result<output::TerminateInstancesResult, ApiError> {
    let ids = req.instance_ids;
    let skip_os_shutdown = req.skip_os_shutdown.unwrap_or(false);
    Ok(output::TerminateInstancesResult {
        terminating_instances: state_changes(
            engine
                .terminate_instances(&who.account_id, ids, skip_os_shutdown)
                .await?,
        ),
    })
}

pub async fn reboot_instances(
    engine: &Engine,
    who: &Principal,
    req: input::RebootInstancesRequest,
) -> Result<(), ApiError> {
    let ids = req.instance_ids;
    Ok(engine.reboot_instances(&who.account_id, ids).await?)
}

pub async fn get_console_output(
    engine: &Engine,
    who: &Principal,
    req: input::GetConsoleOutputRequest,
) -> Result<output::GetConsoleOutputResult, ApiError> {
    // Latest: the whole log is returned either way.
    let output = engine
        .console_output(&who.account_id, &req.instance_id)
        .await?;
    Ok(output::GetConsoleOutputResult {
        instance_id: Some(req.instance_id),
        timestamp: Some(crate::engine::timestamp_now()),
        output: Some(STANDARD.encode(output)),
    })
}

pub async fn describe_instance_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeInstanceAttributeRequest,
) -> Result<output::InstanceAttribute, ApiError> {
    let attribute = engine
        .instance_attribute(&who.account_id, &req.instance_id, &req.attribute)
        .await?;
    Ok(attribute_result(req.instance_id, attribute))
}

pub async fn modify_instance_attribute(
    engine: &Engine,
    who: &Principal,
    mut req: input::ModifyInstanceAttributeRequest,
) -> Result<(), ApiError> {
    let changes = attribute_changes(&mut req)?;
    Ok(engine
        .modify_instance_attribute(&who.account_id, &req.instance_id, changes)
        .await?)
}

pub async fn describe_instance_status(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeInstanceStatusRequest,
) -> Result<output::DescribeInstanceStatusResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    refuse_ids_with_max_results(&req.instance_ids, &page, "instancesSet")?;
    let (instances, next_token) = engine
        .describe_instance_status(
            &who.account_id,
            req.instance_ids,
            req.include_all_instances.unwrap_or(false),
            filters(req.filters)?,
            page,
        )
        .await?;
    Ok(output::DescribeInstanceStatusResult {
        instance_statuses: Some(
            instances
                .into_iter()
                .map(|i| output::InstanceStatus {
                    system_status: summary(i.row.state),
                    instance_status: summary(i.row.state),
                    instance_state: state(i.row.state),
                    instance_id: Some(i.row.instance_id),
                    availability_zone: Some(i.row.availability_zone),
                    ..Default::default()
                })
                .collect(),
        ),
        next_token,
    })
}

pub async fn describe_instance_credit_specifications(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeInstanceCreditSpecificationsRequest,
) -> Result<output::DescribeInstanceCreditSpecificationsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    refuse_ids_with_max_results(&req.instance_ids, &page, "instancesSet")?;
    let filters = filters(req.filters)?;
    if let Some(f) = filters.iter().find(|f| f.name != "instance-id") {
        return Err(ApiError::Engine(EngineError::UnknownFilter(f.name.clone())));
    }
    let (instances, next_token) = engine
        .describe_credit_specifications(&who.account_id, req.instance_ids, filters, page)
        .await?;
    Ok(output::DescribeInstanceCreditSpecificationsResult {
        next_token,
        instance_credit_specifications: Some(
            instances
                .into_iter()
                .map(|i| output::InstanceCreditSpecification {
                    instance_id: Some(i.row.instance_id),
                    cpu_credits: Some(i.row.cpu_credits),
                })
                .collect(),
        ),
    })
}
