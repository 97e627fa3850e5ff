//! Instances: RunInstances writes intent (rows in `pending`) and answers at once; the
//! reconciler (reconciler.rs) makes libvirt match. Every state change is a compare-and-set on
//! the row, so the API and the reconciler never undo each other.

use crate::domain::{ImageState, InstanceState, ShutdownBehavior, StopMode};
use std::collections::HashMap;
use std::path::PathBuf;

use super::ids::{self, Kind};
use super::launch::{self, request_fingerprint, root_volume, same_request};
pub use super::launch::{
    BlockDeviceRequest, HttpTokens, MetadataOptions, MetadataOptionsRequest, MetadataSwitch,
    Tenancy,
};
use super::network::interfaces::{self as nics, InterfaceRequest, Placement};
use super::network::{AccountNetwork, NetworkInterface};
use super::paging::Page;
use super::tags::{rows_for, tag_sets, Tag};
use super::{timestamp_now, Engine, EngineError, ZoneSetting};
use crate::filter::{any_match, Filter};
use crate::store::images::{self as image_rows, ImageRow};
use crate::store::instances::{
    self as rows, InstanceChanges, InstanceOptionsRow, InstanceQuery, InstanceRow, ReservationRow,
};
use crate::store::key_pairs;
use crate::store::tags as tag_rows;
use crate::store::DbConnection;

/// Terminated instances stay describable this long, as on AWS.
pub const TERMINATED_VISIBLE_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(1);
/// User data larger than this is refused, as on AWS.
pub const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// What RunInstances asks for, checked by the api layer for shape only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    pub image_id: String,
    pub instance_type: String,
    pub min_count: i64,
    pub max_count: i64,
    pub key_name: Option<String>,
    /// Base64, as sent.
    pub user_data: String,
    pub security_group_ids: Vec<String>,
    pub security_groups: Vec<String>,
    pub subnet_id: Option<String>,
    pub availability_zone: Option<String>,
    /// `BlockDeviceMapping.N` as sent; the engine decides what each means for the image.
    pub block_device_mappings: Vec<BlockDeviceRequest>,
    pub instance_tags: Vec<Tag>,
    pub volume_tags: Vec<Tag>,
    pub client_token: Option<String>,
    pub disable_api_termination: bool,
    pub disable_api_stop: bool,
    pub shutdown_behavior: String,
    pub ebs_optimized: bool,
    pub monitoring: bool,
    pub cpu_credits: Option<String>,
    pub hibernation_configured: bool,
    pub metadata_options: MetadataOptionsRequest,
    /// `Placement.Tenancy` as sent.
    pub tenancy: Option<String>,
    /// `PrivateIpAddress` or `NetworkInterface.1.PrivateIpAddress`.
    pub private_ip_address: Option<String>,
    /// `NetworkInterface.1.AssociatePublicIpAddress`; the subnet's MapPublicIpOnLaunch if None.
    pub associate_public_ip: Option<bool>,
    pub interface_delete_on_termination: Option<bool>,
    pub interface_description: Option<String>,
}

/// An instance as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub row: InstanceRow,
    pub tags: Vec<Tag>,
    /// The VPC of the instance's subnet (None for instances launched before subnets existed).
    pub vpc_id: Option<String>,
    pub groups: Vec<GroupRef>,
    /// Its network interfaces, by device index.
    pub interfaces: Vec<NetworkInterface>,
    pub architecture: String,
    pub root_device_name: String,
    pub metadata_options: MetadataOptions,
    pub tenancy: Tenancy,
}

/// A security group an instance is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub group_id: String,
    pub group_name: String,
}

/// One RunInstances call's instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub reservation_id: String,
    pub owner_id: String,
    pub instances: Vec<Instance>,
}

/// An instance's state before and after a Start/Stop/Terminate call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub instance_id: String,
    pub previous: InstanceState,
    pub current: InstanceState,
}

/// What DescribeInstanceAttribute answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceAttribute {
    Text(&'static str, String),
    Bool(&'static str, bool),
    /// userData: None when the instance has none.
    UserData(Option<String>),
    RootDeviceName(String),
    BlockDeviceMapping(Box<Instance>),
    GroupSet(Vec<GroupRef>),
    /// An attribute with no value here (kernel, ramdisk, productCodes, ...).
    Empty(&'static str),
}

pub const INSTANCE_ATTRIBUTES: &[&str] = &[
    "instanceType",
    "kernel",
    "ramdisk",
    "userData",
    "disableApiTermination",
    "instanceInitiatedShutdownBehavior",
    "rootDeviceName",
    "blockDeviceMapping",
    "productCodes",
    "sourceDestCheck",
    "groupSet",
    "ebsOptimized",
    "sriovNetSupport",
    "enaSupport",
    "enclaveOptions",
    "disableApiStop",
];

/// What ModifyInstanceAttribute changes; None leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttributeChanges {
    pub instance_type: Option<String>,
    pub user_data: Option<String>,
    pub disable_api_termination: Option<bool>,
    pub disable_api_stop: Option<bool>,
    pub shutdown_behavior: Option<String>,
    pub ebs_optimized: Option<bool>,
}

/// The path of an instance's files under the data directory.
pub fn instance_dir(data_dir: &std::path::Path, instance_id: &str) -> PathBuf {
    data_dir.join("instances").join(instance_id)
}

/// User data arrives base64-encoded; AWS's 16 KiB limit is on what it decodes to.
fn check_user_data(encoded: &str) -> Result<(), EngineError> {
    use base64::Engine as _;
    if encoded.is_empty() {
        return Ok(());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| {
            EngineError::InvalidParameterValue("Invalid BASE64 encoding of user data.".into())
        })?;
    if decoded.len() > MAX_USER_DATA_BYTES {
        return Err(EngineError::InvalidParameterValue(
            "User data is limited to 16384 bytes".into(),
        ));
    }
    Ok(())
}

fn user_initiated(now: &str) -> String {
    // AWS: "User initiated (2026-11-23 16:40:00 GMT)".
    let shown = now.get(..19).unwrap_or(now).replace('T', " ");
    format!("User initiated ({shown} GMT)")
}

/// Moves an instance towards off at its user's request, with the reasons AWS gives.
fn user_shutdown(
    conn: &mut DbConnection,
    row: &InstanceRow,
    from: &[InstanceState],
    to: InstanceState,
    now: &str,
    hibernate: bool,
) -> Result<bool, EngineError> {
    let (code, message) = if hibernate {
        (
            "Client.UserInitiatedHibernate",
            "Client.UserInitiatedHibernate: User initiated hibernate",
        )
    } else {
        (
            "Client.UserInitiatedShutdown",
            "Client.UserInitiatedShutdown: User initiated shutdown",
        )
    };
    // A reboot still owed is moot once the instance goes down.
    rows::set_reboot_requested(conn, &row.instance_id, None)?;
    Ok(rows::transition(
        conn,
        &row.instance_id,
        from,
        to,
        Some(code),
        Some(message),
        &user_initiated(now),
        now,
    )?)
}

fn not_found(ids: Vec<String>) -> EngineError {
    EngineError::NotFound {
        kind: Kind::Instance,
        ids,
    }
}

/// The reservation an earlier RunInstances with the request's ClientToken made, if any; the
/// same token with another request is IdempotentParameterMismatch.
fn reservation_by_token(
    conn: &mut DbConnection,
    account_id: &str,
    req: &RunRequest,
    fingerprint: &str,
    net: &AccountNetwork,
) -> Result<Option<Reservation>, EngineError> {
    let Some(token) = req.client_token.as_deref().filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let Some(existing) = rows::find_reservation_by_token(conn, account_id, token)? else {
        return Ok(None);
    };
    if !same_request(&existing.request_hash, fingerprint) {
        return Err(EngineError::IdempotentParameterMismatch(token.to_owned()));
    }
    let instances = rows::of_reservation(conn, &existing.reservation_id)?;
    Ok(Some(Reservation {
        reservation_id: existing.reservation_id,
        owner_id: existing.account_id,
        instances: views(conn, account_id, net, instances)?,
    }))
}

/// Terminated instances whose state changed before this are gone for every caller.
fn terminated_cutoff() -> String {
    super::timestamp(chrono::Utc::now() - TERMINATED_VISIBLE_FOR)
}

/// Whether the row is the caller's and still describable (see `terminated_cutoff`).
fn visible_to(row: &InstanceRow, account_id: &str, cutoff: &str) -> bool {
    row.account_id == account_id
        && (row.state != InstanceState::Terminated || *row.state_changed_at >= *cutoff)
}

/// The caller's instances by id, all of them or NotFound naming the missing ones; terminated
/// ones count while they are still describable.
fn owned_instances(
    conn: &mut DbConnection,
    account_id: &str,
    instance_ids: &[String],
) -> Result<Vec<InstanceRow>, EngineError> {
    ids::check_well_formed(Kind::Instance, instance_ids)?;
    let cutoff = terminated_cutoff();
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in instance_ids {
        match rows::find(conn, id)? {
            Some(row) if visible_to(&row, account_id, &cutoff) => found.push(row),
            _ => missing.push(id.clone()),
        }
    }
    if missing.is_empty() {
        Ok(found)
    } else {
        Err(not_found(missing))
    }
}

/// The groups an instance is in: ids of the account's network (older rows may hold names as
/// they were sent).
fn group_refs(groups: &[String], net: &AccountNetwork) -> Vec<GroupRef> {
    groups
        .iter()
        .filter(|g| !g.is_empty())
        .map(|g| match net.group(g) {
            Some(group) => GroupRef {
                group_id: g.to_owned(),
                group_name: group.group_name.clone(),
            },
            None if g.starts_with("sg-") => GroupRef {
                group_id: g.to_owned(),
                group_name: String::new(),
            },
            None => GroupRef {
                group_id: String::new(),
                group_name: g.to_owned(),
            },
        })
        .collect()
}

/// Instance filters on the network, answered through `network_filter`.
/// What DescribeInstanceStatus shows of an instance in `state`: its instance and system
/// status, and the reachability check's result (no details unless it runs). The gateway has no
/// health checks of its own: a running domain is taken as reachable.
pub fn status_of(state: InstanceState) -> (&'static str, Option<&'static str>) {
    if state == InstanceState::Running {
        ("ok", Some("passed"))
    } else {
        ("not-applicable", None)
    }
}

/// One of DescribeInstanceStatus's filters as a filter on the columns. Status and reachability
/// derive from the state alone, so they become the states that show a matching value. No
/// instance has scheduled events, an operator, EBS or application checks: those filters match
/// nothing (operator.managed matches every instance on `false`).
fn status_filter(filter: Filter, zones: &[ZoneSetting]) -> Result<Filter, EngineError> {
    let states = |keep: &dyn Fn(InstanceState) -> bool| Filter {
        name: "instance-state-name".into(),
        values: InstanceState::ALL
            .iter()
            .filter(|state| keep(**state))
            .map(|state| state.as_str().to_owned())
            .collect(),
    };
    let shows = |state: InstanceState| -> Option<&'static str> {
        let (status, reachability) = status_of(state);
        match filter.name.as_str() {
            "instance-status.status" | "system-status.status" => Some(status),
            "instance-status.reachability" | "system-status.reachability" => reachability,
            _ => None,
        }
    };
    match filter.name.as_str() {
        "availability-zone" | "instance-state-name" | "instance-state-code" => Ok(filter),
        "availability-zone-id" => Ok(Filter {
            name: "availability-zone".into(),
            values: zones
                .iter()
                .filter(|zone| any_match(&filter.values, &[zone.id.as_str()]))
                .map(|zone| zone.name.clone())
                .collect(),
        }),
        "instance-status.status"
        | "system-status.status"
        | "instance-status.reachability"
        | "system-status.reachability" => Ok(states(&|state| {
            shows(state).is_some_and(|v| any_match(&filter.values, &[v]))
        })),
        "operator.managed" => {
            let unmanaged = any_match(&filter.values, &["false"]);
            Ok(states(&|_| unmanaged))
        }
        "event.code"
        | "event.description"
        | "event.instance-event-id"
        | "event.not-after"
        | "event.not-before"
        | "event.not-before-deadline"
        | "operator.principal"
        | "attached-ebs-status.status"
        | "application-status.status" => Ok(states(&|_| false)),
        _ => Err(EngineError::UnknownFilter(filter.name)),
    }
}

const NETWORK_FILTERS: &[&str] = &["vpc-id", "group-id", "group-name", "instance.group-name"];

/// The network filters in terms of the columns: a VPC is its subnets, a group name the ids
/// of the groups of that name.
fn network_filter(filter: Filter, net: &AccountNetwork) -> Filter {
    // No id is empty: a filter on it matches nothing.
    let or_never = |values: Vec<String>| {
        if values.is_empty() {
            vec![String::new()]
        } else {
            values
        }
    };
    match filter.name.as_str() {
        "vpc-id" => Filter {
            name: "subnet-id".into(),
            values: or_never(
                net.subnets
                    .iter()
                    .filter(|s| any_match(&filter.values, &[s.vpc_id.as_str()]))
                    .map(|s| s.subnet_id.clone())
                    .collect(),
            ),
        },
        "group-name" | "instance.group-name" => Filter {
            name: "instance.group-id".into(),
            values: or_never(
                net.groups
                    .iter()
                    .filter(|g| any_match(&filter.values, &[g.group_name.as_str()]))
                    .map(|g| g.group_id.clone())
                    .collect(),
            ),
        },
        "group-id" => Filter {
            name: "instance.group-id".into(),
            ..filter
        },
        _ => filter,
    }
}

/// Rows with their tags, their network and their image's facts.
fn views(
    conn: &mut DbConnection,
    account_id: &str,
    net: &AccountNetwork,
    rows: Vec<InstanceRow>,
) -> Result<Vec<Instance>, EngineError> {
    let region = net.region.as_str();
    let ids: Vec<String> = rows.iter().map(|r| r.instance_id.clone()).collect();
    let mut sets = tag_sets(conn, account_id, &ids)?;
    let mut groups = rows::groups_of(conn, &ids)?;
    let mut options: HashMap<String, InstanceOptionsRow> = rows::options_of(conn, &ids)?
        .into_iter()
        .map(|o| (o.instance_id.clone(), o))
        .collect();
    let mut images: HashMap<String, Option<ImageRow>> = HashMap::new();
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if !images.contains_key(&row.image_id) {
            let image = image_rows::find(conn, &row.image_id)?;
            images.insert(row.image_id.clone(), image);
        }
        let image = images.get(&row.image_id).and_then(Option::as_ref);
        let (metadata_options, tenancy) =
            launch_options_of(options.remove(&row.instance_id).as_ref())?;
        out.push(Instance {
            metadata_options,
            tenancy,
            tags: sets.remove(&row.instance_id).unwrap_or_default(),
            vpc_id: row.vpc_id.clone().or_else(|| {
                row.subnet_id
                    .as_deref()
                    .and_then(|s| net.subnet(s))
                    .map(|s| s.vpc_id.clone())
            }),
            groups: group_refs(&groups.remove(&row.instance_id).unwrap_or_default(), net),
            interfaces: {
                let mut mine: Vec<_> = net
                    .interfaces
                    .iter()
                    .filter(|i| i.instance_id.as_deref() == Some(row.instance_id.as_str()))
                    .collect();
                mine.sort_by_key(|i| i.device_index);
                mine.into_iter()
                    .map(|i| net.interface_view(region, i))
                    .collect()
            },
            architecture: image.map_or_else(|| "x86_64".to_owned(), |i| i.architecture.clone()),
            root_device_name: image
                .map_or_else(|| "/dev/xvda".to_owned(), |i| i.root_device_name.clone()),
            row,
        });
    }
    Ok(out)
}

/// What RunInstances resolved before it touches the database.
struct Launch {
    vcpus: u32,
    memory_mib: u64,
    type_root_gib: u32,
    metadata_options: MetadataOptions,
    tenancy: Tenancy,
    placement: Placement,
    shutdown_behavior: ShutdownBehavior,
}

/// What an instance's options row recorded of MetadataOptions and Placement.Tenancy; EC2's
/// defaults for an instance launched before they were recorded.
fn launch_options_of(
    row: Option<&InstanceOptionsRow>,
) -> Result<(MetadataOptions, Tenancy), EngineError> {
    let Some(row) = row else {
        return Ok((MetadataOptions::default(), Tenancy::default()));
    };
    fn known<T>(
        row: &InstanceOptionsRow,
        column: &'static str,
        value: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, EngineError> {
        parse(value).ok_or_else(|| EngineError::UnknownStoredValue {
            instance_id: row.instance_id.clone(),
            column,
            value: value.to_owned(),
        })
    }
    let options = MetadataOptions {
        http_tokens: known(
            row,
            "metadata_http_tokens",
            &row.metadata_http_tokens,
            HttpTokens::parse,
        )?,
        http_endpoint: known(
            row,
            "metadata_http_endpoint",
            &row.metadata_http_endpoint,
            MetadataSwitch::parse,
        )?,
        http_put_response_hop_limit: i64::from(row.metadata_hop_limit),
        instance_metadata_tags: known(
            row,
            "metadata_tags",
            &row.metadata_tags,
            MetadataSwitch::parse,
        )?,
        http_protocol_ipv6: known(
            row,
            "metadata_protocol_ipv6",
            &row.metadata_protocol_ipv6,
            MetadataSwitch::parse,
        )?,
    };
    let tenancy = known(row, "tenancy", &row.tenancy, Tenancy::parse)?;
    Ok((options, tenancy))
}

/// The image the caller may launch: available, and theirs, public or shared with them. A
/// store failure on the way is that, never NotFound: a client told the image is gone would
/// stop retrying, or worse, act on it.
fn launchable_image(
    conn: &mut DbConnection,
    account_id: &str,
    image_id: &str,
) -> Result<ImageRow, EngineError> {
    let not_found = || EngineError::NotFound {
        kind: Kind::Image,
        ids: vec![image_id.to_owned()],
    };
    let image = image_rows::find(conn, image_id)?
        .filter(|i| i.state == ImageState::Available)
        .ok_or_else(not_found)?;
    if image_rows::may_launch(conn, &image, account_id)? {
        Ok(image)
    } else {
        Err(not_found())
    }
}

impl Engine {
    /// RunInstances: checks, then writes the reservation and its instances as `pending`, all
    /// or nothing; the reconciler launches them.
    pub async fn run_instances(
        &self,
        account_id: &str,
        req: RunRequest,
    ) -> Result<Reservation, EngineError> {
        if req.min_count < 1 || req.max_count < 1 {
            return Err(EngineError::InvalidParameterValue(format!(
                "Value ({}) for parameter minCount/maxCount is invalid. Expected a positive integer.",
                req.min_count.min(req.max_count)
            )));
        }
        if req.min_count > req.max_count {
            return Err(EngineError::InvalidParameterValue(
                "MinCount cannot be greater than MaxCount".into(),
            ));
        }
        check_user_data(&req.user_data)?;
        if !ids::is_well_formed(Kind::Image, &req.image_id) {
            return Err(EngineError::MalformedId {
                kind: Kind::Image,
                id: req.image_id.clone(),
            });
        }
        let spec = self
            .instance_type(&req.instance_type)
            .cloned()
            .ok_or_else(|| {
                EngineError::InvalidParameterValue(format!(
                    "Invalid value '{}' for InstanceType.",
                    req.instance_type
                ))
            })?;
        let net = self.account_network(account_id).await?;
        if req.private_ip_address.is_some() && req.max_count > 1 {
            return Err(EngineError::InvalidParameterCombination(
                "Cannot specify a private IP address when launching more than one instance.".into(),
            ));
        }
        let placement = nics::place(
            &net,
            &self.settings().zones,
            &InterfaceRequest {
                zone: req.availability_zone.clone().filter(|z| !z.is_empty()),
                subnet_id: req.subnet_id.clone().filter(|s| !s.is_empty()),
                group_ids: req.security_group_ids.clone(),
                group_names: req.security_groups.clone(),
                private_ip: req.private_ip_address.clone().filter(|s| !s.is_empty()),
                associate_public_ip: req.associate_public_ip,
                delete_on_termination: req.interface_delete_on_termination,
                description: req.interface_description.clone(),
            },
        )?;
        let shutdown_behavior = ShutdownBehavior::parse(&req.shutdown_behavior)
            .ok_or_else(|| EngineError::InvalidShutdownBehavior(req.shutdown_behavior.clone()))?;
        let launch = Launch {
            vcpus: spec.vcpus,
            memory_mib: spec.memory_mib,
            type_root_gib: spec.root_gib,
            metadata_options: MetadataOptions::resolve(&req.metadata_options)?,
            tenancy: Tenancy::resolve(req.tenancy.as_deref())?,
            placement,
            shutdown_behavior,
        };
        let _launching = self.launch_lock().lock().await;
        let account = account_id.to_owned();
        let engine = self.clone();
        let reservation = self
            .store()
            .run(move |conn| engine.write_reservation(conn, &account, req, launch, &net))
            .await?;
        self.wake_reconciler();
        Ok(reservation)
    }

    /// Writes the reservation in one write transaction. The host's capacity is counted under
    /// its lock (`lock_capacity`), held until the instances are in, so what was counted is
    /// still true when they are, whichever gateway on the database launches; a ClientToken
    /// written meanwhile by another gateway is caught by the reservation's unique key.
    fn write_reservation(
        &self,
        conn: &mut DbConnection,
        account_id: &str,
        req: RunRequest,
        launch: Launch,
        net: &AccountNetwork,
    ) -> Result<Reservation, EngineError> {
        let mode = self.mode();
        let fingerprint = request_fingerprint(&req);
        let settings = self.settings();
        let written = super::transact(conn, mode, |conn| {
            if let Some(existing) = reservation_by_token(conn, account_id, &req, &fingerprint, net)?
            {
                return Ok(existing);
            }
            let image = launchable_image(conn, account_id, &req.image_id)?;
            launch::check_architecture(&image, std::env::consts::ARCH)?;
            if let Some(key_name) = &req.key_name {
                let found = key_pairs::describe(
                    conn,
                    account_id,
                    std::slice::from_ref(key_name),
                    &[],
                    &[],
                )?;
                if found.is_empty() {
                    return Err(EngineError::KeyPairNotFound(key_name.clone()));
                }
            }
            let root = root_volume(
                &req.block_device_mappings,
                &image,
                i32::try_from(launch.type_root_gib).unwrap_or(i32::MAX),
            )
            .map_err(EngineError::BlockDevice)?;
            // As many as fit, up to MaxCount; fewer than MinCount is a capacity error.
            rows::lock_capacity(conn)?;
            let (used_vcpus, used_mib) = rows::committed(conn)?;
            let fit_vcpus =
                (settings.host_vcpus - used_vcpus).max(0) / i64::from(launch.vcpus.max(1));
            let fit_mib = (settings.host_memory_mib - used_mib).max(0)
                / i64::try_from(launch.memory_mib.max(1)).unwrap_or(i64::MAX);
            let count = req.max_count.min(fit_vcpus).min(fit_mib);
            if count < req.min_count {
                return Err(EngineError::InsufficientCapacity(req.instance_type.clone()));
            }
            let now = timestamp_now();
            let reservation_id = ids::new_id(Kind::Reservation);
            let token = req.client_token.clone().filter(|t| !t.is_empty());
            if !rows::insert_reservation(
                conn,
                &ReservationRow {
                    reservation_id: reservation_id.clone(),
                    account_id: account_id.to_owned(),
                    client_token: token.clone(),
                    request_hash: fingerprint.clone(),
                    created_at: now.clone(),
                },
            )? {
                return Err(EngineError::IdempotentParameterMismatch(
                    token.clone().unwrap_or_default(),
                ));
            }
            let options = &launch.metadata_options;
            let mut instances = Vec::new();
            let mut launched_with = Vec::new();
            for index in 0..count {
                let row = InstanceRow {
                    instance_id: ids::new_id(Kind::Instance),
                    account_id: account_id.to_owned(),
                    reservation_id: reservation_id.clone(),
                    launch_index: i32::try_from(index).unwrap_or(i32::MAX),
                    image_id: image.image_id.clone(),
                    instance_type: req.instance_type.clone(),
                    vcpus: i32::try_from(launch.vcpus).unwrap_or(i32::MAX),
                    memory_mib: i64::try_from(launch.memory_mib).unwrap_or(i64::MAX),
                    key_name: req.key_name.clone(),
                    availability_zone: launch.placement.zone.clone(),
                    state: InstanceState::Pending,
                    state_reason_code: Some("pending".into()),
                    state_reason_message: Some("pending".into()),
                    transition_reason: String::new(),
                    launch_time: now.clone(),
                    state_changed_at: now.clone(),
                    user_data: req.user_data.clone(),
                    disable_api_termination: req.disable_api_termination,
                    disable_api_stop: req.disable_api_stop,
                    shutdown_behavior: launch.shutdown_behavior,
                    subnet_id: Some(launch.placement.subnet.subnet_id.clone()),
                    root_volume_id: ids::new_id(Kind::Volume),
                    root_size_gib: root.size_gib,
                    root_delete_on_termination: root.delete_on_termination,
                    ebs_optimized: req.ebs_optimized,
                    monitoring: req.monitoring,
                    cpu_credits: req.cpu_credits.clone().unwrap_or_else(|| {
                        if req.instance_type.starts_with("t2.") {
                            "standard".into()
                        } else {
                            "unlimited".into()
                        }
                    }),
                    client_token: token.clone().unwrap_or_default(),
                    reboot_requested_at: None,
                    hibernation_configured: req.hibernation_configured,
                    stop_mode: StopMode::Shutdown,
                    vpc_id: Some(launch.placement.subnet.vpc_id.clone()),
                };
                launched_with.push(InstanceOptionsRow {
                    instance_id: row.instance_id.clone(),
                    metadata_http_tokens: options.http_tokens.as_str().into(),
                    metadata_http_endpoint: options.http_endpoint.as_str().into(),
                    // Checked to be within 1..=64 by MetadataOptions::resolve.
                    metadata_hop_limit: i32::try_from(options.http_put_response_hop_limit)
                        .unwrap_or(1),
                    metadata_tags: options.instance_metadata_tags.as_str().into(),
                    metadata_protocol_ipv6: options.http_protocol_ipv6.as_str().into(),
                    tenancy: launch.tenancy.as_str().into(),
                });
                tag_rows::put(
                    conn,
                    &rows_for(
                        account_id,
                        Kind::Instance,
                        &row.instance_id,
                        &req.instance_tags,
                    ),
                )?;
                tag_rows::put(
                    conn,
                    &rows_for(
                        account_id,
                        Kind::Volume,
                        &row.root_volume_id,
                        &req.volume_tags,
                    ),
                )?;
                instances.push(row);
            }
            rows::insert(conn, &instances)?;
            for instance in &instances {
                rows::insert_groups(conn, &instance.instance_id, &launch.placement.group_ids)?;
                nics::create_primary(
                    conn,
                    settings,
                    account_id,
                    &instance.instance_id,
                    &launch.placement,
                    &now,
                )?;
            }
            // The interfaces just made, for the answer.
            let net = &AccountNetwork::load(conn, account_id, &settings.region)?;
            rows::insert_options(conn, &launched_with)?;
            let volumes: Vec<_> = instances
                .iter()
                .map(|i| super::volumes::root_volume(i, &image.root_device_name))
                .collect();
            crate::store::volumes::insert(conn, &volumes)?;
            Ok(Reservation {
                reservation_id,
                owner_id: account_id.to_owned(),
                instances: views(conn, account_id, net, instances)?,
            })
        });
        match written {
            // The same token was written in the meantime (by another gateway on the same
            // database): a retry of the same request gets that reservation, as on AWS.
            Err(EngineError::IdempotentParameterMismatch(token)) => {
                reservation_by_token(conn, account_id, &req, &fingerprint, net)?
                    .ok_or(EngineError::IdempotentParameterMismatch(token))
            }
            written => written,
        }
    }

    /// DescribeInstances.
    pub async fn describe_instances(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<Instance>, Option<String>), EngineError> {
        self.describe_narrowed(account_id, instance_ids, filters, Vec::new(), page)
            .await
    }

    /// DescribeInstanceStatus: the running instances, or all with `include_all`, by its own
    /// filters; narrowed before paging, so every page but the last is full.
    pub async fn describe_instance_status(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        include_all: bool,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<Instance>, Option<String>), EngineError> {
        let mut narrowing = filters
            .into_iter()
            .map(|f| status_filter(f, &self.settings().zones))
            .collect::<Result<Vec<_>, _>>()?;
        if !include_all {
            narrowing.push(Filter {
                name: "instance-state-name".into(),
                values: vec!["running".into()],
            });
        }
        self.describe_narrowed(account_id, instance_ids, Vec::new(), narrowing, page)
            .await
    }

    /// DescribeInstanceCreditSpecifications: the burstable (t*) instances; without ids, as on
    /// AWS, only those whose credits are unlimited.
    pub async fn describe_credit_specifications(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        filters: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<Instance>, Option<String>), EngineError> {
        let mut narrowing = vec![Filter {
            name: "instance-type".into(),
            values: vec!["t*".into()],
        }];
        if instance_ids.is_empty() {
            narrowing.push(Filter {
                name: rows::CPU_CREDITS_FILTER.into(),
                values: vec!["unlimited".into()],
            });
        }
        self.describe_narrowed(account_id, instance_ids, filters, narrowing, page)
            .await
    }

    /// The caller's instances by `filters` (checked against what DescribeInstances knows) and
    /// the engine's own `narrowing`, paged.
    async fn describe_narrowed(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        filters: Vec<Filter>,
        narrowing: Vec<Filter>,
        page: Page,
    ) -> Result<(Vec<Instance>, Option<String>), EngineError> {
        ids::check_well_formed(Kind::Instance, &instance_ids)?;
        let plain: Vec<Filter> = filters
            .iter()
            .filter(|f| !f.name.starts_with("tag:"))
            .cloned()
            .collect();
        let known = |name: &str| rows::FILTERS.contains(&name) || NETWORK_FILTERS.contains(&name);
        if let Some(name) = plain.iter().map(|f| f.name.as_str()).find(|n| !known(n)) {
            return Err(EngineError::UnknownFilter(name.to_owned()));
        }
        let scope = format!("DescribeInstances/{account_id}");
        let (after, limit) = self.pager().start(&scope, &page)?;
        let cutoff = terminated_cutoff();
        let net = self.account_network(account_id).await?;
        let query = InstanceQuery {
            account_id: account_id.to_owned(),
            instance_ids: instance_ids.clone(),
            filters: filters
                .into_iter()
                .map(|f| network_filter(f, &net))
                .chain(narrowing)
                .collect(),
            terminated_since: cutoff.clone(),
            after,
            limit,
        };
        let account = account_id.to_owned();
        let found = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                let rows = rows::describe(conn, &query)?;
                views(conn, &account, &net, rows)
            })
            .await?;
        let missing: Vec<String> = instance_ids
            .iter()
            .filter(|id| !found.iter().any(|i| &i.row.instance_id == *id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            // Asked-for ids that exist but were filtered out are not missing.
            let account = account_id.to_owned();
            let unknown = self
                .store()
                .run::<_, EngineError, _>(move |conn| {
                    let mut unknown = Vec::new();
                    for id in missing {
                        if rows::find(conn, &id)?.is_none_or(|r| !visible_to(&r, &account, &cutoff))
                        {
                            unknown.push(id);
                        }
                    }
                    Ok(unknown)
                })
                .await?;
            if !unknown.is_empty() {
                return Err(not_found(unknown));
            }
        }
        Ok(self
            .pager()
            .finish(&scope, &page, found, |i| i.row.instance_id.clone()))
    }

    /// Applies one state change to each of the caller's instances, all or nothing: `check`
    /// may refuse the whole call; `change` moves one instance and says its state now.
    async fn change_states(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        check: impl Fn(&mut DbConnection, &[InstanceRow]) -> Result<(), EngineError> + Send + 'static,
        change: impl Fn(&mut DbConnection, &InstanceRow, &str) -> Result<InstanceState, EngineError>
            + Send
            + 'static,
    ) -> Result<Vec<StateChange>, EngineError> {
        let mode = self.mode();
        let account = account_id.to_owned();
        let changes = self
            .store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    let found = owned_instances(conn, &account, &instance_ids)?;
                    check(conn, &found)?;
                    let now = timestamp_now();
                    found
                        .into_iter()
                        .map(|row| {
                            let current = change(conn, &row, &now)?;
                            Ok::<_, EngineError>(StateChange {
                                instance_id: row.instance_id,
                                previous: row.state,
                                current,
                            })
                        })
                        .collect()
                })
            })
            .await?;
        self.wake_reconciler();
        Ok(changes)
    }

    /// StartInstances: stopped -> pending (the reconciler boots them).
    pub async fn start_instances(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
    ) -> Result<Vec<StateChange>, EngineError> {
        let _launching = self.launch_lock().lock().await;
        let (host_vcpus, host_mib) = (self.settings().host_vcpus, self.settings().host_memory_mib);
        let settings = self.settings().clone();
        let check = move |conn: &mut DbConnection, found: &[InstanceRow]| {
            if let Some(row) = found.iter().find(|r| {
                matches!(
                    r.state,
                    InstanceState::Stopping
                        | InstanceState::ShuttingDown
                        | InstanceState::Terminated
                )
            }) {
                return Err(EngineError::IncorrectInstanceState(format!(
                    "The instance '{}' is not in a state from which it can be started.",
                    row.instance_id
                )));
            }
            let (vcpus, mib) = found
                .iter()
                .filter(|r| r.state == InstanceState::Stopped)
                .fold((0, 0), |(v, m), r| {
                    (v + i64::from(r.vcpus), m + r.memory_mib)
                });
            rows::lock_capacity(conn)?;
            let (used_vcpus, used_mib) = rows::committed(conn)?;
            if used_vcpus + vcpus > host_vcpus || used_mib + mib > host_mib {
                let kind = found
                    .first()
                    .map(|r| r.instance_type.clone())
                    .unwrap_or_default();
                return Err(EngineError::InsufficientCapacity(kind));
            }
            Ok(())
        };
        let change = move |conn: &mut DbConnection, row: &InstanceRow, now: &str| {
            if row.state != InstanceState::Stopped {
                return Ok(row.state);
            }
            rows::transition(
                conn,
                &row.instance_id,
                &[InstanceState::Stopped],
                InstanceState::Pending,
                None,
                None,
                "",
                now,
            )?;
            rows::set_stop_mode(conn, &row.instance_id, StopMode::Shutdown)?;
            nics::renew_launch_public(conn, &settings, &row.instance_id)?;
            // A reboot asked just as the guest powered itself off is moot.
            rows::set_reboot_requested(conn, &row.instance_id, None)?;
            Ok(InstanceState::Pending)
        };
        self.change_states(account_id, instance_ids, check, change)
            .await
    }

    /// StopInstances: running/pending -> stopping (the reconciler shuts the guest down, or
    /// with `hibernate` saves its memory).
    pub async fn stop_instances(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        force: bool,
        hibernate: bool,
    ) -> Result<Vec<StateChange>, EngineError> {
        let check = move |_: &mut DbConnection, found: &[InstanceRow]| {
            for row in found {
                if matches!(
                    row.state,
                    InstanceState::ShuttingDown | InstanceState::Terminated
                ) {
                    return Err(EngineError::IncorrectInstanceState(format!(
                        "The instance '{}' is not in a state from which it can be stopped.",
                        row.instance_id
                    )));
                }
                if row.disable_api_stop {
                    return Err(EngineError::OperationNotPermitted(format!(
                        "The instance '{}' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.",
                        row.instance_id
                    )));
                }
                if hibernate && !row.hibernation_configured {
                    return Err(EngineError::UnsupportedHibernationConfiguration(
                        row.instance_id.clone(),
                    ));
                }
            }
            Ok(())
        };
        let change = move |conn: &mut DbConnection, row: &InstanceRow, now: &str| {
            if !matches!(row.state, InstanceState::Running | InstanceState::Pending) {
                if force {
                    rows::set_stop_mode(conn, &row.instance_id, StopMode::Force)?;
                }
                return Ok(row.state);
            }
            let mode = match (force, hibernate) {
                (true, _) => StopMode::Force,
                (false, true) => StopMode::Hibernate,
                (false, false) => StopMode::Shutdown,
            };
            rows::set_stop_mode(conn, &row.instance_id, mode)?;
            // EC2 gives a launch-assigned public address back at stop (an Elastic IP stays).
            nics::release_launch_public(conn, &row.instance_id)?;
            user_shutdown(
                conn,
                row,
                &[InstanceState::Running, InstanceState::Pending],
                InstanceState::Stopping,
                now,
                hibernate,
            )?;
            Ok(InstanceState::Stopping)
        };
        self.change_states(account_id, instance_ids, check, change)
            .await
    }

    /// TerminateInstances: anything but terminated -> shutting-down. As on EC2, the reconciler
    /// shuts a running guest down before it deletes it (its shutdown scripts run), unless
    /// `skip_os_shutdown`; a guest not yet up, or off already, is simply removed.
    pub async fn terminate_instances(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
        skip_os_shutdown: bool,
    ) -> Result<Vec<StateChange>, EngineError> {
        let check = |_: &mut DbConnection, found: &[InstanceRow]| {
            match found
            .iter()
            .find(|r| r.disable_api_termination)
        {
            Some(row) => Err(EngineError::OperationNotPermitted(format!(
                "The instance '{}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.",
                row.instance_id
            ))),
            None => Ok(()),
        }
        };
        let change = move |conn: &mut DbConnection, row: &InstanceRow, now: &str| {
            if matches!(
                row.state,
                InstanceState::ShuttingDown | InstanceState::Terminated
            ) {
                return Ok(row.state);
            }
            let graceful = !skip_os_shutdown
                && (row.state == InstanceState::Running
                    || (row.state == InstanceState::Stopping && row.stop_mode != StopMode::Force));
            rows::set_stop_mode(
                conn,
                &row.instance_id,
                if graceful {
                    StopMode::Shutdown
                } else {
                    StopMode::Force
                },
            )?;
            user_shutdown(
                conn,
                row,
                &[
                    InstanceState::Pending,
                    InstanceState::Running,
                    InstanceState::Stopping,
                    InstanceState::Stopped,
                ],
                InstanceState::ShuttingDown,
                now,
                false,
            )?;
            Ok(InstanceState::ShuttingDown)
        };
        self.change_states(account_id, instance_ids, check, change)
            .await
    }

    /// RebootInstances: the reboot is written down, then the guest is asked to power off
    /// (ACPI) once; the reconciler boots it again when it is off, or resets it if it has not
    /// gone down within the reboot timeout (a request sent before the guest listens is lost,
    /// as on EC2, which hard-reboots such a guest). The instance stays running throughout.
    pub async fn reboot_instances(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        let account = account_id.to_owned();
        let asked = self
            .store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    let found = owned_instances(conn, &account, &instance_ids)?;
                    if let Some(row) = found.iter().find(|r| r.state != InstanceState::Running) {
                        return Err(EngineError::IncorrectInstanceState(format!(
                            "The instance '{}' is not in a state from which it can be rebooted.",
                            row.instance_id
                        )));
                    }
                    let now = timestamp_now();
                    let mut asked = Vec::new();
                    // A reboot already under way is not asked again.
                    for row in found
                        .into_iter()
                        .filter(|r| r.reboot_requested_at.is_none())
                    {
                        rows::set_reboot_requested(conn, &row.instance_id, Some(&now))?;
                        asked.push(row.instance_id);
                    }
                    Ok(asked)
                })
            })
            .await?;
        let hypervisor = self.hypervisor().clone();
        tokio::task::spawn_blocking(move || {
            for id in asked {
                // Written down already: if this fails, the reconciler resets the guest.
                if let Err(e) = hypervisor.shutdown(&id) {
                    tracing::warn!(instance = %id, error = %e, "reboot: the power-off request failed");
                }
            }
        })
        .await
        .map_err(|e| EngineError::Io(format!("reboot: {e}")))?;
        self.wake_reconciler();
        Ok(())
    }

    /// GetConsoleOutput: the most recent 64 KiB the guest wrote to its serial console.
    pub async fn console_output(
        &self,
        account_id: &str,
        instance_id: &str,
    ) -> Result<Vec<u8>, EngineError> {
        let account = account_id.to_owned();
        let ids = vec![instance_id.to_owned()];
        self.store()
            .run(move |conn| owned_instances(conn, &account, &ids))
            .await?;
        let path = instance_dir(&self.settings().data_dir, instance_id).join("console.log");
        let mut output = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(EngineError::Io(format!("{}: {e}", path.display()))),
        };
        // "Only the most recent 64 KB of console output is available", with or without
        // Latest (which on AWS asks for a fresh capture, which this log always is).
        const KEEP: usize = 64 * 1024;
        if output.len() > KEEP {
            output = output.split_off(output.len() - KEEP);
        }
        Ok(output)
    }

    /// DescribeInstanceAttribute.
    pub async fn instance_attribute(
        &self,
        account_id: &str,
        instance_id: &str,
        attribute: &str,
    ) -> Result<InstanceAttribute, EngineError> {
        let Some(&attribute) = INSTANCE_ATTRIBUTES.iter().find(|a| **a == attribute) else {
            return Err(EngineError::InvalidParameterValue(format!(
                "Value ({attribute}) for parameter attribute is invalid. Unknown attribute."
            )));
        };
        let net = self.account_network(account_id).await?;
        let account = account_id.to_owned();
        let ids = vec![instance_id.to_owned()];
        let mut found = self
            .store()
            .run::<_, EngineError, _>(move |conn| {
                let rows = owned_instances(conn, &account, &ids)?;
                views(conn, &account, &net, rows)
            })
            .await?;
        let Some(instance) = found.pop() else {
            return Err(not_found(vec![instance_id.to_owned()]));
        };
        let row = &instance.row;
        Ok(match attribute {
            "instanceType" => InstanceAttribute::Text("instanceType", row.instance_type.clone()),
            "userData" => {
                InstanceAttribute::UserData(Some(row.user_data.clone()).filter(|u| !u.is_empty()))
            }
            "disableApiTermination" => {
                InstanceAttribute::Bool("disableApiTermination", row.disable_api_termination)
            }
            "disableApiStop" => InstanceAttribute::Bool("disableApiStop", row.disable_api_stop),
            "instanceInitiatedShutdownBehavior" => InstanceAttribute::Text(
                "instanceInitiatedShutdownBehavior",
                row.shutdown_behavior.as_str().to_owned(),
            ),
            "rootDeviceName" => {
                InstanceAttribute::RootDeviceName(instance.root_device_name.clone())
            }
            "blockDeviceMapping" => {
                InstanceAttribute::BlockDeviceMapping(Box::new(instance.clone()))
            }
            "groupSet" => InstanceAttribute::GroupSet(instance.groups.clone()),
            "sourceDestCheck" => InstanceAttribute::Bool("sourceDestCheck", true),
            "ebsOptimized" => InstanceAttribute::Bool("ebsOptimized", row.ebs_optimized),
            "enaSupport" => InstanceAttribute::Bool("enaSupport", false),
            other => InstanceAttribute::Empty(other),
        })
    }

    /// ModifyInstanceAttribute: type and user data only while stopped.
    pub async fn modify_instance_attribute(
        &self,
        account_id: &str,
        instance_id: &str,
        asked: AttributeChanges,
    ) -> Result<(), EngineError> {
        let mode = self.mode();
        if asked == AttributeChanges::default() {
            return Err(EngineError::InvalidParameterCombination(
                "No attributes specified.".into(),
            ));
        }
        let mut changes = InstanceChanges {
            instance_type: asked.instance_type,
            user_data: asked.user_data,
            disable_api_termination: asked.disable_api_termination,
            disable_api_stop: asked.disable_api_stop,
            shutdown_behavior: asked.shutdown_behavior,
            ebs_optimized: asked.ebs_optimized,
            ..InstanceChanges::default()
        };
        if let Some(name) = &changes.instance_type {
            let spec = self.instance_type(name).ok_or_else(|| {
                EngineError::InvalidParameterValue(format!(
                    "Invalid value '{name}' for InstanceType."
                ))
            })?;
            changes.vcpus = Some(i32::try_from(spec.vcpus).unwrap_or(i32::MAX));
            changes.memory_mib = Some(i64::try_from(spec.memory_mib).unwrap_or(i64::MAX));
        }
        if let Some(behavior) = &changes.shutdown_behavior {
            if ShutdownBehavior::parse(behavior).is_none() {
                return Err(EngineError::InvalidShutdownBehavior(behavior.clone()));
            }
        }
        if let Some(user_data) = &changes.user_data {
            check_user_data(user_data)?;
        }
        let account = account_id.to_owned();
        let ids = vec![instance_id.to_owned()];
        self.store()
            .run(move |conn| {
                super::transact(conn, mode, |conn| {
                    let found = owned_instances(conn, &account, &ids)?;
                    for row in &found {
                        // As on EC2: what changes the machine or its first boot waits for a stop.
                        let needs_stop = changes.instance_type.is_some()
                            || changes.user_data.is_some()
                            || changes.ebs_optimized.is_some();
                        if needs_stop && row.state != InstanceState::Stopped {
                            return Err(EngineError::IncorrectInstanceState(format!(
                                "The instance '{}' is not in the 'stopped' state.",
                                row.instance_id
                            )));
                        }
                        if row.state == InstanceState::Terminated {
                            return Err(EngineError::IncorrectInstanceState(format!(
                                "The instance '{}' is not in a state from which it can be modified.",
                                row.instance_id
                            )));
                        }
                        rows::update(conn, &row.instance_id, &changes)?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// The caller's instances by id, all of them or NotFound (for DryRun answers).
    pub async fn instances_by_id(
        &self,
        account_id: &str,
        instance_ids: Vec<String>,
    ) -> Result<Vec<Instance>, EngineError> {
        let net = self.account_network(account_id).await?;
        let account = account_id.to_owned();
        self.store()
            .run(move |conn| {
                let rows = owned_instances(conn, &account, &instance_ids)?;
                views(conn, &account, &net, rows)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;

    #[test]
    fn a_store_failure_checking_launch_permission_is_not_not_found() {
        use crate::store::{DatabaseUrl, Store};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &DatabaseUrl::Sqlite(dir.path().join("db.sqlite")),
            crate::store::keyring::KeySource::File(dir.path().join("secret.key")),
        )
        .unwrap();
        let admin = super::super::accounts::Admin { store: &store };
        let owner = admin.create_account().unwrap().account_id;
        let other = admin.create_account().unwrap().account_id;
        let image = ImageRow {
            image_id: "ami-0123456789abcdef0".into(),
            owner_id: owner.clone(),
            name: "shared".into(),
            description: String::new(),
            state: ImageState::Available,
            architecture: "x86_64".into(),
            is_public: false,
            root_device_name: "/dev/xvda".into(),
            size_gib: 1,
            disk_path: "/nowhere".into(),
            disk_format: "qcow2".into(),
            disk_bytes: 0,
            sha256: String::new(),
            created_at: "2026-11-24T00:00:00.000Z".into(),
        };
        store
            .run_now::<_, EngineError>(|conn| {
                image_rows::insert(conn, &image)?;
                // Not the owner's, not public: only the launch permission lookup can answer.
                assert!(matches!(
                    launchable_image(conn, &other, &image.image_id),
                    Err(EngineError::NotFound {
                        kind: Kind::Image,
                        ..
                    })
                ));
                assert!(launchable_image(conn, &owner, &image.image_id).is_ok());
                // The lookup now fails as a broken database would.
                conn.batch_execute("DROP TABLE image_launch_permissions")?;
                let failed = launchable_image(conn, &other, &image.image_id);
                assert!(
                    matches!(failed, Err(EngineError::Store(_))),
                    "a failed lookup must be a store error, not {failed:?}"
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn launch_options_read_back_and_default_when_never_recorded() {
        assert_eq!(
            launch_options_of(None).unwrap(),
            (MetadataOptions::default(), Tenancy::Default)
        );
        let mut row = InstanceOptionsRow {
            instance_id: "i-0123456789abcdef0".into(),
            metadata_http_tokens: "required".into(),
            metadata_http_endpoint: "disabled".into(),
            metadata_hop_limit: 5,
            metadata_tags: "enabled".into(),
            metadata_protocol_ipv6: "enabled".into(),
            tenancy: "host".into(),
        };
        assert_eq!(
            launch_options_of(Some(&row)).unwrap(),
            (
                MetadataOptions {
                    http_tokens: HttpTokens::Required,
                    http_endpoint: MetadataSwitch::Disabled,
                    http_put_response_hop_limit: 5,
                    instance_metadata_tags: MetadataSwitch::Enabled,
                    http_protocol_ipv6: MetadataSwitch::Enabled,
                },
                Tenancy::Host
            )
        );
        row.tenancy = "shared".into();
        assert!(matches!(
            launch_options_of(Some(&row)),
            Err(EngineError::UnknownStoredValue {
                column: "tenancy",
                ..
            })
        ));
    }

    #[test]
    fn the_user_data_limit_is_on_decoded_bytes() {
        use base64::Engine as _;
        let encode = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![b'x'; n]);
        assert!(check_user_data(&encode(16 * 1024)).is_ok());
        assert!(check_user_data(&encode(16 * 1024 + 1)).is_err());
        assert!(check_user_data("not base64!").is_err());
        assert!(check_user_data("").is_ok());
    }

    #[test]
    fn status_filters_become_the_states_that_show_them() {
        let f = |name: &str, values: &[&str]| Filter {
            name: name.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        let zones = [
            ZoneSetting {
                name: "us-east-1a".into(),
                id: "use1-az1".into(),
            },
            ZoneSetting {
                name: "us-east-1b".into(),
                id: "use1-az2".into(),
            },
        ];
        let narrowed = |filter| status_filter(filter, &zones).unwrap();
        let not_running = [
            "pending",
            "shutting-down",
            "terminated",
            "stopping",
            "stopped",
        ];
        assert_eq!(
            narrowed(f("instance-status.status", &["ok"])),
            f("instance-state-name", &["running"])
        );
        assert_eq!(
            narrowed(f("system-status.status", &["not-*"])),
            f("instance-state-name", &not_running)
        );
        assert_eq!(
            narrowed(f("system-status.reachability", &["pass?d", "failed"])),
            f("instance-state-name", &["running"])
        );
        assert_eq!(
            narrowed(f("instance-status.reachability", &["failed"])),
            f("instance-state-name", &[])
        );
        assert_eq!(
            narrowed(f("operator.managed", &["false"])).values.len(),
            InstanceState::ALL.len()
        );
        assert_eq!(
            narrowed(f("operator.managed", &["true"])),
            f("instance-state-name", &[])
        );
        assert_eq!(
            narrowed(f("event.code", &["*"])),
            f("instance-state-name", &[])
        );
        assert_eq!(
            narrowed(f("availability-zone-id", &["use1-az2"])),
            f("availability-zone", &["us-east-1b"])
        );
        assert_eq!(
            narrowed(f("instance-state-code", &["16"])),
            f("instance-state-code", &["16"])
        );
        assert!(matches!(
            status_filter(f("instance-id", &["i-1"]), &zones),
            Err(EngineError::UnknownFilter(name)) if name == "instance-id"
        ));
    }

    #[test]
    fn transition_reasons_read_like_awss() {
        assert_eq!(
            user_initiated("2026-11-23T16:40:00.123Z"),
            "User initiated (2026-11-23 16:40:00 GMT)"
        );
    }
}
