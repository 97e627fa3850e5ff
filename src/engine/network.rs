//! Each account's default network, as EC2 gives every new account one: a VPC (172.31.0.0/16),
//! one default subnet per availability zone (a /20 each), and the VPC's `default` security
//! group. It is read-only and derived, not stored: the ids are a hash of the account id, so
//! every gateway on a database names the same network, and nothing is written to serve it.
//! Instances are placed in it (subnet, VPC, group); no addresses or interfaces are modelled.

use sha2::{Digest, Sha256};

use super::ids::{self, Kind};
use super::paging::Page;
use super::tags::{tag_sets, Tag};
use super::{Engine, EngineError, Settings};
use crate::filter::{any_match, first_unknown, Filter};

pub const VPC_CIDR: &str = "172.31.0.0/16";
pub const DEFAULT_GROUP_NAME: &str = "default";
pub const DEFAULT_GROUP_DESCRIPTION: &str = "default VPC security group";
/// A /20 holds 4,096 addresses; AWS reserves 5 in each subnet.
pub const SUBNET_ADDRESSES: i64 = 4096 - 5;
/// 172.31.0.0/16 holds sixteen /20s: zones past the sixteenth get no default subnet.
const MAX_SUBNETS: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vpc {
    pub vpc_id: String,
    pub owner_id: String,
    pub cidr_block: &'static str,
    pub cidr_association_id: String,
    pub dhcp_options_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub subnet_id: String,
    pub subnet_arn: String,
    pub vpc_id: String,
    pub owner_id: String,
    pub zone: String,
    pub zone_id: String,
    pub cidr_block: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub group_id: String,
    pub group_arn: String,
    pub group_name: &'static str,
    pub description: &'static str,
    pub owner_id: String,
    pub vpc_id: String,
    pub tags: Vec<Tag>,
}

/// One account's default VPC, its subnets (in zone order) and its default group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultNetwork {
    pub vpc: Vpc,
    pub subnets: Vec<Subnet>,
    pub group: SecurityGroup,
}

/// Where RunInstances puts an instance: a subnet of the default VPC and its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub zone: String,
    pub subnet_id: String,
    pub group_ids: Vec<String>,
}

/// An id of this prefix, stable for the account and what it names.
fn derived_id(prefix: &str, account_id: &str, what: &str) -> String {
    let digest = Sha256::digest(format!("ec2gw default network\0{account_id}\0{what}"));
    let mut id = format!("{prefix}-");
    id.push_str(&hex::encode(digest)[..17]);
    id
}

/// The account's default network in this gateway's region.
pub fn default_network(settings: &Settings, account_id: &str) -> DefaultNetwork {
    let vpc_id = derived_id("vpc", account_id, "vpc");
    let arn =
        |kind: &str, id: &str| format!("arn:aws:ec2:{}:{account_id}:{kind}/{id}", settings.region);
    let subnets = settings
        .zones
        .iter()
        .take(MAX_SUBNETS)
        .enumerate()
        .map(|(i, zone)| {
            let subnet_id = derived_id("subnet", account_id, &zone.name);
            Subnet {
                subnet_arn: arn("subnet", &subnet_id),
                subnet_id,
                vpc_id: vpc_id.clone(),
                owner_id: account_id.to_owned(),
                zone: zone.name.clone(),
                zone_id: zone.id.clone(),
                cidr_block: format!("172.31.{}.0/20", i * 16),
                tags: Vec::new(),
            }
        })
        .collect();
    let group_id = derived_id("sg", account_id, "default group");
    DefaultNetwork {
        group: SecurityGroup {
            group_arn: arn("security-group", &group_id),
            group_id,
            group_name: DEFAULT_GROUP_NAME,
            description: DEFAULT_GROUP_DESCRIPTION,
            owner_id: account_id.to_owned(),
            vpc_id: vpc_id.clone(),
            tags: Vec::new(),
        },
        vpc: Vpc {
            cidr_association_id: derived_id("vpc-cidr-assoc", account_id, "vpc cidr"),
            dhcp_options_id: derived_id("dopt", account_id, "dhcp options"),
            owner_id: account_id.to_owned(),
            cidr_block: VPC_CIDR,
            vpc_id,
            tags: Vec::new(),
        },
        subnets,
    }
}

impl DefaultNetwork {
    /// Whether `id` names one of this network's resources (for tagging).
    pub fn contains(&self, id: &str) -> bool {
        self.vpc.vpc_id == id
            || self.group.group_id == id
            || self.subnets.iter().any(|s| s.subnet_id == id)
    }

    /// RunInstances' placement: the subnet asked for, or the zone's default subnet, and the
    /// groups asked for by id or name, or the default group. Only the default group and the
    /// default subnets exist, so anything else is not found, as on EC2.
    pub fn place(
        &self,
        zone: Option<&str>,
        subnet_id: Option<&str>,
        group_ids: &[String],
        group_names: &[String],
    ) -> Result<Placement, EngineError> {
        let subnet = match subnet_id {
            Some(id) => {
                let subnet = self
                    .subnets
                    .iter()
                    .find(|s| s.subnet_id == id)
                    .ok_or_else(|| EngineError::NotFound {
                        kind: Kind::Subnet,
                        ids: vec![id.to_owned()],
                    })?;
                if let Some(zone) = zone.filter(|z| *z != subnet.zone) {
                    return Err(EngineError::InvalidParameterValue(format!(
                        "Value ({zone}) for parameter availabilityZone is invalid. Subnet '{id}' is in availability zone '{}'",
                        subnet.zone
                    )));
                }
                subnet
            }
            None => match zone {
                Some(zone) => self
                    .subnets
                    .iter()
                    .find(|s| s.zone == zone)
                    .ok_or_else(|| EngineError::UnknownZone(zone.to_owned()))?,
                None => self
                    .subnets
                    .first()
                    .ok_or_else(|| EngineError::UnknownZone(String::new()))?,
            },
        };
        if let Some(id) = group_ids.iter().find(|g| **g != self.group.group_id) {
            return Err(EngineError::SecurityGroupNotFound(format!(
                "The security group '{id}' does not exist in VPC '{}'",
                self.vpc.vpc_id
            )));
        }
        if let Some(name) = group_names.iter().find(|g| *g != DEFAULT_GROUP_NAME) {
            return Err(EngineError::SecurityGroupNotFound(format!(
                "The security group '{name}' does not exist in default VPC '{}'",
                self.vpc.vpc_id
            )));
        }
        Ok(Placement {
            zone: subnet.zone.clone(),
            subnet_id: subnet.subnet_id.clone(),
            group_ids: vec![self.group.group_id.clone()],
        })
    }

    /// The name of a group of this network, by id.
    pub fn group_name(&self, group_id: &str) -> Option<&'static str> {
        (group_id == self.group.group_id).then_some(self.group.group_name)
    }
}

const VPC_FILTERS: &[&str] = &[
    "cidr",
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

fn check_filters(filters: &[Filter], known: &[&str]) -> Result<(), EngineError> {
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
fn matches<'a>(filters: &[Filter], tags: &'a [Tag], values: impl Fn(&str) -> Vec<&'a str>) -> bool {
    filters.iter().all(|f| {
        let found: Vec<&str> = match f.name.strip_prefix("tag:") {
            Some(key) => tags
                .iter()
                .filter(|t| t.key == key)
                .map(|t| t.value.as_str())
                .collect(),
            None if f.name == "tag-key" => tags.iter().map(|t| t.key.as_str()).collect(),
            None => values(&f.name),
        };
        any_match(&f.values, &found)
    })
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Vpc {
    fn filter_values(&self, filter: &str) -> Vec<&str> {
        match filter {
            "cidr" | "cidr-block-association.cidr-block" => vec![self.cidr_block],
            "cidr-block-association.association-id" => vec![self.cidr_association_id.as_str()],
            "cidr-block-association.state" => vec!["associated"],
            "dhcp-options-id" => vec![self.dhcp_options_id.as_str()],
            "is-default" | "isDefault" => vec![bool_text(true)],
            "owner-id" => vec![self.owner_id.as_str()],
            "state" => vec!["available"],
            "vpc-id" => vec![self.vpc_id.as_str()],
            // No IPv6 here: those filters match nothing.
            _ => Vec::new(),
        }
    }
}

impl Subnet {
    fn filter_values(&self, filter: &str) -> Vec<&str> {
        match filter {
            "availability-zone" | "availabilityZone" => vec![self.zone.as_str()],
            "availability-zone-id" | "availabilityZoneId" => vec![self.zone_id.as_str()],
            "available-ip-address-count" => vec!["4091"],
            "cidr" | "cidr-block" | "cidrBlock" => vec![self.cidr_block.as_str()],
            "default-for-az" | "defaultForAz" | "map-public-ip-on-launch" => {
                vec![bool_text(true)]
            }
            "enable-dns64" | "ipv6-native" | "map-customer-owned-ip-on-launch" => {
                vec![bool_text(false)]
            }
            "owner-id" => vec![self.owner_id.as_str()],
            "state" => vec!["available"],
            "subnet-arn" => vec![self.subnet_arn.as_str()],
            "subnet-id" => vec![self.subnet_id.as_str()],
            "vpc-id" => vec![self.vpc_id.as_str()],
            _ => Vec::new(),
        }
    }
}

impl SecurityGroup {
    fn filter_values(&self, filter: &str) -> Vec<&str> {
        match filter {
            "description" => vec![self.description],
            "group-id" => vec![self.group_id.as_str()],
            "group-name" => vec![self.group_name],
            "owner-id" => vec![self.owner_id.as_str()],
            "vpc-id" => vec![self.vpc_id.as_str()],
            // The default rules: all traffic in from the group itself, all traffic out.
            "ip-permission.protocol" | "egress.ip-permission.protocol" => vec!["-1"],
            "ip-permission.group-id" => vec![self.group_id.as_str()],
            "ip-permission.user-id" => vec![self.owner_id.as_str()],
            "egress.ip-permission.cidr" => vec!["0.0.0.0/0"],
            _ => Vec::new(),
        }
    }
}

/// Only the resources asked for by id (all of them, or NotFound naming the missing), in the
/// order they are listed.
fn by_ids<T>(
    all: Vec<T>,
    wanted: &[String],
    kind: Kind,
    id: impl Fn(&T) -> &str,
) -> Result<Vec<T>, EngineError> {
    if wanted.is_empty() {
        return Ok(all);
    }
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

impl Engine {
    /// The account's default network, with its tags.
    async fn tagged_network(&self, account_id: &str) -> Result<DefaultNetwork, EngineError> {
        let mut network = default_network(self.settings(), account_id);
        let mut ids = vec![network.vpc.vpc_id.clone(), network.group.group_id.clone()];
        ids.extend(network.subnets.iter().map(|s| s.subnet_id.clone()));
        let account = account_id.to_owned();
        let mut sets = self
            .store()
            .run(move |conn| tag_sets(conn, &account, &ids))
            .await?;
        let mut take = |id: &str| sets.remove(id).unwrap_or_default();
        network.vpc.tags = take(&network.vpc.vpc_id);
        network.group.tags = take(&network.group.group_id);
        for subnet in &mut network.subnets {
            subnet.tags = take(&subnet.subnet_id);
        }
        Ok(network)
    }

    /// One page of a small in-memory listing, ordered by id.
    fn page_of<T>(
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

    /// DescribeVpcs: the default VPC.
    pub async fn describe_vpcs(
        &self,
        account_id: &str,
        vpc_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<Vpc>, Option<String>), EngineError> {
        check_filters(filters, VPC_FILTERS)?;
        let network = self.tagged_network(account_id).await?;
        let found = by_ids(vec![network.vpc], vpc_ids, Kind::Vpc, |v| &v.vpc_id)?
            .into_iter()
            .filter(|v| matches(filters, &v.tags, |f| v.filter_values(f)))
            .collect();
        self.page_of(&format!("DescribeVpcs/{account_id}"), page, found, |v| {
            &v.vpc_id
        })
    }

    /// DescribeVpcAttribute: a default VPC resolves names and gives instances DNS
    /// hostnames; it has no Network Address Usage metrics.
    pub async fn vpc_attribute(
        &self,
        account_id: &str,
        vpc_id: &str,
        attribute: &str,
    ) -> Result<bool, EngineError> {
        let value = match attribute {
            "enableDnsSupport" | "enableDnsHostnames" => true,
            "enableNetworkAddressUsageMetrics" => false,
            other => return Err(EngineError::UnknownVpcAttribute(other.to_owned())),
        };
        let network = self.tagged_network(account_id).await?;
        by_ids(vec![network.vpc], &[vpc_id.to_owned()], Kind::Vpc, |v| {
            &v.vpc_id
        })?;
        Ok(value)
    }

    /// DescribeSubnets: the default subnets, one per zone.
    pub async fn describe_subnets(
        &self,
        account_id: &str,
        subnet_ids: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<Subnet>, Option<String>), EngineError> {
        check_filters(filters, SUBNET_FILTERS)?;
        let network = self.tagged_network(account_id).await?;
        let found = by_ids(network.subnets, subnet_ids, Kind::Subnet, |s| &s.subnet_id)?
            .into_iter()
            .filter(|s| matches(filters, &s.tags, |f| s.filter_values(f)))
            .collect();
        self.page_of(&format!("DescribeSubnets/{account_id}"), page, found, |s| {
            &s.subnet_id
        })
    }

    /// DescribeSecurityGroups: the default VPC's default group, by id or by name.
    pub async fn describe_security_groups(
        &self,
        account_id: &str,
        group_ids: &[String],
        group_names: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<SecurityGroup>, Option<String>), EngineError> {
        check_filters(filters, GROUP_FILTERS)?;
        ids::check_well_formed(Kind::SecurityGroup, group_ids)?;
        let network = self.tagged_network(account_id).await?;
        if let Some(name) = group_names.iter().find(|n| *n != DEFAULT_GROUP_NAME) {
            return Err(EngineError::SecurityGroupNotFound(format!(
                "The security group '{name}' does not exist in default VPC '{}'",
                network.vpc.vpc_id
            )));
        }
        let found = by_ids(vec![network.group], group_ids, Kind::SecurityGroup, |g| {
            &g.group_id
        })?
        .into_iter()
        .filter(|g| matches(filters, &g.tags, |f| g.filter_values(f)))
        .collect();
        self.page_of(
            &format!("DescribeSecurityGroups/{account_id}"),
            page,
            found,
            |g| &g.group_id,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ZoneSetting;

    fn settings() -> Settings {
        let zone = |name: &str, id: &str| ZoneSetting {
            name: name.into(),
            id: id.into(),
        };
        Settings {
            region: "us-east-1".into(),
            endpoint_host: "localhost".into(),
            zones: vec![
                zone("us-east-1a", "use1-az1"),
                zone("us-east-1b", "use1-az2"),
            ],
            max_instances: 20,
            instance_types: Vec::new(),
            data_dir: "/tmp".into(),
            host_vcpus: 8,
            host_memory_mib: 8192,
            stop_timeout: std::time::Duration::from_secs(1),
            reboot_timeout: std::time::Duration::from_secs(1),
            launch_timeout: std::time::Duration::from_secs(1),
            reconcile_interval: std::time::Duration::from_secs(1),
        }
    }

    #[test]
    fn the_network_is_the_same_for_an_account_and_differs_between_accounts() {
        let a = default_network(&settings(), "111122223333");
        assert_eq!(a, default_network(&settings(), "111122223333"));
        let b = default_network(&settings(), "444455556666");
        assert_ne!(a.vpc.vpc_id, b.vpc.vpc_id);
        assert!(ids::is_well_formed(Kind::Vpc, &a.vpc.vpc_id));
        assert!(ids::is_well_formed(Kind::SecurityGroup, &a.group.group_id));
        let cidrs: Vec<&str> = a.subnets.iter().map(|s| s.cidr_block.as_str()).collect();
        assert_eq!(cidrs, ["172.31.0.0/20", "172.31.16.0/20"]);
        assert!(a
            .subnets
            .iter()
            .all(|s| ids::is_well_formed(Kind::Subnet, &s.subnet_id)
                && s.subnet_arn
                    == format!("arn:aws:ec2:us-east-1:111122223333:subnet/{}", s.subnet_id)));
    }

    #[test]
    fn placement_follows_the_subnet_or_the_zone() {
        let n = default_network(&settings(), "111122223333");
        let second = n.subnets[1].subnet_id.clone();
        let placed = n.place(None, None, &[], &[]).unwrap();
        assert_eq!(placed.subnet_id, n.subnets[0].subnet_id);
        assert_eq!(placed.group_ids, std::slice::from_ref(&n.group.group_id));
        let placed = n.place(Some("us-east-1b"), None, &[], &[]).unwrap();
        assert_eq!(placed.subnet_id, second);
        let placed = n
            .place(
                None,
                Some(&second),
                std::slice::from_ref(&n.group.group_id),
                &["default".into()],
            )
            .unwrap();
        assert_eq!(placed.zone, "us-east-1b");
        assert!(n
            .place(Some("us-east-1a"), Some(&second), &[], &[])
            .is_err());
        assert!(matches!(
            n.place(None, Some("subnet-0123456789abcdef0"), &[], &[]),
            Err(EngineError::NotFound {
                kind: Kind::Subnet,
                ..
            })
        ));
        assert!(matches!(
            n.place(None, None, &["sg-0123456789abcdef0".into()], &[]),
            Err(EngineError::SecurityGroupNotFound(_))
        ));
        assert!(matches!(
            n.place(None, None, &[], &["web".into()]),
            Err(EngineError::SecurityGroupNotFound(_))
        ));
    }

    #[test]
    fn filters_read_tags_and_values() {
        let n = default_network(&settings(), "111122223333");
        let f = |name: &str, value: &str| Filter {
            name: name.into(),
            values: vec![value.into()],
        };
        let tags = vec![Tag {
            key: "Name".into(),
            value: "main".into(),
        }];
        let values = |name: &str| n.vpc.filter_values(name);
        assert!(matches(&[f("isDefault", "true")], &[], values));
        assert!(!matches(&[f("is-default", "false")], &[], values));
        assert!(matches(
            &[f("tag:Name", "ma*"), f("tag-key", "Name")],
            &tags,
            values
        ));
        assert!(!matches(&[f("tag:Name", "main")], &[], values));
        assert!(check_filters(&[f("tag:Anything", "x")], VPC_FILTERS).is_ok());
        assert!(check_filters(&[f("bogus", "x")], VPC_FILTERS).is_err());
    }
}
