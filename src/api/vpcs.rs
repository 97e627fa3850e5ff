//! CreateVpc, DeleteVpc, ModifyVpcAttribute; CreateSubnet, DeleteSubnet, ModifySubnetAttribute.

use super::error::ApiError;
use super::generated::{input, output};
use super::network::{subnet, vpc};
use super::params::{filters, page, tag_specifications};
use super::Principal;
use crate::engine::tags::tags_for;
use crate::engine::{Engine, EngineError};

fn flag(v: Option<input::AttributeBooleanValue>) -> Option<bool> {
    v.and_then(|v| v.value)
}

pub async fn create_vpc(
    engine: &Engine,
    who: &Principal,
    req: input::CreateVpcRequest,
) -> Result<output::CreateVpcResult, ApiError> {
    if req.amazon_provided_ipv6_cidr_block == Some(true) {
        return Err(EngineError::UnsupportedOperation(
            "IPv6 CIDR blocks are not supported here.".into(),
        )
        .into());
    }
    let cidr = req
        .cidr_block
        .ok_or_else(|| ApiError::MissingParameter("CidrBlock".into()))?;
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "vpc")?;
    let created = engine
        .create_vpc(
            &who.account_id,
            &cidr,
            req.instance_tenancy.as_deref(),
            tags,
        )
        .await?;
    Ok(output::CreateVpcResult {
        vpc: Some(vpc(created)),
    })
}

pub async fn delete_vpc(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteVpcRequest,
) -> Result<(), ApiError> {
    engine.delete_vpc(&who.account_id, &req.vpc_id).await?;
    Ok(())
}

pub async fn modify_vpc_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::ModifyVpcAttributeRequest,
) -> Result<(), ApiError> {
    engine
        .modify_vpc_attribute(
            &who.account_id,
            &req.vpc_id,
            flag(req.enable_dns_support),
            flag(req.enable_dns_hostnames),
            flag(req.enable_network_address_usage_metrics),
        )
        .await?;
    Ok(())
}

pub async fn create_subnet(
    engine: &Engine,
    who: &Principal,
    req: input::CreateSubnetRequest,
) -> Result<output::CreateSubnetResult, ApiError> {
    let cidr = req
        .cidr_block
        .ok_or_else(|| ApiError::MissingParameter("CidrBlock".into()))?;
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "subnet")?;
    let created = engine
        .create_subnet(
            &who.account_id,
            &req.vpc_id,
            &cidr,
            req.availability_zone.as_deref().filter(|z| !z.is_empty()),
            req.availability_zone_id
                .as_deref()
                .filter(|z| !z.is_empty()),
            tags,
        )
        .await?;
    Ok(output::CreateSubnetResult {
        subnet: Some(subnet(created)),
    })
}

pub async fn delete_subnet(
    engine: &Engine,
    who: &Principal,
    req: input::DeleteSubnetRequest,
) -> Result<(), ApiError> {
    engine
        .delete_subnet(&who.account_id, &req.subnet_id)
        .await?;
    Ok(())
}

pub async fn modify_subnet_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::ModifySubnetAttributeRequest,
) -> Result<(), ApiError> {
    let unsupported = [
        flag(req.assign_ipv6_address_on_creation),
        flag(req.enable_dns64),
        flag(req.map_customer_owned_ip_on_launch),
    ]
    .contains(&Some(true));
    engine
        .modify_subnet_attribute(
            &who.account_id,
            &req.subnet_id,
            flag(req.map_public_ip_on_launch),
            unsupported,
        )
        .await?;
    Ok(())
}

pub async fn create_default_vpc(
    engine: &Engine,
    who: &Principal,
    _req: input::CreateDefaultVpcRequest,
) -> Result<output::CreateDefaultVpcResult, ApiError> {
    let made = engine.create_default_vpc(&who.account_id).await?;
    Ok(output::CreateDefaultVpcResult {
        vpc: Some(vpc(made)),
    })
}

/// DescribeVpcEndpoints: no endpoint can be made here, so there are none to describe.
pub async fn describe_vpc_endpoints(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeVpcEndpointsRequest,
) -> Result<output::DescribeVpcEndpointsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    engine
        .describe_vpc_endpoints(
            &who.account_id,
            &req.vpc_endpoint_ids,
            &filters(req.filters)?,
            &page,
        )
        .await?;
    Ok(output::DescribeVpcEndpointsResult {
        vpc_endpoints: Some(Vec::new()),
        next_token: None,
    })
}
