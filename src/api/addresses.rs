//! Elastic IPs: Allocate, Associate, Disassociate, Release, Describe.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, tag_set, tag_specifications};
use super::Principal;
use crate::engine::network::Address;
use crate::engine::tags::tags_for;
use crate::engine::{Engine, EngineError};

fn address(a: Address, region: &str) -> output::Address {
    let r = a.row;
    output::Address {
        allocation_id: r.allocation_id,
        association_id: r.association_id,
        domain: Some("vpc".into()),
        network_interface_owner_id: r.interface_id.as_ref().map(|_| r.account_id.clone()),
        network_interface_id: r.interface_id,
        private_ip_address: r.private_ip,
        tags: tag_set(a.tags),
        public_ipv4_pool: Some("amazon".into()),
        network_border_group: Some(region.to_owned()),
        instance_id: a.instance_id,
        subnet_id: a.subnet_id,
        public_ip: Some(r.public_ip),
        ..Default::default()
    }
}

pub async fn allocate_address(
    engine: &Engine,
    who: &Principal,
    req: input::AllocateAddressRequest,
) -> Result<output::AllocateAddressResult, ApiError> {
    if let Some(domain) = req.domain.as_deref().filter(|d| *d != "vpc") {
        return Err(EngineError::InvalidParameterValue(format!(
            "Value ({domain}) for parameter domain is invalid. Valid values are vpc."
        ))
        .into());
    }
    let tags = tags_for(&tag_specifications(req.tag_specifications)?, "elastic-ip")?;
    let a = engine
        .allocate_address(&who.account_id, req.address.as_deref(), tags)
        .await?;
    let region = engine.settings().region.clone();
    Ok(output::AllocateAddressResult {
        allocation_id: a.row.allocation_id,
        public_ipv4_pool: Some("amazon".into()),
        network_border_group: Some(region),
        domain: Some("vpc".into()),
        public_ip: Some(a.row.public_ip),
        ..Default::default()
    })
}

pub async fn associate_address(
    engine: &Engine,
    who: &Principal,
    req: input::AssociateAddressRequest,
) -> Result<output::AssociateAddressResult, ApiError> {
    let association_id = engine
        .associate_address(
            &who.account_id,
            req.allocation_id.filter(|v| !v.is_empty()),
            req.public_ip.filter(|v| !v.is_empty()),
            req.instance_id.filter(|v| !v.is_empty()),
            req.network_interface_id.filter(|v| !v.is_empty()),
            req.private_ip_address.filter(|v| !v.is_empty()),
            req.allow_reassociation.unwrap_or(false),
        )
        .await?;
    Ok(output::AssociateAddressResult {
        association_id: Some(association_id),
    })
}

pub async fn disassociate_address(
    engine: &Engine,
    who: &Principal,
    req: input::DisassociateAddressRequest,
) -> Result<(), ApiError> {
    engine
        .disassociate_address(
            &who.account_id,
            req.association_id.filter(|v| !v.is_empty()),
            req.public_ip.filter(|v| !v.is_empty()),
        )
        .await?;
    Ok(())
}

pub async fn release_address(
    engine: &Engine,
    who: &Principal,
    req: input::ReleaseAddressRequest,
) -> Result<(), ApiError> {
    engine
        .release_address(
            &who.account_id,
            req.allocation_id.filter(|v| !v.is_empty()),
            req.public_ip.filter(|v| !v.is_empty()),
        )
        .await?;
    Ok(())
}

pub async fn describe_addresses(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeAddressesRequest,
) -> Result<output::DescribeAddressesResult, ApiError> {
    let found = engine
        .describe_addresses(
            &who.account_id,
            &req.allocation_ids,
            &req.public_ips,
            &filters(req.filters)?,
        )
        .await?;
    let region = engine.settings().region.clone();
    Ok(output::DescribeAddressesResult {
        addresses: Some(found.into_iter().map(|a| address(a, &region)).collect()),
    })
}

pub async fn describe_addresses_attribute(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeAddressesAttributeRequest,
) -> Result<output::DescribeAddressesAttributeResult, ApiError> {
    if let Some(attribute) = req.attribute.as_deref().filter(|a| *a != "domain-name") {
        return Err(EngineError::InvalidParameterValue(format!(
            "Value ({attribute}) for parameter attribute is invalid. Valid values are domain-name."
        ))
        .into());
    }
    let found = engine
        .describe_addresses(&who.account_id, &req.allocation_ids, &[], &[])
        .await?;
    // No reverse DNS here: no PTR record is set for any address.
    Ok(output::DescribeAddressesAttributeResult {
        addresses: Some(
            found
                .into_iter()
                .map(|a| output::AddressAttribute {
                    public_ip: Some(a.row.public_ip),
                    allocation_id: a.row.allocation_id,
                    ..Default::default()
                })
                .collect(),
        ),
        next_token: None,
    })
}
