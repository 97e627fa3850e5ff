//! DescribeVpcs, DescribeSubnets and DescribeSecurityGroups: the account's default network.

use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::shapes::{items, tag_set, TagItem};
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::network::{SecurityGroup, Subnet, Vpc, SUBNET_ADDRESSES};
use crate::engine::paging::Page;
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeVpcs {
    pub dry_run: bool,
    pub vpc_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeVpcs {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeVpcs {
            dry_run: p.dry_run()?,
            vpc_ids: p.list("VpcId"),
            filters: p.filters()?,
            page: p.page(5, 1000)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSubnets {
    pub dry_run: bool,
    pub subnet_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeSubnets {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeSubnets {
            dry_run: p.dry_run()?,
            subnet_ids: p.list("SubnetId"),
            filters: p.filters()?,
            page: p.page(5, 1000)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeSecurityGroups {
    pub dry_run: bool,
    pub group_ids: Vec<String>,
    pub group_names: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeSecurityGroups {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeSecurityGroups {
            dry_run: p.dry_run()?,
            group_ids: p.list("GroupId"),
            group_names: p.list("GroupName"),
            filters: p.filters()?,
            page: p.page(5, 1000)?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeVpcsResult {
    #[serde(rename = "vpcSet")]
    vpc_set: Items<VpcItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct VpcItem {
    #[serde(rename = "vpcId")]
    vpc_id: String,
    #[serde(rename = "ownerId")]
    owner_id: String,
    state: &'static str,
    #[serde(rename = "cidrBlock")]
    cidr_block: &'static str,
    #[serde(rename = "cidrBlockAssociationSet")]
    cidr_block_association_set: Items<CidrAssociation>,
    #[serde(rename = "dhcpOptionsId")]
    dhcp_options_id: String,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
    #[serde(rename = "instanceTenancy")]
    instance_tenancy: &'static str,
    #[serde(rename = "isDefault")]
    is_default: bool,
}

#[derive(Debug, Serialize)]
struct CidrAssociation {
    #[serde(rename = "cidrBlock")]
    cidr_block: &'static str,
    #[serde(rename = "associationId")]
    association_id: String,
    #[serde(rename = "cidrBlockState")]
    cidr_block_state: State,
}

#[derive(Debug, Serialize)]
struct State {
    state: &'static str,
}

impl From<Vpc> for VpcItem {
    fn from(v: Vpc) -> Self {
        VpcItem {
            cidr_block_association_set: vec![CidrAssociation {
                cidr_block: v.cidr_block,
                association_id: v.cidr_association_id,
                cidr_block_state: State {
                    state: "associated",
                },
            }]
            .into(),
            vpc_id: v.vpc_id,
            owner_id: v.owner_id,
            state: "available",
            cidr_block: v.cidr_block,
            dhcp_options_id: v.dhcp_options_id,
            tag_set: tag_set(v.tags),
            instance_tenancy: "default",
            is_default: true,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeSubnetsResult {
    #[serde(rename = "subnetSet")]
    subnet_set: Items<SubnetItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct SubnetItem {
    #[serde(rename = "subnetId")]
    subnet_id: String,
    #[serde(rename = "subnetArn")]
    subnet_arn: String,
    state: &'static str,
    #[serde(rename = "vpcId")]
    vpc_id: String,
    #[serde(rename = "ownerId")]
    owner_id: String,
    #[serde(rename = "cidrBlock")]
    cidr_block: String,
    #[serde(rename = "availableIpAddressCount")]
    available_ip_address_count: i64,
    #[serde(rename = "availabilityZone")]
    availability_zone: String,
    #[serde(rename = "availabilityZoneId")]
    availability_zone_id: String,
    #[serde(rename = "defaultForAz")]
    default_for_az: bool,
    #[serde(rename = "mapPublicIpOnLaunch")]
    map_public_ip_on_launch: bool,
    #[serde(rename = "mapCustomerOwnedIpOnLaunch")]
    map_customer_owned_ip_on_launch: bool,
    #[serde(rename = "assignIpv6AddressOnCreation")]
    assign_ipv6_address_on_creation: bool,
    #[serde(rename = "enableDns64")]
    enable_dns64: bool,
    #[serde(rename = "ipv6Native")]
    ipv6_native: bool,
    #[serde(rename = "privateDnsNameOptionsOnLaunch")]
    private_dns_name_options_on_launch: PrivateDnsNameOptions,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
}

#[derive(Debug, Serialize)]
struct PrivateDnsNameOptions {
    #[serde(rename = "hostnameType")]
    hostname_type: &'static str,
    #[serde(rename = "enableResourceNameDnsARecord")]
    enable_resource_name_dns_a_record: bool,
    #[serde(rename = "enableResourceNameDnsAAAARecord")]
    enable_resource_name_dns_aaaa_record: bool,
}

impl From<Subnet> for SubnetItem {
    fn from(s: Subnet) -> Self {
        SubnetItem {
            subnet_id: s.subnet_id,
            subnet_arn: s.subnet_arn,
            state: "available",
            vpc_id: s.vpc_id,
            owner_id: s.owner_id,
            cidr_block: s.cidr_block,
            available_ip_address_count: SUBNET_ADDRESSES,
            availability_zone: s.zone,
            availability_zone_id: s.zone_id,
            default_for_az: true,
            map_public_ip_on_launch: true,
            map_customer_owned_ip_on_launch: false,
            assign_ipv6_address_on_creation: false,
            enable_dns64: false,
            ipv6_native: false,
            private_dns_name_options_on_launch: PrivateDnsNameOptions {
                hostname_type: "ip-name",
                enable_resource_name_dns_a_record: false,
                enable_resource_name_dns_aaaa_record: false,
            },
            tag_set: tag_set(s.tags),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeSecurityGroupsResult {
    #[serde(rename = "securityGroupInfo")]
    security_group_info: Items<GroupItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct GroupItem {
    #[serde(rename = "ownerId")]
    owner_id: String,
    #[serde(rename = "groupId")]
    group_id: String,
    #[serde(rename = "groupName")]
    group_name: &'static str,
    #[serde(rename = "groupDescription")]
    group_description: &'static str,
    #[serde(rename = "vpcId")]
    vpc_id: String,
    #[serde(rename = "securityGroupArn")]
    security_group_arn: String,
    #[serde(rename = "ipPermissions")]
    ip_permissions: Items<Permission>,
    #[serde(rename = "ipPermissionsEgress")]
    ip_permissions_egress: Items<Permission>,
    #[serde(rename = "tagSet")]
    tag_set: Items<TagItem>,
}

#[derive(Debug, Serialize)]
struct Permission {
    #[serde(rename = "ipProtocol")]
    ip_protocol: &'static str,
    groups: Items<GroupPair>,
    #[serde(rename = "ipRanges")]
    ip_ranges: Items<IpRange>,
    #[serde(rename = "ipv6Ranges")]
    ipv6_ranges: Items<IpRange>,
    #[serde(rename = "prefixListIds")]
    prefix_list_ids: Items<IpRange>,
}

#[derive(Debug, Serialize)]
struct GroupPair {
    #[serde(rename = "userId")]
    user_id: String,
    #[serde(rename = "groupId")]
    group_id: String,
}

#[derive(Debug, Serialize)]
struct IpRange {
    #[serde(rename = "cidrIp")]
    cidr_ip: &'static str,
}

impl From<SecurityGroup> for GroupItem {
    fn from(g: SecurityGroup) -> Self {
        // The default group's rules: all traffic in from its own members, all traffic out.
        let all_traffic = |groups: Vec<GroupPair>, ip_ranges: Vec<IpRange>| Permission {
            ip_protocol: "-1",
            groups: groups.into(),
            ip_ranges: ip_ranges.into(),
            ipv6_ranges: Vec::new().into(),
            prefix_list_ids: Vec::new().into(),
        };
        GroupItem {
            ip_permissions: vec![all_traffic(
                vec![GroupPair {
                    user_id: g.owner_id.clone(),
                    group_id: g.group_id.clone(),
                }],
                Vec::new(),
            )]
            .into(),
            ip_permissions_egress: vec![all_traffic(
                Vec::new(),
                vec![IpRange {
                    cidr_ip: "0.0.0.0/0",
                }],
            )]
            .into(),
            owner_id: g.owner_id,
            group_id: g.group_id,
            group_name: g.group_name,
            group_description: g.description,
            vpc_id: g.vpc_id,
            security_group_arn: g.group_arn,
            tag_set: tag_set(g.tags),
        }
    }
}

pub async fn describe_vpcs(
    engine: &Engine,
    who: &Principal,
    req: DescribeVpcs,
) -> Result<DescribeVpcsResult, ApiError> {
    let (vpcs, next_token) = engine
        .describe_vpcs(&who.account_id, &req.vpc_ids, &req.filters, &req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeVpcsResult {
        vpc_set: items(vpcs),
        next_token,
    })
}

pub async fn describe_subnets(
    engine: &Engine,
    who: &Principal,
    req: DescribeSubnets,
) -> Result<DescribeSubnetsResult, ApiError> {
    let (subnets, next_token) = engine
        .describe_subnets(&who.account_id, &req.subnet_ids, &req.filters, &req.page)
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeSubnetsResult {
        subnet_set: items(subnets),
        next_token,
    })
}

pub async fn describe_security_groups(
    engine: &Engine,
    who: &Principal,
    req: DescribeSecurityGroups,
) -> Result<DescribeSecurityGroupsResult, ApiError> {
    let (groups, next_token) = engine
        .describe_security_groups(
            &who.account_id,
            &req.group_ids,
            &req.group_names,
            &req.filters,
            &req.page,
        )
        .await?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeSecurityGroupsResult {
        security_group_info: items(groups),
        next_token,
    })
}
