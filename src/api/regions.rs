//! DescribeRegions, DescribeAvailabilityZones and DescribeAccountAttributes.

use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use super::shapes::items;
use super::Principal;
use crate::engine::filter::Filter;
use crate::engine::regions::{AccountAttribute, Region, Zone};
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeRegions {
    pub dry_run: bool,
    pub region_names: Vec<String>,
    pub filters: Vec<Filter>,
    /// Whether regions not opted in are listed too; every region here is opted in.
    pub all_regions: bool,
}

impl DescribeRegions {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeRegions {
            dry_run: p.dry_run()?,
            region_names: p.list("RegionName"),
            filters: p.filters()?,
            all_regions: p.bool("AllRegions")?.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAvailabilityZones {
    pub dry_run: bool,
    pub zone_names: Vec<String>,
    pub zone_ids: Vec<String>,
    pub filters: Vec<Filter>,
    /// Whether zones not opted in are listed too; every zone here is opted in.
    pub all_availability_zones: bool,
}

impl DescribeAvailabilityZones {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeAvailabilityZones {
            dry_run: p.dry_run()?,
            zone_names: p.list("ZoneName"),
            zone_ids: p.list("ZoneId"),
            filters: p.filters()?,
            all_availability_zones: p.bool("AllAvailabilityZones")?.unwrap_or(false),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeAccountAttributes {
    pub dry_run: bool,
    pub attribute_names: Vec<String>,
}

impl DescribeAccountAttributes {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeAccountAttributes {
            dry_run: p.dry_run()?,
            attribute_names: p.list("AttributeName"),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeRegionsResult {
    #[serde(rename = "regionInfo")]
    region_info: Items<RegionItem>,
}

#[derive(Debug, Serialize)]
struct RegionItem {
    #[serde(rename = "regionName")]
    region_name: String,
    #[serde(rename = "regionEndpoint")]
    region_endpoint: String,
    #[serde(rename = "optInStatus")]
    opt_in_status: &'static str,
}

impl From<Region> for RegionItem {
    fn from(r: Region) -> Self {
        RegionItem {
            region_name: r.name,
            region_endpoint: r.endpoint,
            opt_in_status: r.opt_in_status,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeAvailabilityZonesResult {
    #[serde(rename = "availabilityZoneInfo")]
    availability_zone_info: Items<ZoneItem>,
}

#[derive(Debug, Serialize)]
struct ZoneItem {
    #[serde(rename = "zoneName")]
    zone_name: String,
    #[serde(rename = "zoneState")]
    zone_state: &'static str,
    #[serde(rename = "regionName")]
    region_name: String,
    #[serde(rename = "messageSet")]
    message_set: Items<ZoneMessage>,
    #[serde(rename = "zoneId")]
    zone_id: String,
    #[serde(rename = "groupName")]
    group_name: String,
    #[serde(rename = "networkBorderGroup")]
    network_border_group: String,
    #[serde(rename = "zoneType")]
    zone_type: &'static str,
    #[serde(rename = "optInStatus")]
    opt_in_status: &'static str,
}

#[derive(Debug, Serialize)]
struct ZoneMessage {
    message: String,
}

impl From<Zone> for ZoneItem {
    fn from(z: Zone) -> Self {
        ZoneItem {
            zone_name: z.name,
            zone_state: z.state,
            region_name: z.region,
            message_set: Vec::new().into(),
            zone_id: z.id,
            group_name: z.group_name,
            network_border_group: z.network_border_group,
            zone_type: z.zone_type,
            opt_in_status: z.opt_in_status,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeAccountAttributesResult {
    #[serde(rename = "accountAttributeSet")]
    account_attribute_set: Items<AttributeItem>,
}

#[derive(Debug, Serialize)]
struct AttributeItem {
    #[serde(rename = "attributeName")]
    attribute_name: &'static str,
    #[serde(rename = "attributeValueSet")]
    attribute_value_set: Items<AttributeValue>,
}

#[derive(Debug, Serialize)]
struct AttributeValue {
    #[serde(rename = "attributeValue")]
    attribute_value: String,
}

impl From<AccountAttribute> for AttributeItem {
    fn from(a: AccountAttribute) -> Self {
        AttributeItem {
            attribute_name: a.name,
            attribute_value_set: a
                .values
                .into_iter()
                .map(|attribute_value| AttributeValue { attribute_value })
                .collect::<Vec<_>>()
                .into(),
        }
    }
}

pub fn describe_regions(
    engine: &Engine,
    req: &DescribeRegions,
) -> Result<DescribeRegionsResult, ApiError> {
    let regions = engine.describe_regions(&req.region_names, &req.filters)?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeRegionsResult {
        region_info: items(regions),
    })
}

pub fn describe_availability_zones(
    engine: &Engine,
    req: &DescribeAvailabilityZones,
) -> Result<DescribeAvailabilityZonesResult, ApiError> {
    let zones = engine.describe_availability_zones(&req.zone_names, &req.zone_ids, &req.filters)?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeAvailabilityZonesResult {
        availability_zone_info: items(zones),
    })
}

pub fn describe_account_attributes(
    engine: &Engine,
    who: &Principal,
    req: &DescribeAccountAttributes,
) -> Result<DescribeAccountAttributesResult, ApiError> {
    let attributes = engine.describe_account_attributes(&who.account_id, &req.attribute_names)?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeAccountAttributesResult {
        account_attribute_set: items(attributes),
    })
}
