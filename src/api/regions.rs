//! DescribeRegions, DescribeAvailabilityZones and DescribeAccountAttributes.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::filters;
use super::Principal;
use crate::engine::regions::{AccountAttribute, Region, Zone};
use crate::engine::Engine;

fn region(r: Region) -> output::Region {
    output::Region {
        region_name: Some(r.name),
        endpoint: Some(r.endpoint),
        opt_in_status: Some(r.opt_in_status.into()),
        ..Default::default()
    }
}

fn zone(z: Zone) -> output::AvailabilityZone {
    output::AvailabilityZone {
        zone_name: Some(z.name),
        state: Some(z.state.into()),
        region_name: Some(z.region),
        messages: Some(Vec::new()),
        zone_id: Some(z.id),
        group_name: Some(z.group_name),
        network_border_group: Some(z.network_border_group),
        zone_type: Some(z.zone_type.into()),
        opt_in_status: Some(z.opt_in_status.into()),
        ..Default::default()
    }
}

fn attribute(a: AccountAttribute) -> output::AccountAttribute {
    output::AccountAttribute {
        attribute_name: Some(a.name.into()),
        attribute_values: Some(
            a.values
                .into_iter()
                .map(|v| output::AccountAttributeValue {
                    attribute_value: Some(v),
                })
                .collect(),
        ),
    }
}

pub async fn describe_regions(
    engine: &Engine,
    _who: &Principal,
    req: input::DescribeRegionsRequest,
) -> Result<output::DescribeRegionsResult, ApiError> {
    // Every region here is opted in, so AllRegions lists the same.
    let regions = engine.describe_regions(&req.region_names, &filters(req.filters)?)?;
    Ok(output::DescribeRegionsResult {
        regions: Some(regions.into_iter().map(region).collect()),
    })
}

pub async fn describe_availability_zones(
    engine: &Engine,
    _who: &Principal,
    req: input::DescribeAvailabilityZonesRequest,
) -> Result<output::DescribeAvailabilityZonesResult, ApiError> {
    // Every zone here is opted in, so AllAvailabilityZones lists the same.
    let zones = engine.describe_availability_zones(
        &req.zone_names,
        &req.zone_ids,
        &filters(req.filters)?,
    )?;
    Ok(output::DescribeAvailabilityZonesResult {
        availability_zones: Some(zones.into_iter().map(zone).collect()),
    })
}

pub async fn describe_account_attributes(
    engine: &Engine,
    who: &Principal,
    req: input::DescribeAccountAttributesRequest,
) -> Result<output::DescribeAccountAttributesResult, ApiError> {
    let attributes = engine
        .describe_account_attributes(&who.account_id, &req.attribute_names)
        .await?;
    Ok(output::DescribeAccountAttributesResult {
        account_attributes: Some(attributes.into_iter().map(attribute).collect()),
    })
}
