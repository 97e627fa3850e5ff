//! VPC networking: VPCs, subnets, internet gateways, route tables, network interfaces and
//! public addresses, as rows (`store::network`); the host network the reconciler builds from
//! them is in `host`. An account's networking is small (EC2's limits keep it so): a call loads
//! the account's rows whole and filters in memory.

pub mod actions;
pub mod default_vpc;
pub mod host;
pub mod interfaces;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::ids::Kind;
use super::paging::Page;
use super::tags::{tag_sets, Tag};
use super::{Engine, EngineError, Settings};
use crate::cidr::Cidr;
use crate::filter::{any_match, first_unknown, Filter};
use crate::store::network::{
    self as rows, AssociationRow, GatewayRow, GroupRow, InterfaceAddressRow, InterfaceRow,
    PublicAddressRow, RouteRow, RouteTableRow, SubnetRow, VpcRow,
};
use crate::store::DbConnection;

pub use default_vpc::{derived_id, DEFAULT_GROUP_DESCRIPTION, DEFAULT_GROUP_NAME, VPC_CIDR};

/// Everything of one account's networking.
#[derive(Debug, Clone, Default)]
pub struct AccountNetwork {
    /// The gateway's region (private DNS names depend on it).
    pub region: String,
    pub vpcs: Vec<VpcRow>,
    pub subnets: Vec<SubnetRow>,
    pub gateways: Vec<GatewayRow>,
    pub route_tables: Vec<RouteTableRow>,
    pub routes: Vec<RouteRow>,
    pub associations: Vec<AssociationRow>,
    pub groups: Vec<GroupRow>,
    pub interfaces: Vec<InterfaceRow>,
    pub addresses: Vec<InterfaceAddressRow>,
    pub interface_groups: Vec<(String, String)>,
    pub publics: Vec<PublicAddressRow>,
    pub tags: HashMap<String, Vec<Tag>>,
}

impl AccountNetwork {
    pub fn load(
        conn: &mut DbConnection,
        account_id: &str,
        region: &str,
    ) -> Result<Self, EngineError> {
        let vpcs = rows::vpcs_of(conn, account_id)?;
        let subnets = rows::subnets_of(conn, account_id)?;
        let gateways = rows::gateways_of(conn, account_id)?;
        let route_tables = rows::route_tables_of(conn, account_id)?;
        let table_ids: Vec<String> = route_tables
            .iter()
            .map(|t| t.route_table_id.clone())
            .collect();
        let routes = rows::routes_of(conn, &table_ids)?;
        let associations = rows::associations_of(conn, &table_ids)?;
        let groups = rows::groups_of(conn, account_id)?;
        let interfaces = rows::interfaces_of(conn, account_id)?;
        let interface_ids: Vec<String> =
            interfaces.iter().map(|i| i.interface_id.clone()).collect();
        let addresses = rows::addresses_of(conn, &interface_ids)?;
        let interface_groups = rows::groups_of_interfaces(conn, &interface_ids)?;
        let publics = rows::publics_of(conn, account_id)?;
        let mut ids: Vec<String> = Vec::new();
        ids.extend(vpcs.iter().map(|v| v.vpc_id.clone()));
        ids.extend(subnets.iter().map(|s| s.subnet_id.clone()));
        ids.extend(gateways.iter().map(|g| g.gateway_id.clone()));
        ids.extend(table_ids);
        ids.extend(groups.iter().map(|g| g.group_id.clone()));
        ids.extend(interface_ids);
        ids.extend(publics.iter().filter_map(|p| p.allocation_id.clone()));
        let tags = tag_sets(conn, account_id, &ids)?;
        Ok(AccountNetwork {
            region: region.to_owned(),
            vpcs,
            subnets,
            gateways,
            route_tables,
            routes,
            associations,
            groups,
            interfaces,
            addresses,
            interface_groups,
            publics,
            tags,
        })
    }

    pub fn tags_of(&self, id: &str) -> Vec<Tag> {
        self.tags.get(id).cloned().unwrap_or_default()
    }

    pub fn vpc(&self, vpc_id: &str) -> Option<&VpcRow> {
        self.vpcs.iter().find(|v| v.vpc_id == vpc_id)
    }

    pub fn subnet(&self, subnet_id: &str) -> Option<&SubnetRow> {
        self.subnets.iter().find(|s| s.subnet_id == subnet_id)
    }

    pub fn group(&self, group_id: &str) -> Option<&GroupRow> {
        self.groups.iter().find(|g| g.group_id == group_id)
    }

    pub fn default_vpc(&self) -> Option<&VpcRow> {
        self.vpcs.iter().find(|v| v.is_default)
    }

    /// The route table a subnet uses: its explicit association, else its VPC's main table.
    pub fn table_of_subnet(&self, subnet: &SubnetRow) -> Option<&RouteTableRow> {
        let explicit = self
            .associations
            .iter()
            .find(|a| a.subnet_id == subnet.subnet_id)
            .map(|a| a.route_table_id.as_str());
        self.route_tables.iter().find(|t| match explicit {
            Some(id) => t.route_table_id == id,
            None => t.vpc_id == subnet.vpc_id && t.main_association_id.is_some(),
        })
    }

    /// Whether a route's target is there: `blackhole` otherwise.
    pub fn route_active(&self, table: &RouteTableRow, route: &RouteRow) -> bool {
        match (&route.gateway_id, &route.network_interface_id) {
            (Some(g), _) if g == "local" => true,
            (Some(g), _) => self
                .gateways
                .iter()
                .any(|gw| &gw.gateway_id == g && gw.vpc_id.as_deref() == Some(&table.vpc_id)),
            (None, Some(eni)) => self.interfaces.iter().any(|i| &i.interface_id == eni),
            (None, None) => false,
        }
    }

    /// Whether a subnet's traffic to the internet goes through its VPC's attached gateway (its
    /// route table sends 0.0.0.0/0 there): public addresses work only then, as on EC2.
    pub fn subnet_is_public(&self, subnet: &SubnetRow) -> bool {
        let Some(table) = self.table_of_subnet(subnet) else {
            return false;
        };
        self.routes.iter().any(|r| {
            r.route_table_id == table.route_table_id
                && r.destination == "0.0.0.0/0"
                && r.gateway_id
                    .as_deref()
                    .is_some_and(|g| g.starts_with("igw-"))
                && self.route_active(table, r)
        })
    }

    pub fn interface_groups_of(&self, interface_id: &str) -> Vec<&GroupRow> {
        self.interface_groups
            .iter()
            .filter(|(i, _)| i == interface_id)
            .filter_map(|(_, g)| self.group(g))
            .collect()
    }

    pub fn addresses_of(&self, interface_id: &str) -> Vec<&InterfaceAddressRow> {
        self.addresses
            .iter()
            .filter(|a| a.interface_id == interface_id)
            .collect()
    }

    pub fn public_of(&self, interface_id: &str, private_ip: &str) -> Option<&PublicAddressRow> {
        self.publics.iter().find(|p| {
            p.interface_id.as_deref() == Some(interface_id)
                && p.private_ip.as_deref() == Some(private_ip)
        })
    }

    /// How many addresses a subnet has left for instances.
    pub fn free_in(&self, subnet: &SubnetRow) -> i64 {
        let total = Cidr::parse(&subnet.cidr_block).map_or(0, |c| c.assignable_count());
        let used = self
            .addresses
            .iter()
            .filter(|a| a.subnet_id == subnet.subnet_id)
            .count();
        i64::try_from(total).unwrap_or(i64::MAX) - i64::try_from(used).unwrap_or(0)
    }
}

/// The private DNS name EC2 gives an address: `ip-10-0-1-5.ec2.internal` in us-east-1,
/// `ip-10-0-1-5.REGION.compute.internal` elsewhere.
pub fn private_dns_name(region: &str, ip: &str) -> String {
    format!("{}.{}", host_name(ip), dns_domain(region))
}

pub fn host_name(ip: &str) -> String {
    format!("ip-{}", ip.replace('.', "-"))
}

pub fn dns_domain(region: &str) -> String {
    if region == "us-east-1" {
        "ec2.internal".to_owned()
    } else {
        format!("{region}.compute.internal")
    }
}

/// The address of the VPC's DNS server: its block's base +2.
pub fn dns_address(cidr: &Cidr) -> Option<Ipv4Addr> {
    cidr.nth(2)
}

pub fn arn(settings: &Settings, account_id: &str, kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:{}:{account_id}:{kind}/{id}", settings.region)
}

pub(crate) fn check_filters(filters: &[Filter], known: &[&str]) -> Result<(), EngineError> {
    let plain: Vec<Filter> = filters
        .iter()
        .filter(|f| !f.name.starts_with("tag:"))
        .cloned()
        .collect();
    match first_unknown(&plain, known) {
        Some(name) => Err(EngineError::UnknownFilter(name.to_owned())),
        None => Ok(()),
    }
}

/// Whether a resource's values for each filter (tags answering `tag:*` and `tag-key`) match.
pub(crate) fn matches(
    filters: &[Filter],
    tags: &[Tag],
    values: impl Fn(&str) -> Vec<String>,
) -> bool {
    filters.iter().all(|f| {
        let found: Vec<String> = match f.name.strip_prefix("tag:") {
            Some(key) => tags
                .iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.clone())
                .collect(),
            None if f.name == "tag-key" => tags.iter().map(|t| t.key.clone()).collect(),
            None if f.name == "tag-value" => tags.iter().map(|t| t.value.clone()).collect(),
            None => values(&f.name),
        };
        let found: Vec<&str> = found.iter().map(String::as_str).collect();
        any_match(&f.values, &found)
    })
}

pub(crate) fn bool_text(b: bool) -> String {
    if b { "true" } else { "false" }.to_owned()
}

/// Only the resources asked for by id (all of them, or NotFound naming the missing).
pub(crate) fn by_ids<T>(
    all: Vec<T>,
    wanted: &[String],
    kind: Kind,
    id: impl Fn(&T) -> &str,
) -> Result<Vec<T>, EngineError> {
    if wanted.is_empty() {
        return Ok(all);
    }
    super::ids::check_well_formed(kind, wanted)?;
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !all.iter().any(|r| id(r) == w.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(EngineError::NotFound { kind, ids: missing });
    }
    Ok(all
        .into_iter()
        .filter(|r| wanted.iter().any(|w| w == id(r)))
        .collect())
}

/// A VPC with what DescribeVpcs shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub row: VpcRow,
    pub dhcp_options_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub row: SubnetRow,
    pub arn: String,
    pub zone_id: String,
    pub available_addresses: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub row: GroupRow,
    pub arn: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternetGateway {
    pub row: GatewayRow,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub row: RouteTableRow,
    pub routes: Vec<(RouteRow, bool)>,
    pub associations: Vec<AssociationRow>,
    pub tags: Vec<Tag>,
}

/// A public address: an Elastic IP (with an allocation id) or one given at launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub row: PublicAddressRow,
    pub instance_id: Option<String>,
    pub subnet_id: Option<String>,
    pub tags: Vec<Tag>,
}

/// A network interface with its addresses (primary first), groups and public addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInterface {
    pub row: InterfaceRow,
    pub private_ips: Vec<PrivateIp>,
    pub groups: Vec<(String, String)>,
    pub private_dns_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateIp {
    pub address: String,
    pub primary: bool,
    pub private_dns_name: String,
    /// The public address mapped to it, and the Elastic IP's allocation and association.
    pub public: Option<PublicAddressRow>,
}

impl NetworkInterface {
    pub fn private_ip(&self) -> Option<&str> {
        self.private_ips.first().map(|p| p.address.as_str())
    }

    pub fn public_ip(&self) -> Option<&str> {
        self.private_ips
            .first()
            .and_then(|p| p.public.as_ref())
            .map(|p| p.public_ip.as_str())
    }

    pub fn status(&self) -> &'static str {
        if self.row.instance_id.is_some() {
            "in-use"
        } else {
            "available"
        }
    }
}

impl AccountNetwork {
    pub fn interface_view(&self, region: &str, row: &InterfaceRow) -> NetworkInterface {
        let private_ips: Vec<PrivateIp> = self
            .addresses_of(&row.interface_id)
            .into_iter()
            .map(|a| PrivateIp {
                address: a.private_ip.clone(),
                primary: a.is_primary,
                private_dns_name: private_dns_name(region, &a.private_ip),
                public: self.public_of(&row.interface_id, &a.private_ip).cloned(),
            })
            .collect();
        NetworkInterface {
            private_dns_name: private_ips
                .first()
                .map(|p| p.private_dns_name.clone())
                .unwrap_or_default(),
            private_ips,
            groups: self
                .interface_groups_of(&row.interface_id)
                .into_iter()
                .map(|g| (g.group_id.clone(), g.group_name.clone()))
                .collect(),
            tags: self.tags_of(&row.interface_id),
            row: row.clone(),
        }
    }
}

const VPC_FILTERS: &[&str] = &[
    "cidr",
    "cidr-block",
    "cidrBlock",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.ipv6-pool",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "is-default",
    "isDefault",
    "owner-id",
    "state",
    "tag-key",
    "vpc-id",
];

const SUBNET_FILTERS: &[&str] = &[
    "availability-zone",
    "availabilityZone",
    "availability-zone-id",
    "availabilityZoneId",
    "available-ip-address-count",
    "cidr",
    "cidr-block",
    "cidrBlock",
    "customer-owned-ipv4-pool",
    "default-for-az",
    "defaultForAz",
    "enable-dns64",
    "ipv6-cidr-block-association.ipv6-cidr-block",
    "ipv6-cidr-block-association.association-id",
    "ipv6-cidr-block-association.state",
    "ipv6-native",
    "map-customer-owned-ip-on-launch",
    "map-public-ip-on-launch",
    "outpost-arn",
    "owner-id",
    "state",
    "subnet-arn",
    "subnet-id",
    "tag-key",
    "vpc-id",
];

const GROUP_FILTERS: &[&str] = &[
    "description",
    "egress.ip-permission.cidr",
    "egress.ip-permission.from-port",
    "egress.ip-permission.group-id",
    "egress.ip-permission.group-name",
    "egress.ip-permission.ipv6-cidr",
    "egress.ip-permission.prefix-list-id",
    "egress.ip-permission.protocol",
    "egress.ip-permission.to-port",
    "egress.ip-permission.user-id",
    "group-id",
    "group-name",
    "ip-permission.cidr",
    "ip-permission.from-port",
    "ip-permission.group-id",
    "ip-permission.group-name",
    "ip-permission.ipv6-cidr",
    "ip-permission.prefix-list-id",
    "ip-permission.protocol",
    "ip-permission.to-port",
    "ip-permission.user-id",
    "owner-id",
    "tag-key",
    "vpc-id",
];

const GATEWAY_FILTERS: &[&str] = &[
    "attachment.state",
    "attachment.vpc-id",
    "internet-gateway-id",
    "owner-id",
    "tag-key",
];

const ROUTE_TABLE_FILTERS: &[&str] = &[
    "association.gateway-id",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "association.main",
    "owner-id",
    "route-table-id",
    "route.destination-cidr-block",
    "route.gateway-id",
    "route.instance-id",
    "route.network-interface-id",
    "route.origin",
    "route.state",
    "tag-key",
    "vpc-id",
];

const ADDRESS_FILTERS: &[&str] = &[
    "allocation-id",
    "association-id",
    "domain",
    "instance-id",
    "network-border-group",
    "network-interface-id",
    "network-interface-owner-id",
    "private-ip-address",
    "public-ip",
    "public-ipv4-pool",
    "tag-key",
];

const INTERFACE_FILTERS: &[&str] = &[
    "addresses.private-ip-address",
    "addresses.primary",
    "addresses.association.public-ip",
    "association.allocation-id",
    "association.association-id",
    "association.public-ip",
    "attachment.attachment-id",
    "attachment.instance-id",
    "attachment.device-index",
    "attachment.status",
    "attachment.delete-on-termination",
    "availability-zone",
    "description",
    "group-id",
    "group-name",
    "interface-type",
    "mac-address",
    "network-interface-id",
    "owner-id",
    "private-ip-address",
    "private-dns-name",
    "source-dest-check",
    "status",
    "subnet-id",
    "vpc-id",
    "tag-key",
];

fn vpc_values(v: &Vpc, filter: &str) -> Vec<String> {
    let r = &v.row;
    match filter {
        "cidr" | "cidr-block" | "cidrBlock" | "cidr-block-association.cidr-block" => {
            vec![r.cidr_block.clone()]
        }
        "cidr-block-association.association-id" => vec![r.cidr_association_id.clone()],
        "cidr-block-association.state" => vec!["associated".into()],
        "dhcp-options-id" => vec![v.dhcp_options_id.clone()],
        "is-default" | "isDefault" => vec![bool_text(r.is_default)],
        "owner-id" => vec![r.account_id.clone()],
        "state" => vec![r.state.clone()],
        "vpc-id" => vec![r.vpc_id.clone()],
        // No IPv6 here: those filters match nothing.
        _ => Vec::new(),
    }
}

fn subnet_values(s: &Subnet, filter: &str) -> Vec<String> {
    let r = &s.row;
    match filter {
        "availability-zone" | "availabilityZone" => vec![r.availability_zone.clone()],
        "availability-zone-id" | "availabilityZoneId" => vec![s.zone_id.clone()],
        "available-ip-address-count" => vec![s.available_addresses.to_string()],
        "cidr" | "cidr-block" | "cidrBlock" => vec![r.cidr_block.clone()],
        "default-for-az" | "defaultForAz" => vec![bool_text(r.default_for_az)],
        "map-public-ip-on-launch" => vec![bool_text(r.map_public_ip_on_launch)],
        "enable-dns64" | "ipv6-native" | "map-customer-owned-ip-on-launch" => {
            vec![bool_text(false)]
        }
        "owner-id" => vec![r.account_id.clone()],
        "state" => vec![r.state.clone()],
        "subnet-arn" => vec![s.arn.clone()],
        "subnet-id" => vec![r.subnet_id.clone()],
        "vpc-id" => vec![r.vpc_id.clone()],
        _ => Vec::new(),
    }
}

fn group_values(g: &SecurityGroup, filter: &str) -> Vec<String> {
    let r = &g.row;
    match filter {
        "description" => vec![r.description.clone()],
        "group-id" => vec![r.group_id.clone()],
        "group-name" => vec![r.group_name.clone()],
        "owner-id" => vec![r.account_id.clone()],
        "vpc-id" => vec![r.vpc_id.clone()],
        // The default rules: all traffic in from the group itself, all traffic out.
        "ip-permission.protocol" | "egress.ip-permission.protocol" => vec!["-1".into()],
        "ip-permission.group-id" => vec![r.group_id.clone()],
        "ip-permission.group-name" => vec![r.group_name.clone()],
        "ip-permission.user-id" => vec![r.account_id.clone()],
        "egress.ip-permission.cidr" => vec!["0.0.0.0/0".into()],
        _ => Vec::new(),
    }
}

fn gateway_values(g: &InternetGateway, filter: &str) -> Vec<String> {
    match filter {
        "attachment.state" => g.row.vpc_id.iter().map(|_| "available".into()).collect(),
        "attachment.vpc-id" => g.row.vpc_id.iter().cloned().collect(),
        "internet-gateway-id" => vec![g.row.gateway_id.clone()],
        "owner-id" => vec![g.row.account_id.clone()],
        _ => Vec::new(),
    }
}

fn route_table_values(t: &RouteTable, filter: &str) -> Vec<String> {
    let main = t.row.main_association_id.iter();
    let assocs = t.associations.iter();
    let routes = t.routes.iter().map(|(r, _)| r);
    match filter {
        "association.route-table-association-id" => main
            .cloned()
            .chain(assocs.map(|a| a.association_id.clone()))
            .collect(),
        "association.route-table-id" => {
            if t.row.main_association_id.is_some() || !t.associations.is_empty() {
                vec![t.row.route_table_id.clone()]
            } else {
                Vec::new()
            }
        }
        "association.subnet-id" => assocs.map(|a| a.subnet_id.clone()).collect(),
        "association.main" => {
            let mut v = Vec::new();
            if t.row.main_association_id.is_some() {
                v.push(bool_text(true));
            }
            if !t.associations.is_empty() {
                v.push(bool_text(false));
            }
            v
        }
        "owner-id" => vec![t.row.account_id.clone()],
        "route-table-id" => vec![t.row.route_table_id.clone()],
        "vpc-id" => vec![t.row.vpc_id.clone()],
        "route.destination-cidr-block" => routes.map(|r| r.destination.clone()).collect(),
        "route.gateway-id" => routes.filter_map(|r| r.gateway_id.clone()).collect(),
        "route.instance-id" => routes.filter_map(|r| r.instance_id.clone()).collect(),
        "route.network-interface-id" => routes
            .filter_map(|r| r.network_interface_id.clone())
            .collect(),
        "route.origin" => routes.map(|r| r.origin.clone()).collect(),
        "route.state" => t
            .routes
            .iter()
            .map(|(_, active)| if *active { "active" } else { "blackhole" }.into())
            .collect(),
        _ => Vec::new(),
    }
}

fn address_values(a: &Address, filter: &str) -> Vec<String> {
    let r = &a.row;
    match filter {
        "allocation-id" => r.allocation_id.iter().cloned().collect(),
        "association-id" => r.association_id.iter().cloned().collect(),
        "domain" => vec!["vpc".into()],
        "instance-id" => a.instance_id.iter().cloned().collect(),
        "network-interface-id" => r.interface_id.iter().cloned().collect(),
        "network-interface-owner-id" => r
            .interface_id
            .iter()
            .map(|_| r.account_id.clone())
            .collect(),
        "private-ip-address" => r.private_ip.iter().cloned().collect(),
        "public-ip" => vec![r.public_ip.clone()],
        "public-ipv4-pool" => vec!["amazon".into()],
        _ => Vec::new(),
    }
}

fn interface_values(i: &NetworkInterface, filter: &str) -> Vec<String> {
    let r = &i.row;
    let publics = || i.private_ips.iter().filter_map(|p| p.public.as_ref());
    match filter {
        "addresses.private-ip-address" => i.private_ips.iter().map(|p| p.address.clone()).collect(),
        "addresses.primary" => i.private_ips.iter().map(|p| bool_text(p.primary)).collect(),
        "addresses.association.public-ip" | "association.public-ip" => {
            publics().map(|p| p.public_ip.clone()).collect()
        }
        "association.allocation-id" => publics().filter_map(|p| p.allocation_id.clone()).collect(),
        "association.association-id" => {
            publics().filter_map(|p| p.association_id.clone()).collect()
        }
        "attachment.attachment-id" => r.attachment_id.iter().cloned().collect(),
        "attachment.instance-id" => r.instance_id.iter().cloned().collect(),
        "attachment.device-index" => r.device_index.iter().map(|d| d.to_string()).collect(),
        "attachment.status" => r.attachment_status.iter().cloned().collect(),
        "attachment.delete-on-termination" => r
            .instance_id
            .iter()
            .map(|_| bool_text(r.delete_on_termination))
            .collect(),
        "availability-zone" => vec![r.availability_zone.clone()],
        "description" => vec![r.description.clone()],
        "group-id" => i.groups.iter().map(|(id, _)| id.clone()).collect(),
        "group-name" => i.groups.iter().map(|(_, name)| name.clone()).collect(),
        "interface-type" => vec![r.interface_type.clone()],
        "mac-address" => vec![r.mac_address.clone()],
        "network-interface-id" => vec![r.interface_id.clone()],
        "owner-id" => vec![r.account_id.clone()],
        "private-ip-address" => i.private_ip().iter().map(|s| s.to_string()).collect(),
        "private-dns-name" => vec![i.private_dns_name.clone()],
        "source-dest-check" => vec![bool_text(r.source_dest_check)],
        "status" => vec![i.status().into()],
        "subnet-id" => vec![r.subnet_id.clone()],
        "vpc-id" => vec![r.vpc_id.clone()],
        _ => Vec::new(),
    }
}

/// A VPC's default network ACL: EC2's, allowing everything both ways (rule 100) before the
/// final deny (32767); read-only here, and associated with every subnet of the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAcl {
    pub acl_id: String,
    pub vpc_id: String,
    pub owner_id: String,
    /// (association id, subnet id)
    pub associations: Vec<(String, String)>,
    pub tags: Vec<Tag>,
}

/// The account's DHCP options set, which every VPC uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpOptions {
    pub options_id: String,
    pub owner_id: String,
    /// (key, values), as EC2 lists them.
    pub configurations: Vec<(String, Vec<String>)>,
    pub tags: Vec<Tag>,
}

const ACL_FILTERS: &[&str] = &[
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "default",
    "entry.cidr",
    "entry.egress",
    "entry.protocol",
    "entry.rule-action",
    "entry.rule-number",
    "network-acl-id",
    "owner-id",
    "vpc-id",
    "tag-key",
];

const DHCP_FILTERS: &[&str] = &["dhcp-options-id", "key", "value", "owner-id", "tag-key"];

fn acl_values(a: &NetworkAcl, filter: &str) -> Vec<String> {
    match filter {
        "association.association-id" => a.associations.iter().map(|(id, _)| id.clone()).collect(),
        "association.network-acl-id" => {
            if a.associations.is_empty() {
                Vec::new()
            } else {
                vec![a.acl_id.clone()]
            }
        }
        "association.subnet-id" => a.associations.iter().map(|(_, s)| s.clone()).collect(),
        "default" => vec![bool_text(true)],
        "entry.cidr" => vec!["0.0.0.0/0".into()],
        "entry.egress" => vec![bool_text(true), bool_text(false)],
        "entry.protocol" => vec!["-1".into()],
        "entry.rule-action" => vec!["allow".into(), "deny".into()],
        "entry.rule-number" => vec!["100".into(), "32767".into()],
        "network-acl-id" => vec![a.acl_id.clone()],
        "owner-id" => vec![a.owner_id.clone()],
        "vpc-id" => vec![a.vpc_id.clone()],
        _ => Vec::new(),
    }
}

fn dhcp_values(d: &DhcpOptions, filter: &str) -> Vec<String> {
    match filter {
        "dhcp-options-id" => vec![d.options_id.clone()],
        "key" => d.configurations.iter().map(|(k, _)| k.clone()).collect(),
        "value" => d
            .configurations
            .iter()
            .flat_map(|(_, v)| v.clone())
            .collect(),
        "owner-id" => vec![d.owner_id.clone()],
        _ => Vec::new(),
    }
}

const ENDPOINT_FILTERS: &[&str] = &[
    "ip-address-type",
    "service-name",
    "service-region",
    "tag-key",
    "vpc-id",
    "vpc-endpoint-id",
    "vpc-endpoint-state",
    "vpc-endpoint-type",
];

impl Engine {
    /// DescribeVpcEndpoints: the filters and ids checked; no endpoint exists (none can be made).
    pub async fn describe_vpc_endpoints(
        &self,
        account_id: &str,
        endpoint_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(), EngineError> {
        check_filters(filters, ENDPOINT_FILTERS)?;
        self.pager()
            .start(&format!("DescribeVpcEndpoints/{account_id}"), page)?;
        match endpoint_ids.first() {
            Some(id) => Err(EngineError::VpcEndpointNotFound(id.clone())),
            None => Ok(()),
        }
    }

    /// DescribeNetworkAcls: each VPC's default ACL.
    pub async fn describe_network_acls(
        &self,
        account_id: &str,
        acl_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<NetworkAcl>, Option<String>), EngineError> {
        check_filters(filters, ACL_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all = net
            .vpcs
            .iter()
            .map(|v| {
                let acl_id = derived_id("acl", account_id, &v.vpc_id);
                NetworkAcl {
                    associations: net
                        .subnets
                        .iter()
                        .filter(|s| s.vpc_id == v.vpc_id)
                        .map(|s| {
                            (
                                derived_id("aclassoc", account_id, &s.subnet_id),
                                s.subnet_id.clone(),
                            )
                        })
                        .collect(),
                    tags: net.tags_of(&acl_id),
                    acl_id,
                    vpc_id: v.vpc_id.clone(),
                    owner_id: account_id.to_owned(),
                }
            })
            .collect();
        let found = by_ids(all, acl_ids, Kind::NetworkAcl, |a| &a.acl_id)?
            .into_iter()
            .filter(|a| matches(filters, &a.tags, |f| acl_values(a, f)))
            .collect();
        self.page_of(
            &format!("DescribeNetworkAcls/{account_id}"),
            page,
            found,
            |a| &a.acl_id,
        )
    }

    /// DescribeDhcpOptions: the account's one options set.
    pub async fn describe_dhcp_options(
        &self,
        account_id: &str,
        options_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<DhcpOptions>, Option<String>), EngineError> {
        check_filters(filters, DHCP_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let options_id = derived_id("dopt", account_id, "dhcp options");
        let all = vec![DhcpOptions {
            configurations: vec![
                (
                    "domain-name".into(),
                    vec![dns_domain(&self.settings().region)],
                ),
                (
                    "domain-name-servers".into(),
                    vec!["AmazonProvidedDNS".into()],
                ),
            ],
            tags: net.tags_of(&options_id),
            options_id,
            owner_id: account_id.to_owned(),
        }];
        let found = by_ids(all, options_ids, Kind::DhcpOptions, |d| &d.options_id)?
            .into_iter()
            .filter(|d| matches(filters, &d.tags, |f| dhcp_values(d, f)))
            .collect();
        self.page_of(
            &format!("DescribeDhcpOptions/{account_id}"),
            page,
            found,
            |d| &d.options_id,
        )
    }

    /// The account's networking, with its default VPC made if it never was.
    pub(crate) async fn account_network(
        &self,
        account_id: &str,
    ) -> Result<AccountNetwork, EngineError> {
        self.ensure_default_vpc(account_id).await?;
        let account = account_id.to_owned();
        let region = self.settings().region.clone();
        self.store()
            .run(move |conn| AccountNetwork::load(conn, &account, &region))
            .await
    }

    /// One page of a small in-memory listing, ordered by id.
    pub(crate) fn page_of<T>(
        &self,
        scope: &str,
        page: &Page,
        mut found: Vec<T>,
        id: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>), EngineError> {
        let (after, _) = self.pager().start(scope, page)?;
        found.sort_by(|a, b| id(a).cmp(id(b)));
        found.retain(|r| after.as_deref().is_none_or(|a| id(r) > a));
        Ok(self
            .pager()
            .finish(scope, page, found, |r| id(r).to_owned()))
    }

    pub(crate) fn vpc_view(&self, net: &AccountNetwork, row: &VpcRow) -> Vpc {
        Vpc {
            dhcp_options_id: derived_id("dopt", &row.account_id, "dhcp options"),
            tags: net.tags_of(&row.vpc_id),
            row: row.clone(),
        }
    }

    pub(crate) fn subnet_view(&self, net: &AccountNetwork, row: &SubnetRow) -> Subnet {
        let settings = self.settings();
        Subnet {
            arn: arn(settings, &row.account_id, "subnet", &row.subnet_id),
            zone_id: settings
                .zones
                .iter()
                .find(|z| z.name == row.availability_zone)
                .map(|z| z.id.clone())
                .unwrap_or_default(),
            available_addresses: net.free_in(row),
            tags: net.tags_of(&row.subnet_id),
            row: row.clone(),
        }
    }

    pub(crate) fn route_table_view(&self, net: &AccountNetwork, row: &RouteTableRow) -> RouteTable {
        RouteTable {
            routes: net
                .routes
                .iter()
                .filter(|r| r.route_table_id == row.route_table_id)
                .map(|r| (r.clone(), net.route_active(row, r)))
                .collect(),
            associations: net
                .associations
                .iter()
                .filter(|a| a.route_table_id == row.route_table_id)
                .cloned()
                .collect(),
            tags: net.tags_of(&row.route_table_id),
            row: row.clone(),
        }
    }

    pub(crate) fn address_view(&self, net: &AccountNetwork, row: &PublicAddressRow) -> Address {
        let interface = row
            .interface_id
            .as_deref()
            .and_then(|id| net.interfaces.iter().find(|i| i.interface_id == id));
        Address {
            instance_id: interface.and_then(|i| i.instance_id.clone()),
            subnet_id: interface.map(|i| i.subnet_id.clone()),
            tags: row
                .allocation_id
                .as_deref()
                .map(|a| net.tags_of(a))
                .unwrap_or_default(),
            row: row.clone(),
        }
    }

    /// DescribeVpcs.
    pub async fn describe_vpcs(
        &self,
        account_id: &str,
        vpc_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<Vpc>, Option<String>), EngineError> {
        check_filters(filters, VPC_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all = net.vpcs.iter().map(|v| self.vpc_view(&net, v)).collect();
        let found = by_ids(all, vpc_ids, Kind::Vpc, |v| &v.row.vpc_id)?
            .into_iter()
            .filter(|v| matches(filters, &v.tags, |f| vpc_values(v, f)))
            .collect();
        self.page_of(&format!("DescribeVpcs/{account_id}"), page, found, |v| {
            &v.row.vpc_id
        })
    }

    /// DescribeVpcAttribute.
    pub async fn vpc_attribute(
        &self,
        account_id: &str,
        vpc_id: &str,
        attribute: &str,
    ) -> Result<bool, EngineError> {
        let net = self.account_network(account_id).await?;
        let vpc = by_ids(net.vpcs, &[vpc_id.to_owned()], Kind::Vpc, |v| &v.vpc_id)?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::NotFound {
                kind: Kind::Vpc,
                ids: vec![vpc_id.to_owned()],
            })?;
        match attribute {
            "enableDnsSupport" => Ok(vpc.enable_dns_support),
            "enableDnsHostnames" => Ok(vpc.enable_dns_hostnames),
            "enableNetworkAddressUsageMetrics" => Ok(vpc.enable_nau_metrics),
            other => Err(EngineError::UnknownVpcAttribute(other.to_owned())),
        }
    }

    /// DescribeSubnets.
    pub async fn describe_subnets(
        &self,
        account_id: &str,
        subnet_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<Subnet>, Option<String>), EngineError> {
        check_filters(filters, SUBNET_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all = net
            .subnets
            .iter()
            .map(|s| self.subnet_view(&net, s))
            .collect();
        let found = by_ids(all, subnet_ids, Kind::Subnet, |s| &s.row.subnet_id)?
            .into_iter()
            .filter(|s| matches(filters, &s.tags, |f| subnet_values(s, f)))
            .collect();
        self.page_of(&format!("DescribeSubnets/{account_id}"), page, found, |s| {
            &s.row.subnet_id
        })
    }

    /// DescribeSecurityGroups, by id or by name (names are of the default VPC's groups).
    pub async fn describe_security_groups(
        &self,
        account_id: &str,
        group_ids: &[String],
        group_names: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<SecurityGroup>, Option<String>), EngineError> {
        check_filters(filters, GROUP_FILTERS)?;
        super::ids::check_well_formed(Kind::SecurityGroup, group_ids)?;
        let net = self.account_network(account_id).await?;
        let default_vpc = net.default_vpc().map(|v| v.vpc_id.clone());
        for name in group_names {
            if !net
                .groups
                .iter()
                .any(|g| &g.group_name == name && Some(&g.vpc_id) == default_vpc.as_ref())
            {
                return Err(EngineError::SecurityGroupNotFound(format!(
                    "The security group '{name}' does not exist in default VPC '{}'",
                    default_vpc.as_deref().unwrap_or("none")
                )));
            }
        }
        let all = net
            .groups
            .iter()
            .map(|g| SecurityGroup {
                arn: arn(self.settings(), account_id, "security-group", &g.group_id),
                tags: net.tags_of(&g.group_id),
                row: g.clone(),
            })
            .collect();
        let found = by_ids(all, group_ids, Kind::SecurityGroup, |g| &g.row.group_id)?
            .into_iter()
            .filter(|g| {
                group_names.is_empty()
                    || (group_names.contains(&g.row.group_name)
                        && Some(&g.row.vpc_id) == default_vpc.as_ref())
            })
            .filter(|g| matches(filters, &g.tags, |f| group_values(g, f)))
            .collect();
        self.page_of(
            &format!("DescribeSecurityGroups/{account_id}"),
            page,
            found,
            |g| &g.row.group_id,
        )
    }

    /// DescribeInternetGateways.
    pub async fn describe_internet_gateways(
        &self,
        account_id: &str,
        gateway_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<InternetGateway>, Option<String>), EngineError> {
        check_filters(filters, GATEWAY_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all = net
            .gateways
            .iter()
            .map(|g| InternetGateway {
                tags: net.tags_of(&g.gateway_id),
                row: g.clone(),
            })
            .collect();
        let found = by_ids(all, gateway_ids, Kind::InternetGateway, |g| {
            &g.row.gateway_id
        })?
        .into_iter()
        .filter(|g| matches(filters, &g.tags, |f| gateway_values(g, f)))
        .collect();
        self.page_of(
            &format!("DescribeInternetGateways/{account_id}"),
            page,
            found,
            |g| &g.row.gateway_id,
        )
    }

    /// DescribeRouteTables.
    pub async fn describe_route_tables(
        &self,
        account_id: &str,
        table_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<RouteTable>, Option<String>), EngineError> {
        check_filters(filters, ROUTE_TABLE_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all = net
            .route_tables
            .iter()
            .map(|t| self.route_table_view(&net, t))
            .collect();
        let found = by_ids(all, table_ids, Kind::RouteTable, |t| &t.row.route_table_id)?
            .into_iter()
            .filter(|t| matches(filters, &t.tags, |f| route_table_values(t, f)))
            .collect();
        self.page_of(
            &format!("DescribeRouteTables/{account_id}"),
            page,
            found,
            |t| &t.row.route_table_id,
        )
    }

    /// DescribeAddresses: the Elastic IPs, by allocation id or address.
    pub async fn describe_addresses(
        &self,
        account_id: &str,
        allocation_ids: &[String],
        public_ips: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Address>, EngineError> {
        check_filters(filters, ADDRESS_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let all: Vec<Address> = net
            .publics
            .iter()
            .filter(|p| p.allocation_id.is_some())
            .map(|p| self.address_view(&net, p))
            .collect();
        let all = by_ids(all, allocation_ids, Kind::Allocation, |a| {
            a.row.allocation_id.as_deref().unwrap_or_default()
        })?;
        if let Some(ip) = public_ips
            .iter()
            .find(|ip| !all.iter().any(|a| &a.row.public_ip == *ip))
        {
            return Err(EngineError::AddressNotFound(ip.clone()));
        }
        Ok(all
            .into_iter()
            .filter(|a| public_ips.is_empty() || public_ips.contains(&a.row.public_ip))
            .filter(|a| matches(filters, &a.tags, |f| address_values(a, f)))
            .collect())
    }

    /// DescribeNetworkInterfaces.
    pub async fn describe_network_interfaces(
        &self,
        account_id: &str,
        interface_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<NetworkInterface>, Option<String>), EngineError> {
        check_filters(filters, INTERFACE_FILTERS)?;
        let net = self.account_network(account_id).await?;
        let region = &self.settings().region;
        let all = net
            .interfaces
            .iter()
            .map(|i| net.interface_view(region, i))
            .collect();
        let found = by_ids(all, interface_ids, Kind::NetworkInterface, |i| {
            &i.row.interface_id
        })?
        .into_iter()
        .filter(|i| matches(filters, &i.tags, |f| interface_values(i, f)))
        .collect();
        self.page_of(
            &format!("DescribeNetworkInterfaces/{account_id}"),
            page,
            found,
            |i| &i.row.interface_id,
        )
    }
}
