//! Network interfaces: where RunInstances puts an instance (subnet, groups, addresses) and the
//! primary interface it makes for it; private addresses of a subnet.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use rand::Rng;

use super::actions::{take_public_address, NetworkFault};
use super::AccountNetwork;
use crate::cidr::Cidr;
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
