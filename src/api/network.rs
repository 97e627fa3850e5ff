//! How VPCs, subnets and security groups are answered, and their Describe calls.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{attribute_flag, filters, page, tag_set};
use super::Principal;
use crate::engine::network::{SecurityGroup, Subnet, Vpc};
use crate::engine::Engine;

pub(super) fn vpc(v: Vpc) -> output::Vpc {
    let r = v.row;
    output::Vpc {
        cidr_block_association_set: Some(vec![output::VpcCidrBlockAssociation {
            cidr_block: Some(r.cidr_block.clone()),
            association_id: Some(r.cidr_association_id),
            cidr_block_state: Some(output::VpcCidrBlockState {
                state: Some("associated".into()),
                ..Default::default()
            }),
        }]),
        vpc_id: Some(r.vpc_id),
        owner_id: Some(r.account_id),
        state: Some(r.state),
        cidr_block: Some(r.cidr_block),
        dhcp_options_id: Some(v.dhcp_options_id),
        tags: tag_set(v.tags),
        instance_tenancy: Some(r.instance_tenancy),
        is_default: Some(r.is_default),
        ..Default::default()
    }
}

pub(super) fn subnet(s: Subnet) -> output::Subnet {
    let r = s.row;
    output::Subnet {
        subnet_id: Some(r.subnet_id),
        subnet_arn: Some(s.arn),
        state: Some(r.state),
        vpc_id: Some(r.vpc_id),
        owner_id: Some(r.account_id),
        cidr_block: Some(r.cidr_block),
        available_ip_address_count: Some(i32::try_from(s.available_addresses).unwrap_or(i32::MAX)),
        availability_zone: Some(r.availability_zone),
        availability_zone_id: Some(s.zone_id),
        default_for_az: Some(r.default_for_az),
        map_public_ip_on_launch: Some(r.map_public_ip_on_launch),
        map_customer_owned_ip_on_launch: Some(false),
        assign_ipv6_address_on_creation: Some(false),
        enable_dns64: Some(false),
        ipv6_native: Some(false),
        private_dns_name_options_on_launch: Some(output::PrivateDnsNameOptionsOnLaunch {
            hostname_type: Some("ip-name".into()),
            enable_resource_name_dns_a_record: Some(false),
            enable_resource_name_dns_aaaa_record: Some(false),
        }),
        tags: tag_set(s.tags),
        ..Default::default()
    }
}

fn security_group(g: SecurityGroup) -> output::SecurityGroup {
    // The default group's rules: all traffic in from its own members, all traffic out.
    let all_traffic = |groups: Vec<output::UserIdGroupPair>, ip_ranges: Vec<output::IpRange>| {
        output::IpPermission {
            ip_protocol: Some("-1".into()),
            user_id_group_pairs: Some(groups),
            ip_ranges: Some(ip_ranges),
            ipv6_ranges: Some(Vec::new()),
            prefix_list_ids: Some(Vec::new()),
            ..Default::default()
        }
    };
    output::SecurityGroup {
        ip_permissions: Some(vec![all_traffic(
            vec![output::UserIdGroupPair {
                user_id: Some(g.row.account_id.clone()),
                group_id: Some(g.row.group_id.clone()),
                ..Default::default()
            }],
            Vec::new(),
        )]),
        ip_permissions_egress: Some(vec![all_traffic(
            Vec::new(),
            vec![output::IpRange {
                cidr_ip: Some("0.0.0.0/0".into()),
                ..Default::default()
            }],
        )]),
        owner_id: Some(g.row.account_id),
        group_id: Some(g.row.group_id),
        group_name: Some(g.row.group_name),
        description: Some(g.row.description),
        vpc_id: Some(g.row.vpc_id),
        security_group_arn: Some(g.arn),
        tags: tag_set(g.tags),
    }
}

pub async fn describe_vpcs(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeVpcsRequest,
) -> Result<output::DescribeVpcsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (vpcs, next_token) = engine
        .describe_vpcs(&who.account_id, &req.vpc_ids, &filters(req.filters)?, &page)
        .await?;
    Ok(output::DescribeVpcsResult {
        vpcs: Some(vpcs.into_iter().map(vpc).collect()),
        next_token,
    })
}

pub async fn describe_vpc_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeVpcAttributeRequest,
) -> Result<output::DescribeVpcAttributeResult, ApiError> {
    let value = engine
        .vpc_attribute(&who.account_id, &req.vpc_id, &req.attribute)
        .await?;
    let value = attribute_flag(value);
    let mut answer = output::DescribeVpcAttributeResult {
        vpc_id: Some(req.vpc_id),
        ..Default::default()
    };
    match req.attribute.as_str() {
        "enableDnsSupport" => answer.enable_dns_support = value,
        "enableDnsHostnames" => answer.enable_dns_hostnames = value,
        _ => answer.enable_network_address_usage_metrics = value,
    }
    Ok(answer)
}

pub async fn describe_subnets(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeSubnetsRequest,
) -> Result<output::DescribeSubnetsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (subnets, next_token) = engine
        .describe_subnets(
            &who.account_id,
            &req.subnet_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeSubnetsResult {
        subnets: Some(subnets.into_iter().map(subnet).collect()),
        next_token,
    })
}

pub async fn describe_security_groups(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeSecurityGroupsRequest,
) -> Result<output::DescribeSecurityGroupsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let (groups, next_token) = engine
        .describe_security_groups(
            &who.account_id,
            &req.group_ids,
            &req.group_names,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeSecurityGroupsResult {
        security_groups: Some(groups.into_iter().map(security_group).collect()),
        next_token,
    })
}
