//! Network interfaces: where RunInstances puts an instance (subnet, groups, addresses) and the
//! primary interface it makes for it; private addresses of a subnet.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use rand::Rng;

use super::actions::{take_public_address, NetworkFault};
use super::AccountNetwork;
use crate::cidr::Cidr;
use crate::domain::InstanceState;
use crate::engine::ids::{self, Kind};
use crate::engine::{EngineError, Settings, ZoneSetting};
use crate::store::network::{
    self as rows, InterfaceAddressRow, InterfaceRow, PublicAddressRow, SubnetRow,
};
use crate::store::DbConnection;

/// What RunInstances asks of an instance's primary interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceRequest {
    pub zone: Option<String>,
    pub subnet_id: Option<String>,
    pub group_ids: Vec<String>,
    pub group_names: Vec<String>,
    pub private_ip: Option<String>,
    pub associate_public_ip: Option<bool>,
    pub delete_on_termination: Option<bool>,
    pub description: Option<String>,
}

/// Where an instance goes, resolved against the account's network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub zone: String,
    pub subnet: SubnetRow,
    pub group_ids: Vec<String>,
    pub private_ip: Option<Ipv4Addr>,
    pub public_ip: bool,
    pub delete_on_termination: bool,
    pub description: String,
}

/// RunInstances' placement: the subnet asked for, or the zone's default subnet; the groups
/// asked for (ids of the subnet's VPC, names of the default VPC), or the VPC's default group.
/// `zones` in the region's order: with neither subnet nor zone, the first zone's default
/// subnet, as EC2 picks one for you.
pub fn place(
    net: &AccountNetwork,
    zones: &[ZoneSetting],
    req: &InterfaceRequest,
) -> Result<Placement, EngineError> {
    let subnet = match &req.subnet_id {
        Some(id) => {
            ids::check_well_formed(Kind::Subnet, std::slice::from_ref(id))?;
            let subnet = net.subnet(id).ok_or_else(|| EngineError::NotFound {
                kind: Kind::Subnet,
                ids: vec![id.clone()],
            })?;
            if let Some(zone) = req
                .zone
                .as_deref()
                .filter(|z| *z != subnet.availability_zone)
            {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ({zone}) for parameter availabilityZone is invalid. Subnet '{id}' is in availability zone '{}'",
                    subnet.availability_zone
                )));
            }
            subnet
        }
        None => {
            let default_vpc = net
                .default_vpc()
                .ok_or_else(|| EngineError::Network(NetworkFault::NoDefaultVpc))?;
            let default_in = |zone: &str| {
                net.subnets.iter().find(|s| {
                    s.vpc_id == default_vpc.vpc_id
                        && s.default_for_az
                        && s.availability_zone == zone
                })
            };
            match &req.zone {
                Some(zone) => {
                    default_in(zone).ok_or_else(|| EngineError::UnknownZone(zone.clone()))?
                }
                None => zones
                    .iter()
                    .find_map(|z| default_in(&z.name))
                    .ok_or_else(|| EngineError::Network(NetworkFault::NoDefaultVpc))?,
            }
        }
    };
    let vpc_groups: Vec<_> = net
        .groups
        .iter()
        .filter(|g| g.vpc_id == subnet.vpc_id)
        .collect();
    let mut group_ids = Vec::new();
    for id in &req.group_ids {
        if !vpc_groups.iter().any(|g| &g.group_id == id) {
            return Err(EngineError::SecurityGroupNotFound(format!(
                "The security group '{id}' does not exist in VPC '{}'",
                subnet.vpc_id
            )));
        }
        group_ids.push(id.clone());
    }
    for name in &req.group_names {
        let found = vpc_groups
            .iter()
            .find(|g| &g.group_name == name)
            .filter(|_| net.vpc(&subnet.vpc_id).is_some_and(|v| v.is_default));
        match found {
            Some(g) => group_ids.push(g.group_id.clone()),
            None => {
                return Err(EngineError::SecurityGroupNotFound(format!(
                    "The security group '{name}' does not exist in default VPC '{}'",
                    net.default_vpc().map_or("none", |v| v.vpc_id.as_str())
                )))
            }
        }
    }
    if group_ids.is_empty() {
        if let Some(default) = vpc_groups.iter().find(|g| g.group_name == "default") {
            group_ids.push(default.group_id.clone());
        }
    }
    let private_ip = match &req.private_ip {
        Some(text) => {
            let addr: Ipv4Addr = text.parse().map_err(|_| {
                EngineError::InvalidParameterValue(format!(
                    "Value ({text}) for parameter privateIpAddress is invalid. Not a valid IPv4 address."
                ))
            })?;
            let cidr = Cidr::parse(&subnet.cidr_block).ok_or_else(|| {
                EngineError::Io(format!("subnet {} has no block", subnet.subnet_id))
            })?;
            if !cidr.assignable(addr) {
                return Err(NetworkFault::AddressOutsideSubnet {
                    address: text.clone(),
                    subnet_id: subnet.subnet_id.clone(),
                }
                .into());
            }
            Some(addr)
        }
        None => None,
    };
    Ok(Placement {
        zone: subnet.availability_zone.clone(),
        public_ip: req
            .associate_public_ip
            .unwrap_or(subnet.map_public_ip_on_launch),
        subnet: subnet.clone(),
        group_ids,
        private_ip,
        delete_on_termination: req.delete_on_termination.unwrap_or(true),
        description: req.description.clone().unwrap_or_default(),
    })
}

/// A locally administered unicast MAC, as EC2's are (`02:` ...), random.
pub fn new_mac() -> String {
    let mut rng = rand::thread_rng();
    let bytes: [u8; 5] = rng.gen();
    let mut mac = String::from("02");
    for b in bytes {
        mac.push_str(&format!(":{b:02x}"));
    }
    mac
}

/// A free private address of the subnet: `wanted`, or the lowest free one.
pub fn take_private_address(
    conn: &mut DbConnection,
    subnet: &SubnetRow,
    interface_id: &str,
    wanted: Option<Ipv4Addr>,
    primary: bool,
) -> Result<String, EngineError> {
    let cidr = Cidr::parse(&subnet.cidr_block)
        .ok_or_else(|| EngineError::Io(format!("subnet {} has no block", subnet.subnet_id)))?;
    let row = |ip: String| InterfaceAddressRow {
        interface_id: interface_id.to_owned(),
        private_ip: ip,
        subnet_id: subnet.subnet_id.clone(),
        is_primary: primary,
    };
    if let Some(addr) = wanted {
        return if rows::insert_address(conn, &row(addr.to_string()))? {
            Ok(addr.to_string())
        } else {
            Err(NetworkFault::PrivateAddressInUse(addr.to_string()).into())
        };
    }
    let used: HashSet<String> = rows::used_in_subnet(conn, &subnet.subnet_id)?
        .into_iter()
        .collect();
    for i in crate::cidr::RESERVED_LOW..cidr.size().saturating_sub(1) {
        let Some(addr) = cidr.nth(i) else { break };
        let text = addr.to_string();
        if !used.contains(&text) && rows::insert_address(conn, &row(text.clone()))? {
            return Ok(text);
        }
    }
    Err(NetworkFault::SubnetFull(subnet.subnet_id.clone()).into())
}

/// Makes an instance's primary interface (device 0): its row, address, groups and, when asked,
/// a public address of the pool.
pub fn create_primary(
    conn: &mut DbConnection,
    settings: &Settings,
    account_id: &str,
    instance_id: &str,
    placement: &Placement,
    now: &str,
) -> Result<String, EngineError> {
    let interface_id = ids::new_id(Kind::NetworkInterface);
    let mut row = InterfaceRow {
        interface_id: interface_id.clone(),
        account_id: account_id.to_owned(),
        vpc_id: placement.subnet.vpc_id.clone(),
        subnet_id: placement.subnet.subnet_id.clone(),
        availability_zone: placement.zone.clone(),
        mac_address: new_mac(),
        description: placement.description.clone(),
        source_dest_check: true,
        interface_type: "interface".into(),
        created_at: now.to_owned(),
        instance_id: Some(instance_id.to_owned()),
        device_index: Some(0),
        attachment_id: Some(ids::new_id(Kind::InterfaceAttachment)),
        attach_time: Some(now.to_owned()),
        attachment_status: Some("attached".into()),
        delete_on_termination: placement.delete_on_termination,
    };
    // A MAC is unique; a clash of 40 random bits is rare enough to retry.
    while !rows::insert_interface(conn, &row)? {
        row.mac_address = new_mac();
    }
    let private_ip = take_private_address(
        conn,
        &placement.subnet,
        &interface_id,
        placement.private_ip,
        true,
    )?;
    rows::set_interface_groups(conn, &interface_id, &placement.group_ids)?;
    if placement.public_ip {
        take_public_address(
            conn,
            &settings.public_pool,
            PublicAddressRow {
                public_ip: String::new(),
                account_id: account_id.to_owned(),
                allocation_id: None,
                association_id: None,
                interface_id: Some(interface_id.clone()),
                private_ip: Some(private_ip),
                created_at: now.to_owned(),
            },
            None,
        )?;
    }
    Ok(interface_id)
}

/// At termination: the instance's interfaces that go with it are deleted (their public
/// addresses back to the pool, Elastic IPs disassociated); the others are detached.
pub fn release_instance(conn: &mut DbConnection, instance_id: &str) -> Result<(), EngineError> {
    for eni in rows::interfaces_of_instances(conn, &[instance_id.to_owned()])? {
        if eni.delete_on_termination {
            rows::delete_interface(conn, &eni.interface_id)?;
        } else {
            rows::release_auto_public_of(conn, &eni.interface_id)?;
            rows::update_interface(
                conn,
                &InterfaceRow {
                    instance_id: None,
                    device_index: None,
                    attachment_id: None,
                    attach_time: None,
                    attachment_status: None,
                    ..eni
                },
            )?;
        }
    }
    Ok(())
}

/// At stop: a public address given at launch goes back to the pool (an Elastic IP stays).
pub fn release_launch_public(
    conn: &mut DbConnection,
    instance_id: &str,
) -> Result<(), EngineError> {
    for eni in rows::interfaces_of_instances(conn, &[instance_id.to_owned()])? {
        rows::release_auto_public_of(conn, &eni.interface_id)?;
    }
    Ok(())
}

/// At start: an instance whose subnet maps public addresses at launch gets a new one (EC2
/// gives a new address on every start).
pub fn renew_launch_public(
    conn: &mut DbConnection,
    settings: &Settings,
    instance_id: &str,
) -> Result<(), EngineError> {
    for eni in rows::interfaces_of_instances(conn, &[instance_id.to_owned()])? {
        if eni.device_index != Some(0) {
            continue;
        }
        let Some(subnet) = rows::find_subnet(conn, &eni.subnet_id)? else {
            continue;
        };
        let publics = rows::publics_of_interfaces(conn, std::slice::from_ref(&eni.interface_id))?;
        if !subnet.map_public_ip_on_launch || !publics.is_empty() {
            continue;
        }
        let Some(primary) = rows::addresses_of(conn, std::slice::from_ref(&eni.interface_id))?
            .into_iter()
            .find(|a| a.is_primary)
        else {
            continue;
        };
        take_public_address(
            conn,
            &settings.public_pool,
            PublicAddressRow {
                public_ip: String::new(),
                account_id: eni.account_id.clone(),
                allocation_id: None,
                association_id: None,
                interface_id: Some(eni.interface_id.clone()),
                private_ip: Some(primary.private_ip),
                created_at: crate::engine::timestamp_now(),
            },
            None,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_local_unicast_and_distinct() {
        let a = new_mac();
        assert_eq!(a.len(), 17);
        assert!(a.starts_with("02:"));
        assert_ne!(a, new_mac());
    }
}

/// The states an attachment goes through: `attaching` and `detaching` until the reconciler has
/// plugged or unplugged the NIC, as EC2's attachment states go.
pub const ATTACHING: &str = "attaching";
pub const ATTACHED: &str = "attached";
pub const DETACHING: &str = "detaching";

/// An interface EC2's attribute calls name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceAttribute {
    Description,
    GroupSet,
    SourceDestCheck,
    Attachment,
}

impl InterfaceAttribute {
    pub fn parse(name: &str) -> Option<InterfaceAttribute> {
        match name {
            "description" => Some(InterfaceAttribute::Description),
            "groupSet" => Some(InterfaceAttribute::GroupSet),
            "sourceDestCheck" => Some(InterfaceAttribute::SourceDestCheck),
            "attachment" => Some(InterfaceAttribute::Attachment),
            _ => None,
        }
    }
}

/// What ModifyNetworkInterfaceAttribute changes (one of them per call, as on EC2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceChange {
    pub description: Option<String>,
    pub source_dest_check: Option<bool>,
    pub group_ids: Vec<String>,
    pub delete_on_termination: Option<(String, bool)>,
}

/// Security groups per interface, EC2's default limit.
pub const MAX_GROUPS_PER_INTERFACE: usize = 5;
/// Device indexes an attached interface may take (EC2's smallest types take 2 or 3).
pub const MAX_DEVICE_INDEX: i32 = 7;

fn owned_interface(net: &AccountNetwork, interface_id: &str) -> Result<InterfaceRow, EngineError> {
    ids::check_well_formed(Kind::NetworkInterface, &[interface_id.to_owned()])?;
    net.interfaces
        .iter()
        .find(|i| i.interface_id == interface_id)
        .cloned()
        .ok_or_else(|| EngineError::NotFound {
            kind: Kind::NetworkInterface,
            ids: vec![interface_id.to_owned()],
        })
}

/// Groups of the VPC, at most five, as SecurityGroupId.N names them.
fn vpc_groups(
    net: &AccountNetwork,
    vpc_id: &str,
    group_ids: &[String],
) -> Result<Vec<String>, EngineError> {
    if group_ids.len() > MAX_GROUPS_PER_INTERFACE {
        return Err(NetworkFault::TooManyGroups.into());
    }
    ids::check_well_formed(Kind::SecurityGroup, group_ids)?;
    for id in group_ids {
        if !net
            .groups
            .iter()
            .any(|g| &g.group_id == id && g.vpc_id == vpc_id)
        {
            return Err(EngineError::SecurityGroupNotFound(format!(
                "The security group '{id}' does not exist in VPC '{vpc_id}'"
            )));
        }
    }
    Ok(group_ids.to_vec())
}

impl crate::engine::Engine {
    /// CreateNetworkInterface: detached (`available`), its primary address as asked or the
    /// lowest free, the VPC's default group when none is named.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_network_interface(
        &self,
        account_id: &str,
        subnet_id: &str,
        description: Option<String>,
        private_ip: Option<String>,
        secondary: Vec<String>,
        group_ids: Vec<String>,
        secondary_count: Option<i32>,
        tags: Vec<crate::engine::tags::Tag>,
    ) -> Result<super::NetworkInterface, EngineError> {
        let account = account_id.to_owned();
        let subnet_id = subnet_id.to_owned();
        let zones = self.settings().zones.clone();
        let region = self.settings().region.clone();
        self.change_network(account_id, move |_, conn, net| {
            let placement = place(
                net,
                &zones,
                &InterfaceRequest {
                    subnet_id: Some(subnet_id.clone()),
                    group_ids: group_ids.clone(),
                    private_ip: private_ip.clone(),
                    associate_public_ip: Some(false),
                    delete_on_termination: Some(false),
                    description: description.clone(),
                    ..Default::default()
                },
            )?;
            vpc_groups(net, &placement.subnet.vpc_id, &group_ids)?;
            let now = crate::engine::timestamp_now();
            let interface_id = ids::new_id(Kind::NetworkInterface);
            let mut row = InterfaceRow {
                interface_id: interface_id.clone(),
                account_id: account.clone(),
                vpc_id: placement.subnet.vpc_id.clone(),
                subnet_id: placement.subnet.subnet_id.clone(),
                availability_zone: placement.zone.clone(),
                mac_address: new_mac(),
                description: placement.description.clone(),
                source_dest_check: true,
                interface_type: "interface".into(),
                created_at: now.clone(),
                instance_id: None,
                device_index: None,
                attachment_id: None,
                attach_time: None,
                attachment_status: None,
                delete_on_termination: false,
            };
            while !rows::insert_interface(conn, &row)? {
                row.mac_address = new_mac();
            }
            take_private_address(
                conn,
                &placement.subnet,
                &interface_id,
                placement.private_ip,
                true,
            )?;
            let cidr = Cidr::parse(&placement.subnet.cidr_block).ok_or_else(|| {
                EngineError::Io(format!(
                    "subnet {} has no block",
                    placement.subnet.subnet_id
                ))
            })?;
            for text in &secondary {
                let addr: Ipv4Addr = text.parse().map_err(|_| {
                    EngineError::InvalidParameterValue(format!("Invalid IPv4 address: {text}"))
                })?;
                if !cidr.assignable(addr) {
                    return Err(NetworkFault::AddressOutsideSubnet {
                        address: text.clone(),
                        subnet_id: placement.subnet.subnet_id.clone(),
                    }
                    .into());
                }
                take_private_address(conn, &placement.subnet, &interface_id, Some(addr), false)?;
            }
            for _ in 0..secondary_count.unwrap_or(0).max(0) {
                take_private_address(conn, &placement.subnet, &interface_id, None, false)?;
            }
            rows::set_interface_groups(conn, &interface_id, &placement.group_ids)?;
            crate::store::tags::put(
                conn,
                &crate::engine::tags::rows_for(
                    &account,
                    Kind::NetworkInterface,
                    &interface_id,
                    &tags,
                ),
            )?;
            let net = AccountNetwork::load(conn, &account, &region)?;
            Ok(net.interface_view(&region, &row))
        })
        .await
    }

    /// DeleteNetworkInterface: only a detached one; an Elastic IP on it is disassociated.
    pub async fn delete_network_interface(
        &self,
        account_id: &str,
        interface_id: &str,
    ) -> Result<(), EngineError> {
        let interface_id = interface_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let eni = owned_interface(net, &interface_id)?;
            if eni.instance_id.is_some() {
                return Err(NetworkFault::InterfaceInUse(interface_id.clone()).into());
            }
            rows::delete_interface(conn, &eni.interface_id)?;
            crate::store::tags::delete_everyones(conn, &eni.interface_id)?;
            Ok(())
        })
        .await
    }

    /// AttachNetworkInterface: to a running or stopped instance of the same VPC and zone, at a
    /// free device index; the reconciler plugs it (`attaching`, then `attached`).
    pub async fn attach_network_interface(
        &self,
        account_id: &str,
        interface_id: &str,
        instance_id: &str,
        device_index: i32,
    ) -> Result<String, EngineError> {
        if !(0..=MAX_DEVICE_INDEX).contains(&device_index) {
            return Err(EngineError::InvalidParameterValue(format!(
                "Value ({device_index}) for parameter deviceIndex is invalid. Device index must be between 0 and {MAX_DEVICE_INDEX}."
            )));
        }
        let account = account_id.to_owned();
        let interface_id = interface_id.to_owned();
        let instance_id = instance_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let eni = owned_interface(net, &interface_id)?;
            ids::check_well_formed(Kind::Instance, std::slice::from_ref(&instance_id))?;
            let instance = crate::store::instances::find(conn, &instance_id)?
                .filter(|i| i.account_id == account && i.state != InstanceState::Terminated)
                .ok_or_else(|| EngineError::NotFound {
                    kind: Kind::Instance,
                    ids: vec![instance_id.clone()],
                })?;
            if !matches!(instance.state, InstanceState::Running | InstanceState::Stopped) {
                return Err(EngineError::IncorrectInstanceState(format!(
                    "Instance '{instance_id}' is not 'running' or 'stopped'."
                )));
            }
            if eni.instance_id.is_some() {
                return Err(NetworkFault::InterfaceInUse(interface_id.clone()).into());
            }
            if instance.availability_zone != eni.availability_zone {
                return Err(EngineError::InvalidParameterValue(format!(
                    "The instance '{instance_id}' and the network interface '{interface_id}' are in different availability zones."
                )));
            }
            let mine = rows::interfaces_of_instances(conn, std::slice::from_ref(&instance_id))?;
            if mine.first().is_some_and(|p| p.vpc_id != eni.vpc_id) {
                return Err(EngineError::InvalidParameterValue(format!(
                    "The instance '{instance_id}' and the network interface '{interface_id}' are in different VPCs."
                )));
            }
            if mine.iter().any(|i| i.device_index == Some(device_index)) {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Instance '{instance_id}' already has an interface attached at device index '{device_index}'."
                )));
            }
            let attachment_id = ids::new_id(Kind::InterfaceAttachment);
            rows::update_interface(
                conn,
                &InterfaceRow {
                    instance_id: Some(instance_id.clone()),
                    device_index: Some(device_index),
                    attachment_id: Some(attachment_id.clone()),
                    attach_time: Some(crate::engine::timestamp_now()),
                    attachment_status: Some(ATTACHING.into()),
                    delete_on_termination: false,
                    ..eni
                },
            )?;
            Ok(attachment_id)
        })
        .await
    }

    /// DetachNetworkInterface: not the primary interface; the reconciler unplugs it
    /// (`detaching`, then detached and `available`).
    pub async fn detach_network_interface(
        &self,
        account_id: &str,
        attachment_id: &str,
    ) -> Result<(), EngineError> {
        let attachment_id = attachment_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            ids::check_well_formed(
                Kind::InterfaceAttachment,
                std::slice::from_ref(&attachment_id),
            )?;
            let eni = net
                .interfaces
                .iter()
                .find(|i| i.attachment_id.as_deref() == Some(&attachment_id))
                .cloned()
                .ok_or_else(|| EngineError::NotFound {
                    kind: Kind::InterfaceAttachment,
                    ids: vec![attachment_id.clone()],
                })?;
            if eni.device_index == Some(0) {
                return Err(EngineError::OperationNotPermitted(
                    "The network interface at device index 0 cannot be detached.".into(),
                ));
            }
            if eni.attachment_status.as_deref() == Some(DETACHING) {
                return Ok(());
            }
            rows::update_interface(
                conn,
                &InterfaceRow {
                    attachment_status: Some(DETACHING.into()),
                    ..eni
                },
            )?;
            Ok(())
        })
        .await
    }

    /// DescribeNetworkInterfaceAttribute: the interface, for the one attribute asked.
    pub async fn network_interface(
        &self,
        account_id: &str,
        interface_id: &str,
    ) -> Result<super::NetworkInterface, EngineError> {
        let net = self.account_network(account_id).await?;
        let eni = owned_interface(&net, interface_id)?;
        Ok(net.interface_view(&self.settings().region, &eni))
    }

    /// ModifyNetworkInterfaceAttribute.
    pub async fn modify_network_interface(
        &self,
        account_id: &str,
        interface_id: &str,
        change: InterfaceChange,
    ) -> Result<(), EngineError> {
        let given = [
            change.description.is_some(),
            change.source_dest_check.is_some(),
            !change.group_ids.is_empty(),
            change.delete_on_termination.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(EngineError::InvalidParameterCombination(
                "Exactly one of description, sourceDestCheck, groupSet or attachment must be specified.".into(),
            ));
        }
        let interface_id = interface_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let mut eni = owned_interface(net, &interface_id)?;
            if let Some(d) = change.description {
                eni.description = d;
            }
            if let Some(v) = change.source_dest_check {
                eni.source_dest_check = v;
            }
            if let Some((attachment_id, v)) = change.delete_on_termination {
                if eni.attachment_id.as_deref() != Some(&attachment_id) {
                    return Err(EngineError::NotFound {
                        kind: Kind::InterfaceAttachment,
                        ids: vec![attachment_id],
                    });
                }
                eni.delete_on_termination = v;
            }
            if !change.group_ids.is_empty() {
                let groups = vpc_groups(net, &eni.vpc_id, &change.group_ids)?;
                rows::set_interface_groups(conn, &eni.interface_id, &groups)?;
                // The primary interface's groups are the instance's.
                if let (Some(instance_id), Some(0)) = (&eni.instance_id, eni.device_index) {
                    crate::store::instances::set_groups(conn, instance_id, &groups)?;
                }
            }
            rows::update_interface(conn, &eni)?;
            Ok(())
        })
        .await
    }

    /// AssignPrivateIpAddresses: secondary addresses, as named or the lowest free.
    pub async fn assign_private_ips(
        &self,
        account_id: &str,
        interface_id: &str,
        addresses: Vec<String>,
        count: Option<i32>,
    ) -> Result<Vec<String>, EngineError> {
        if addresses.is_empty() == count.is_none() {
            return Err(EngineError::InvalidParameterCombination(
                "Exactly one of privateIpAddresses or secondaryPrivateIpAddressCount must be specified.".into(),
            ));
        }
        let interface_id = interface_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let eni = owned_interface(net, &interface_id)?;
            let subnet = net
                .subnet(&eni.subnet_id)
                .cloned()
                .ok_or_else(|| EngineError::Io(format!("no subnet {}", eni.subnet_id)))?;
            let cidr = Cidr::parse(&subnet.cidr_block).ok_or_else(|| {
                EngineError::Io(format!("subnet {} has no block", subnet.subnet_id))
            })?;
            let mut assigned = Vec::new();
            for text in &addresses {
                let addr: Ipv4Addr = text.parse().map_err(|_| {
                    EngineError::InvalidParameterValue(format!("Invalid IPv4 address: {text}"))
                })?;
                if !cidr.assignable(addr) {
                    return Err(NetworkFault::AddressOutsideSubnet {
                        address: text.clone(),
                        subnet_id: subnet.subnet_id.clone(),
                    }
                    .into());
                }
                assigned.push(take_private_address(
                    conn,
                    &subnet,
                    &interface_id,
                    Some(addr),
                    false,
                )?);
            }
            for _ in 0..count.unwrap_or(0).max(0) {
                assigned.push(take_private_address(
                    conn,
                    &subnet,
                    &interface_id,
                    None,
                    false,
                )?);
            }
            Ok(assigned)
        })
        .await
    }

    /// UnassignPrivateIpAddresses: secondary addresses only; a public address mapped to one
    /// goes with it (an Elastic IP is disassociated).
    pub async fn unassign_private_ips(
        &self,
        account_id: &str,
        interface_id: &str,
        addresses: Vec<String>,
    ) -> Result<(), EngineError> {
        let interface_id = interface_id.to_owned();
        self.change_network(account_id, move |_, conn, net| {
            let eni = owned_interface(net, &interface_id)?;
            let mine = net.addresses_of(&eni.interface_id);
            for text in &addresses {
                match mine.iter().find(|a| &a.private_ip == text) {
                    Some(a) if a.is_primary => {
                        return Err(EngineError::InvalidParameterValue(format!(
                            "The primary private address {text} of {interface_id} cannot be unassigned."
                        )))
                    }
                    Some(_) => {}
                    None => {
                        return Err(NetworkFault::NotInterfaceAddress {
                            interface_id: interface_id.clone(),
                            address: text.clone(),
                        }
                        .into())
                    }
                }
            }
            for text in &addresses {
                if let Some(public) = net.public_of(&eni.interface_id, text) {
                    if public.allocation_id.is_none() {
                        rows::delete_public(conn, &public.public_ip)?;
                    } else {
                        rows::update_public(
                            conn,
                            &PublicAddressRow {
                                association_id: None,
                                interface_id: None,
                                private_ip: None,
                                ..public.clone()
                            },
                        )?;
                    }
                }
                rows::delete_address(conn, &eni.interface_id, text)?;
            }
            Ok(())
        })
        .await
    }
}
