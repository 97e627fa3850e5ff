//! RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances, GetConsoleOutput,
//! Describe/ModifyInstanceAttribute, DescribeInstanceStatus,
//! DescribeInstanceCreditSpecifications.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Serialize;

use super::error::ApiError;
use super::params::{refuse_ids_with_max_results, Params};
use super::shapes::{tag_set, TagItem};
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::instances::{
    state_code, status_of, AttributeChanges, BlockDeviceRequest, GroupRef, Instance,
    InstanceAttribute, MetadataOptionsRequest, Reservation, RunRequest, StateChange,
};
use crate::engine::paging::Page;
use crate::engine::tags::{check_tag, tags_for, TagSpecification};
use crate::engine::{Engine, EngineError};
use crate::protocol::xml::Items;

// ---- requests ----

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstances {
    pub dry_run: bool,
    /// Checked by the handler, after unknown parameters: AWS names those first.
    pub image_id: Option<String>,
    /// Boxed: it is by far the largest request, and every Action is as big as its largest.
    pub request: Box<RunRequest>,
    pub tag_specifications: Vec<TagSpecification>,
}

fn required_int(p: &mut Params, name: &str) -> Result<i64, ApiError> {
    p.int(name)?
        .ok_or_else(|| ApiError::MissingParameter(name.to_owned()))
}

impl RunInstances {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let block_device_mappings = block_device_mappings(p)?;
        let interface = primary_interface(p)?;
        let mut subnet_id = p.string("SubnetId");
        let mut security_group_ids = p.list("SecurityGroupId");
        let security_groups = p.list("SecurityGroup");
        if let Some(interface) = interface {
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
            subnet_id = interface.subnet_id;
            security_group_ids = interface.security_group_ids;
        }
        // Always sent by Terraform; accepted as AWS does (no placement groups here).
        p.string("Placement.GroupName");
        let tenancy = p.string("Placement.Tenancy");
        let hibernation_configured = p.bool("HibernationOptions.Configured")?.unwrap_or(false);
        let metadata_options = MetadataOptionsRequest {
            http_tokens: p.string("MetadataOptions.HttpTokens"),
            http_endpoint: p.string("MetadataOptions.HttpEndpoint"),
            http_put_response_hop_limit: p.int("MetadataOptions.HttpPutResponseHopLimit")?,
            instance_metadata_tags: p.string("MetadataOptions.InstanceMetadataTags"),
            http_protocol_ipv6: p.string("MetadataOptions.HttpProtocolIpv6"),
        };
        let request = RunRequest {
            image_id: String::new(),
            instance_type: p
                .string("InstanceType")
                .unwrap_or_else(|| "t3.micro".into()),
            min_count: required_int(p, "MinCount")?,
            max_count: required_int(p, "MaxCount")?,
            key_name: p.string("KeyName").filter(|k| !k.is_empty()),
            user_data: p.string("UserData").unwrap_or_default(),
            security_group_ids,
            security_groups,
            subnet_id,
            availability_zone: p.string("Placement.AvailabilityZone"),
            block_device_mappings,
            instance_tags: Vec::new(),
            volume_tags: Vec::new(),
            client_token: p.string("ClientToken"),
            disable_api_termination: p.bool("DisableApiTermination")?.unwrap_or(false),
            disable_api_stop: p.bool("DisableApiStop")?.unwrap_or(false),
            shutdown_behavior: p
                .string("InstanceInitiatedShutdownBehavior")
                .unwrap_or_else(|| "stop".into()),
            ebs_optimized: p.bool("EbsOptimized")?.unwrap_or(false),
            monitoring: p.bool("Monitoring.Enabled")?.unwrap_or(false),
            cpu_credits: p.string("CreditSpecification.CpuCredits"),
            hibernation_configured,
            metadata_options,
            tenancy,
        };
        Ok(RunInstances {
            image_id: p.string("ImageId"),
            tag_specifications: p.tag_specifications()?,
            dry_run: p.dry_run()?,
            request: Box::new(request),
        })
    }
}

/// `BlockDeviceMapping.N`, as sent: the engine decides what each mapping means.
fn block_device_mappings(p: &mut Params) -> Result<Vec<BlockDeviceRequest>, ApiError> {
    let mut mappings = Vec::new();
    for (n, fields) in p.groups("BlockDeviceMapping") {
        let mut mapping = BlockDeviceRequest::default();
        for (field, value) in fields {
            let name = || format!("BlockDeviceMapping.{n}.{field}");
            let int = |value: &str| {
                value.trim().parse::<i64>().map_err(|_| {
                    ApiError::InvalidParameterValue(format!(
                        "Invalid value '{value}' for {}. Expected an integer.",
                        name()
                    ))
                })
            };
            let boolean = |value: &str| match value {
                v if v.eq_ignore_ascii_case("true") => Ok(true),
                v if v.eq_ignore_ascii_case("false") => Ok(false),
                v => Err(ApiError::InvalidParameterValue(format!(
                    "Invalid value '{v}' for {}. Expected a boolean: 'true' or 'false'.",
                    name()
                ))),
            };
            match field.as_str() {
                "DeviceName" => mapping.device_name = Some(value),
                "NoDevice" => mapping.no_device = Some(value),
                "VirtualName" => mapping.virtual_name = Some(value),
                "Ebs.VolumeSize" => mapping.volume_size = Some(int(&value)?),
                "Ebs.DeleteOnTermination" => mapping.delete_on_termination = Some(boolean(&value)?),
                "Ebs.VolumeType" => mapping.volume_type = Some(value),
                "Ebs.Encrypted" => mapping.encrypted = Some(boolean(&value)?),
                "Ebs.Iops" => mapping.iops = Some(int(&value)?),
                "Ebs.Throughput" => mapping.throughput = Some(int(&value)?),
                _ => return Err(ApiError::UnknownParameter(name())),
            }
        }
        mappings.push(mapping);
    }
    Ok(mappings)
}

/// What `NetworkInterface.1` asks of the primary interface.
#[derive(Debug, Default)]
struct InterfaceRequest {
    subnet_id: Option<String>,
    security_group_ids: Vec<String>,
}

/// `NetworkInterface.N`: only a new primary interface (device 0) in a subnet, with groups,
/// can be honoured; instances have no addresses here, so what needs one is refused.
fn primary_interface(p: &mut Params) -> Result<Option<InterfaceRequest>, ApiError> {
    let groups = p.groups("NetworkInterface");
    if groups.len() > 1 {
        return Err(ApiError::Engine(EngineError::UnsupportedOperation(
            "Only one network interface (device index 0) is supported.".into(),
        )));
    }
    let Some((n, fields)) = groups.into_iter().next() else {
        return Ok(None);
    };
    let mut interface = InterfaceRequest::default();
    for (field, value) in fields {
        match field.as_str() {
            "DeviceIndex" if value == "0" => {}
            "DeviceIndex" => {
                return Err(ApiError::Engine(EngineError::UnsupportedOperation(
                    "Only one network interface (device index 0) is supported.".into(),
                )))
            }
            "SubnetId" => interface.subnet_id = Some(value).filter(|v| !v.is_empty()),
            f if f.starts_with("SecurityGroupId.") => interface.security_group_ids.push(value),
            // Every instance's interface is public-facing and goes with it here.
            "AssociatePublicIpAddress" | "DeleteOnTermination" | "Description" => {}
            _ => {
                return Err(ApiError::Engine(EngineError::UnsupportedOperation(format!(
                    "NetworkInterface.{n}.{field} is not supported: instances have no network addresses here."
                ))))
            }
        }
    }
    Ok(Some(interface))
}

/// `InstanceId.N`, at least one.
fn instance_ids(p: &mut Params) -> Result<Vec<String>, ApiError> {
    let ids = p.list("InstanceId");
    if ids.is_empty() {
        return Err(ApiError::MissingParameter("InstanceId".into()));
    }
    Ok(ids)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstances {
    pub dry_run: bool,
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeInstances {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let instance_ids = p.list("InstanceId");
        let page = p.page(5, 1000)?;
        refuse_ids_with_max_results(&instance_ids, &page, "instancesSet")?;
        Ok(DescribeInstances {
            instance_ids,
            filters: p.filters()?,
            page,
            dry_run: p.dry_run()?,
        })
    }
}

/// Start, Stop, Reboot and Terminate share their parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIds {
    pub dry_run: bool,
    pub instance_ids: Vec<String>,
}

pub type StartInstances = InstanceIds;
pub type RebootInstances = InstanceIds;

impl InstanceIds {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(InstanceIds {
            instance_ids: instance_ids(p)?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopInstances {
    pub ids: InstanceIds,
    /// Force or SkipOsShutdown: the domain is powered off without asking the guest.
    pub force: bool,
    pub hibernate: bool,
}

impl StopInstances {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let ids = InstanceIds::parse(p)?;
        let force = p.bool("Force")?.unwrap_or(false);
        let skip_os_shutdown = p.bool("SkipOsShutdown")?.unwrap_or(false);
        Ok(StopInstances {
            ids,
            force: force || skip_os_shutdown,
            hibernate: p.bool("Hibernate")?.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminateInstances {
    pub ids: InstanceIds,
    pub skip_os_shutdown: bool,
}

impl TerminateInstances {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(TerminateInstances {
            ids: InstanceIds::parse(p)?,
            skip_os_shutdown: p.bool("SkipOsShutdown")?.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetConsoleOutput {
    pub dry_run: bool,
    pub instance_id: String,
    pub latest: bool,
}

impl GetConsoleOutput {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(GetConsoleOutput {
            instance_id: p.required("InstanceId")?,
            latest: p.bool("Latest")?.unwrap_or(false),
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceAttribute {
    pub dry_run: bool,
    pub instance_id: String,
    pub attribute: String,
}

impl DescribeInstanceAttribute {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeInstanceAttribute {
            attribute: p.required("Attribute")?,
            instance_id: p.required("InstanceId")?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyInstanceAttribute {
    pub dry_run: bool,
    pub instance_id: String,
    pub changes: AttributeChanges,
}

fn bool_value(p: &mut Params, name: &str) -> Result<Option<bool>, ApiError> {
    p.bool(&format!("{name}.Value"))
}

impl ModifyInstanceAttribute {
    /// The structured form (`InstanceType.Value=...`) and the older `Attribute` + `Value`.
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let instance_id = p.required("InstanceId")?;
        let mut changes = AttributeChanges {
            instance_type: p.string("InstanceType.Value"),
            user_data: p.string("UserData.Value"),
            disable_api_termination: bool_value(p, "DisableApiTermination")?,
            disable_api_stop: bool_value(p, "DisableApiStop")?,
            shutdown_behavior: p.string("InstanceInitiatedShutdownBehavior.Value"),
            ebs_optimized: bool_value(p, "EbsOptimized")?,
        };
        // Accepted and kept as they are: there is one network interface and no ENA here.
        bool_value(p, "SourceDestCheck")?;
        bool_value(p, "EnaSupport")?;
        let attribute = p.string("Attribute");
        let value = p.string("Value");
        if let (Some(attribute), Some(value)) = (attribute.as_deref(), value) {
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
        Ok(ModifyInstanceAttribute {
            instance_id,
            changes,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceStatus {
    pub dry_run: bool,
    pub instance_ids: Vec<String>,
    pub include_all: bool,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeInstanceStatus {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let instance_ids = p.list("InstanceId");
        let page = p.page(5, 1000)?;
        refuse_ids_with_max_results(&instance_ids, &page, "instancesSet")?;
        Ok(DescribeInstanceStatus {
            instance_ids,
            include_all: p.bool("IncludeAllInstances")?.unwrap_or(false),
            filters: p.filters()?,
            page,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceCreditSpecifications {
    pub dry_run: bool,
    pub instance_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeInstanceCreditSpecifications {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        let instance_ids = p.list("InstanceId");
        let page = p.page(5, 1000)?;
        refuse_ids_with_max_results(&instance_ids, &page, "instancesSet")?;
        let filters = p.filters()?;
        if let Some(f) = filters.iter().find(|f| f.name != "instance-id") {
            return Err(ApiError::Engine(EngineError::UnknownFilter(f.name.clone())));
        }
        Ok(DescribeInstanceCreditSpecifications {
            instance_ids,
            filters,
            page,
            dry_run: p.dry_run()?,
        })
    }
}

// ---- answers ----

#[derive(Debug, Serialize)]
pub struct StateItem {
    code: i32,
    name: String,
}

fn state(name: &str) -> StateItem {
    StateItem {
        code: state_code(name),
        name: name.to_owned(),
    }
}

#[derive(Debug, Serialize)]
struct GroupItem {
    #[serde(rename = "groupId")]
    group_id: String,
    #[serde(rename = "groupName")]
    group_name: String,
}

fn group_set(groups: &[GroupRef]) -> Items<GroupItem> {
    groups
        .iter()
        .map(|g| GroupItem {
            group_id: g.group_id.clone(),
            group_name: g.group_name.clone(),
        })
        .collect::<Vec<_>>()
        .into()
}

#[derive(Debug, Serialize)]
struct Placement {
    #[serde(rename = "availabilityZone")]
    availability_zone: String,
    #[serde(rename = "groupName")]
    group_name: &'static str,
    tenancy: &'static str,
}

#[derive(Debug, Serialize)]
struct Monitoring {
    state: &'static str,
}

#[derive(Debug, Serialize)]
struct StateReason {
    code: String,
    message: String,
}

#[derive(Debug, Serialize)]
struct InstanceBlockDevice {
    #[serde(rename = "deviceName")]
    device_name: String,
    ebs: InstanceEbs,
}

#[derive(Debug, Serialize)]
struct InstanceEbs {
    #[serde(rename = "volumeId")]
    volume_id: String,
    status: &'static str,
    #[serde(rename = "attachTime")]
    attach_time: String,
    #[serde(rename = "deleteOnTermination")]
    delete_on_termination: bool,
}

#[derive(Debug, Serialize)]
struct CpuOptions {
    #[serde(rename = "coreCount")]
    core_count: u32,
    #[serde(rename = "threadsPerCore")]
    threads_per_core: u32,
}

#[derive(Debug, Serialize)]
struct Configured {
    configured: bool,
}

#[derive(Debug, Serialize)]
struct Enabled {
    enabled: bool,
}

#[derive(Debug, Serialize)]
struct MetadataOptions {
    state: &'static str,
    #[serde(rename = "httpTokens")]
    http_tokens: &'static str,
    #[serde(rename = "httpPutResponseHopLimit")]
    http_put_response_hop_limit: i64,
    #[serde(rename = "httpEndpoint")]
    http_endpoint: &'static str,
    #[serde(rename = "httpProtocolIpv6")]
    http_protocol_ipv6: &'static str,
    #[serde(rename = "instanceMetadataTags")]
    instance_metadata_tags: &'static str,
}

#[derive(Debug, Serialize)]
struct CapacityReservationSpecification {
    #[serde(rename = "capacityReservationPreference")]
    capacity_reservation_preference: &'static str,
}

#[derive(Debug, Serialize)]
struct MaintenanceOptions {
    #[serde(rename = "autoRecovery")]
    auto_recovery: &'static str,
}

#[derive(Debug, Serialize)]
struct NetworkInterfaceItem {}

/// An instance as EC2 renders it in DescribeInstances and RunInstances.
#[derive(Debug, Serialize)]
struct InstanceItem {
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "imageId")]
    image_id: String,
    #[serde(rename = "instanceState")]
    instance_state: StateItem,
    #[serde(rename = "privateDnsName")]
    private_dns_name: String,
    #[serde(rename = "dnsName")]
    dns_name: String,
    reason: String,
    #[serde(rename = "keyName", skip_serializing_if = "Option::is_none")]
    key_name: Option<String>,
    #[serde(rename = "amiLaunchIndex")]
    ami_launch_index: i32,
    #[serde(rename = "productCodes")]
    product_codes: Items<TagItem>,
    #[serde(rename = "instanceType")]
    instance_type: String,
    #[serde(rename = "launchTime")]
    launch_time: String,
    placement: Placement,
    monitoring: Monitoring,
    #[serde(rename = "subnetId", skip_serializing_if = "Option::is_none")]
    subnet_id: Option<String>,
    #[serde(rename = "vpcId", skip_serializing_if = "Option::is_none")]
    vpc_id: Option<String>,
    #[serde(rename = "sourceDestCheck")]
    source_dest_check: bool,
    #[serde(rename = "groupSet")]
    group_set: Items<GroupItem>,
    #[serde(rename = "stateReason", skip_serializing_if = "Option::is_none")]
    state_reason: Option<StateReason>,
    architecture: String,
    #[serde(rename = "rootDeviceType")]
    root_device_type: &'static str,
    #[serde(rename = "rootDeviceName")]
    root_device_name: String,
    #[serde(rename = "blockDeviceMapping")]
    block_device_mapping: Items<InstanceBlockDevice>,
    #[serde(rename = "virtualizationType")]
    virtualization_type: &'static str,
    #[serde(rename = "clientToken")]
    client_token: String,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
    hypervisor: &'static str,
    #[serde(rename = "networkInterfaceSet")]
    network_interface_set: Items<NetworkInterfaceItem>,
    #[serde(rename = "ebsOptimized")]
    ebs_optimized: bool,
    #[serde(rename = "enaSupport")]
    ena_support: bool,
    #[serde(rename = "cpuOptions")]
    cpu_options: CpuOptions,
    #[serde(rename = "capacityReservationSpecification")]
    capacity_reservation_specification: CapacityReservationSpecification,
    #[serde(rename = "hibernationOptions")]
    hibernation_options: Configured,
    #[serde(rename = "metadataOptions")]
    metadata_options: MetadataOptions,
    #[serde(rename = "enclaveOptions")]
    enclave_options: Enabled,
    #[serde(rename = "bootMode")]
    boot_mode: &'static str,
    #[serde(rename = "platformDetails")]
    platform_details: &'static str,
    #[serde(rename = "usageOperation")]
    usage_operation: &'static str,
    #[serde(rename = "usageOperationUpdateTime")]
    usage_operation_update_time: String,
    #[serde(rename = "maintenanceOptions")]
    maintenance_options: MaintenanceOptions,
    #[serde(rename = "currentInstanceBootMode")]
    current_instance_boot_mode: &'static str,
}

fn block_devices(instance: &Instance) -> Items<InstanceBlockDevice> {
    if instance.row.state == "terminated" {
        return Vec::new().into();
    }
    vec![InstanceBlockDevice {
        device_name: instance.root_device_name.clone(),
        ebs: InstanceEbs {
            volume_id: instance.row.root_volume_id.clone(),
            status: "attached",
            attach_time: instance.row.launch_time.clone(),
            delete_on_termination: instance.row.root_delete_on_termination,
        },
    }]
    .into()
}

impl InstanceItem {
    fn new(engine: &Engine, instance: Instance) -> InstanceItem {
        let block_device_mapping = block_devices(&instance);
        let (cores, threads) = engine
            .instance_type(&instance.row.instance_type)
            .map_or((1, 1), |t| (t.cores(), t.threads_per_core()));
        let metadata = instance.metadata_options;
        let row = instance.row;
        let state_reason = row
            .state_reason_code
            .clone()
            .filter(|c| !c.is_empty())
            .map(|code| StateReason {
                message: row
                    .state_reason_message
                    .clone()
                    .unwrap_or_else(|| code.clone()),
                code,
            });
        InstanceItem {
            instance_state: state(&row.state),
            private_dns_name: String::new(),
            dns_name: String::new(),
            reason: row.transition_reason,
            key_name: row.key_name,
            ami_launch_index: row.launch_index,
            product_codes: Vec::new().into(),
            launch_time: row.launch_time.clone(),
            placement: Placement {
                availability_zone: row.availability_zone,
                group_name: "",
                tenancy: instance.tenancy.as_str(),
            },
            monitoring: Monitoring {
                state: if row.monitoring {
                    "enabled"
                } else {
                    "disabled"
                },
            },
            subnet_id: row.subnet_id,
            vpc_id: instance.vpc_id,
            source_dest_check: true,
            group_set: group_set(&instance.groups),
            state_reason,
            architecture: instance.architecture,
            root_device_type: "ebs",
            root_device_name: instance.root_device_name,
            block_device_mapping,
            virtualization_type: "hvm",
            client_token: row.client_token,
            tag_set: tag_set(instance.tags),
            hypervisor: "xen",
            network_interface_set: Vec::new().into(),
            ebs_optimized: row.ebs_optimized,
            ena_support: false,
            cpu_options: CpuOptions {
                core_count: cores,
                threads_per_core: threads,
            },
            capacity_reservation_specification: CapacityReservationSpecification {
                capacity_reservation_preference: "open",
            },
            hibernation_options: Configured {
                configured: row.hibernation_configured,
            },
            metadata_options: MetadataOptions {
                state: "applied",
                http_tokens: metadata.http_tokens.as_str(),
                http_put_response_hop_limit: metadata.http_put_response_hop_limit,
                http_endpoint: metadata.http_endpoint.as_str(),
                http_protocol_ipv6: metadata.http_protocol_ipv6.as_str(),
                instance_metadata_tags: metadata.instance_metadata_tags.as_str(),
            },
            enclave_options: Enabled { enabled: false },
            boot_mode: "legacy-bios",
            platform_details: "Linux/UNIX",
            usage_operation: "RunInstances",
            usage_operation_update_time: row.launch_time,
            maintenance_options: MaintenanceOptions {
                auto_recovery: "default",
            },
            current_instance_boot_mode: "legacy-bios",
            instance_id: row.instance_id,
            image_id: row.image_id,
            instance_type: row.instance_type,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunInstancesResult {
    #[serde(rename = "reservationId")]
    reservation_id: String,
    #[serde(rename = "ownerId")]
    owner_id: String,
    #[serde(rename = "groupSet")]
    group_set: Items<GroupItem>,
    #[serde(rename = "instancesSet")]
    instances_set: Items<InstanceItem>,
}

fn reservation_result(engine: &Engine, reservation: Reservation) -> RunInstancesResult {
    RunInstancesResult {
        reservation_id: reservation.reservation_id,
        owner_id: reservation.owner_id,
        group_set: Vec::new().into(),
        instances_set: reservation
            .instances
            .into_iter()
            .map(|i| InstanceItem::new(engine, i))
            .collect::<Vec<_>>()
            .into(),
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeInstancesResult {
    #[serde(rename = "reservationSet")]
    reservation_set: Items<RunInstancesResult>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StateChangesResult {
    #[serde(rename = "instancesSet")]
    instances_set: Items<StateChangeItem>,
}

#[derive(Debug, Serialize)]
struct StateChangeItem {
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "currentState")]
    current_state: StateItem,
    #[serde(rename = "previousState")]
    previous_state: StateItem,
}

fn state_changes(changes: Vec<StateChange>) -> StateChangesResult {
    StateChangesResult {
        instances_set: changes
            .into_iter()
            .map(|c| StateChangeItem {
                current_state: state(&c.current),
                previous_state: state(&c.previous),
                instance_id: c.instance_id,
            })
            .collect::<Vec<_>>()
            .into(),
    }
}

#[derive(Debug, Serialize)]
pub struct ConsoleOutputResult {
    #[serde(rename = "instanceId")]
    instance_id: String,
    timestamp: String,
    output: String,
}

#[derive(Debug, Serialize)]
struct Value<T> {
    value: T,
}

#[derive(Debug, Serialize)]
struct Empty {}

#[derive(Debug, Serialize)]
pub struct InstanceAttributeResult {
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "instanceType", skip_serializing_if = "Option::is_none")]
    instance_type: Option<Value<String>>,
    #[serde(rename = "userData", skip_serializing_if = "Option::is_none")]
    user_data: Option<UserData>,
    #[serde(
        rename = "disableApiTermination",
        skip_serializing_if = "Option::is_none"
    )]
    disable_api_termination: Option<Value<bool>>,
    #[serde(rename = "disableApiStop", skip_serializing_if = "Option::is_none")]
    disable_api_stop: Option<Value<bool>>,
    #[serde(
        rename = "instanceInitiatedShutdownBehavior",
        skip_serializing_if = "Option::is_none"
    )]
    instance_initiated_shutdown_behavior: Option<Value<String>>,
    #[serde(rename = "rootDeviceName", skip_serializing_if = "Option::is_none")]
    root_device_name: Option<Value<String>>,
    #[serde(rename = "blockDeviceMapping", skip_serializing_if = "Option::is_none")]
    block_device_mapping: Option<Items<InstanceBlockDevice>>,
    #[serde(rename = "groupSet", skip_serializing_if = "Option::is_none")]
    group_set: Option<Items<GroupItem>>,
    #[serde(rename = "sourceDestCheck", skip_serializing_if = "Option::is_none")]
    source_dest_check: Option<Value<bool>>,
    #[serde(rename = "ebsOptimized", skip_serializing_if = "Option::is_none")]
    ebs_optimized: Option<Value<bool>>,
    #[serde(rename = "enaSupport", skip_serializing_if = "Option::is_none")]
    ena_support: Option<Value<bool>>,
    #[serde(rename = "productCodes", skip_serializing_if = "Option::is_none")]
    product_codes: Option<Items<TagItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kernel: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ramdisk: Option<Empty>,
    #[serde(rename = "sriovNetSupport", skip_serializing_if = "Option::is_none")]
    sriov_net_support: Option<Empty>,
    #[serde(rename = "enclaveOptions", skip_serializing_if = "Option::is_none")]
    enclave_options: Option<Enabled>,
}

/// `<userData/>` when there is none, `<userData><value>..</value></userData>` otherwise.
#[derive(Debug, Serialize)]
struct UserData {
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

fn attribute_result(instance_id: String, attribute: InstanceAttribute) -> InstanceAttributeResult {
    let mut r = InstanceAttributeResult {
        instance_id,
        instance_type: None,
        user_data: None,
        disable_api_termination: None,
        disable_api_stop: None,
        instance_initiated_shutdown_behavior: None,
        root_device_name: None,
        block_device_mapping: None,
        group_set: None,
        source_dest_check: None,
        ebs_optimized: None,
        ena_support: None,
        product_codes: None,
        kernel: None,
        ramdisk: None,
        sriov_net_support: None,
        enclave_options: None,
    };
    match attribute {
        InstanceAttribute::Text("instanceType", value) => r.instance_type = Some(Value { value }),
        InstanceAttribute::Text(_, value) => {
            r.instance_initiated_shutdown_behavior = Some(Value { value })
        }
        InstanceAttribute::Bool("disableApiTermination", value) => {
            r.disable_api_termination = Some(Value { value })
        }
        InstanceAttribute::Bool("disableApiStop", value) => {
            r.disable_api_stop = Some(Value { value })
        }
        InstanceAttribute::Bool("sourceDestCheck", value) => {
            r.source_dest_check = Some(Value { value })
        }
        InstanceAttribute::Bool("ebsOptimized", value) => r.ebs_optimized = Some(Value { value }),
        InstanceAttribute::Bool(_, value) => r.ena_support = Some(Value { value }),
        InstanceAttribute::UserData(value) => r.user_data = Some(UserData { value }),
        InstanceAttribute::RootDeviceName(value) => r.root_device_name = Some(Value { value }),
        InstanceAttribute::BlockDeviceMapping(instance) => {
            r.block_device_mapping = Some(block_devices(&instance))
        }
        InstanceAttribute::GroupSet(groups) => r.group_set = Some(group_set(&groups)),
        InstanceAttribute::Empty("productCodes") => r.product_codes = Some(Vec::new().into()),
        InstanceAttribute::Empty("kernel") => r.kernel = Some(Empty {}),
        InstanceAttribute::Empty("ramdisk") => r.ramdisk = Some(Empty {}),
        InstanceAttribute::Empty("enclaveOptions") => {
            r.enclave_options = Some(Enabled { enabled: false })
        }
        InstanceAttribute::Empty(_) => r.sriov_net_support = Some(Empty {}),
    }
    r
}

#[derive(Debug, Serialize)]
pub struct InstanceStatusResult {
    #[serde(rename = "instanceStatusSet")]
    instance_status_set: Items<InstanceStatusItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct InstanceStatusItem {
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "availabilityZone")]
    availability_zone: String,
    #[serde(rename = "instanceState")]
    instance_state: StateItem,
    #[serde(rename = "systemStatus")]
    system_status: StatusSummary,
    #[serde(rename = "instanceStatus")]
    instance_status: StatusSummary,
}

#[derive(Debug, Serialize)]
struct StatusSummary {
    status: &'static str,
    details: Items<StatusDetail>,
}

#[derive(Debug, Serialize)]
struct StatusDetail {
    name: &'static str,
    status: &'static str,
}

fn summary(state: &str) -> StatusSummary {
    let (status, reachability) = status_of(state);
    StatusSummary {
        status,
        details: reachability
            .map(|status| StatusDetail {
                name: "reachability",
                status,
            })
            .into_iter()
            .collect::<Vec<_>>()
            .into(),
    }
}

#[derive(Debug, Serialize)]
pub struct CreditSpecificationsResult {
    #[serde(rename = "instanceCreditSpecificationSet")]
    set: Items<CreditItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct CreditItem {
    #[serde(rename = "instanceId")]
    instance_id: String,
    #[serde(rename = "cpuCredits")]
    cpu_credits: String,
}

// ---- handlers ----

pub async fn run_instances(
    engine: &Engine,
    who: &Principal,
    req: RunInstances,
) -> Result<RunInstancesResult, ApiError> {
    let mut request = *req.request;
    request.image_id = req
        .image_id
        .ok_or_else(|| ApiError::MissingParameter("ImageId".into()))?;
    for spec in &req.tag_specifications {
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
        req.tag_specifications
            .iter()
            .filter(|s| s.resource_type == kind)
            .cloned()
            .collect()
    };
    request.instance_tags = tags_for(&of("instance"), "instance")?;
    request.volume_tags = tags_for(&of("volume"), "volume")?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    let reservation = engine.run_instances(&who.account_id, request).await?;
    Ok(reservation_result(engine, reservation))
}

pub async fn describe_instances(
    engine: &Engine,
    who: &Principal,
    req: DescribeInstances,
) -> Result<DescribeInstancesResult, ApiError> {
    let (instances, next_token) = engine
        .describe_instances(&who.account_id, req.instance_ids, req.filters, req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
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
    Ok(DescribeInstancesResult {
        reservation_set: reservations
            .into_iter()
            .map(|r| reservation_result(engine, r))
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}

/// DryRun on instances: the answer a call would get after its ids are checked.
async fn dry_run_on(engine: &Engine, who: &Principal, instance_ids: Vec<String>) -> ApiError {
    match engine.instances_by_id(&who.account_id, instance_ids).await {
        Ok(_) => ApiError::DryRunOperation,
        Err(e) => e.into(),
    }
}

pub async fn start_instances(
    engine: &Engine,
    who: &Principal,
    req: StartInstances,
) -> Result<StateChangesResult, ApiError> {
    if req.dry_run {
        return Err(dry_run_on(engine, who, req.instance_ids).await);
    }
    Ok(state_changes(
        engine
            .start_instances(&who.account_id, req.instance_ids)
            .await?,
    ))
}

pub async fn stop_instances(
    engine: &Engine,
    who: &Principal,
    req: StopInstances,
) -> Result<StateChangesResult, ApiError> {
    if req.ids.dry_run {
        return Err(dry_run_on(engine, who, req.ids.instance_ids).await);
    }
    Ok(state_changes(
        engine
            .stop_instances(
                &who.account_id,
                req.ids.instance_ids,
                req.force,
                req.hibernate,
            )
            .await?,
    ))
}

pub async fn terminate_instances(
    engine: &Engine,
    who: &Principal,
    req: TerminateInstances,
) -> Result<StateChangesResult, ApiError> {
    if req.ids.dry_run {
        return Err(dry_run_on(engine, who, req.ids.instance_ids).await);
    }
    Ok(state_changes(
        engine
            .terminate_instances(&who.account_id, req.ids.instance_ids, req.skip_os_shutdown)
            .await?,
    ))
}

pub async fn reboot_instances(
    engine: &Engine,
    who: &Principal,
    req: RebootInstances,
) -> Result<(), ApiError> {
    if req.dry_run {
        return Err(dry_run_on(engine, who, req.instance_ids).await);
    }
    Ok(engine
        .reboot_instances(&who.account_id, req.instance_ids)
        .await?)
}

pub async fn get_console_output(
    engine: &Engine,
    who: &Principal,
    req: GetConsoleOutput,
) -> Result<ConsoleOutputResult, ApiError> {
    let output = engine
        .console_output(&who.account_id, &req.instance_id)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(ConsoleOutputResult {
        instance_id: req.instance_id,
        timestamp: crate::engine::timestamp_now(),
        output: STANDARD.encode(output),
    })
}

pub async fn describe_instance_attribute(
    engine: &Engine,
    who: &Principal,
    req: DescribeInstanceAttribute,
) -> Result<InstanceAttributeResult, ApiError> {
    let attribute = engine
        .instance_attribute(&who.account_id, &req.instance_id, &req.attribute)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(attribute_result(req.instance_id, attribute))
}

pub async fn modify_instance_attribute(
    engine: &Engine,
    who: &Principal,
    req: ModifyInstanceAttribute,
) -> Result<(), ApiError> {
    if req.dry_run {
        return Err(dry_run_on(engine, who, vec![req.instance_id]).await);
    }
    Ok(engine
        .modify_instance_attribute(&who.account_id, &req.instance_id, req.changes)
        .await?)
}

pub async fn describe_instance_status(
    engine: &Engine,
    who: &Principal,
    req: DescribeInstanceStatus,
) -> Result<InstanceStatusResult, ApiError> {
    let (instances, next_token) = engine
        .describe_instance_status(
            &who.account_id,
            req.instance_ids,
            req.include_all,
            req.filters,
            req.page,
        )
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(InstanceStatusResult {
        instance_status_set: instances
            .into_iter()
            .map(|i| InstanceStatusItem {
                system_status: summary(&i.row.state),
                instance_status: summary(&i.row.state),
                instance_state: state(&i.row.state),
                instance_id: i.row.instance_id,
                availability_zone: i.row.availability_zone,
            })
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}

pub async fn describe_instance_credit_specifications(
    engine: &Engine,
    who: &Principal,
    req: DescribeInstanceCreditSpecifications,
) -> Result<CreditSpecificationsResult, ApiError> {
    let (instances, next_token) = engine
        .describe_credit_specifications(&who.account_id, req.instance_ids, req.filters, req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(CreditSpecificationsResult {
        next_token,
        set: instances
            .into_iter()
            .map(|i| CreditItem {
                instance_id: i.row.instance_id,
                cpu_credits: i.row.cpu_credits,
            })
            .collect::<Vec<_>>()
            .into(),
    })
}
