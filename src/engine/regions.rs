//! The region this gateway serves, its availability zones, and the account attributes.

use super::{Engine, EngineError, Settings};
use crate::filter::{any_match, first_unknown, Filter};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub endpoint: String,
    pub opt_in_status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub id: String,
    pub region: String,
    pub state: &'static str,
    pub opt_in_status: &'static str,
    pub zone_type: &'static str,
    pub group_name: String,
    pub network_border_group: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAttribute {
    pub name: &'static str,
    pub values: Vec<String>,
}

const REGION_FILTERS: &[&str] = &["endpoint", "region-name", "opt-in-status"];
const ZONE_FILTERS: &[&str] = &[
    "group-name",
    "message",
    "opt-in-status",
    "region-name",
    "state",
    "zone-id",
    "zone-name",
    "zone-type",
    "group-long-name",
    "network-border-group",
    "parent-zone-id",
    "parent-zone-name",
];
/// The attribute names EC2 defines, in the order it lists them.
pub const ACCOUNT_ATTRIBUTES: &[&str] = &[
    "supported-platforms",
    "vpc-max-security-groups-per-interface",
    "max-elastic-ips",
    "max-instances",
    "vpc-max-elastic-ips",
    "default-vpc",
];

impl Region {
    fn filter_values(&self, filter: &str) -> Vec<&str> {
        match filter {
            "endpoint" => vec![self.endpoint.as_str()],
            "region-name" => vec![self.name.as_str()],
            "opt-in-status" => vec![self.opt_in_status],
            _ => Vec::new(),
        }
    }
}

impl Zone {
    fn filter_values(&self, filter: &str) -> Vec<&str> {
        match filter {
            "group-name" | "group-long-name" => vec![self.group_name.as_str()],
            "network-border-group" => vec![self.network_border_group.as_str()],
            "opt-in-status" => vec![self.opt_in_status],
            "region-name" => vec![self.region.as_str()],
            "state" => vec![self.state],
            "zone-id" => vec![self.id.as_str()],
            "zone-name" => vec![self.name.as_str()],
            "zone-type" => vec![self.zone_type],
            // No messages, no parent zones: these match nothing, as on AWS for such zones.
            _ => Vec::new(),
        }
    }
}

fn check_filters(filters: &[Filter], known: &[&str]) -> Result<(), EngineError> {
    match first_unknown(filters, known) {
        Some(name) => Err(EngineError::UnknownFilter(name.to_owned())),
        None => Ok(()),
    }
}

/// The region's own zones, derived from the settings.
pub fn zones(settings: &Settings) -> Vec<Zone> {
    settings
        .zones
        .iter()
        .map(|z| Zone {
            name: z.name.clone(),
            id: z.id.clone(),
            region: settings.region.clone(),
            state: "available",
            opt_in_status: "opt-in-not-required",
            zone_type: "availability-zone",
            group_name: settings.region.clone(),
            network_border_group: settings.region.clone(),
        })
        .collect()
}

/// The zone id AWS would give a region's Nth zone: `use1-az1` for us-east-1, `euc1-az2` for
/// eu-central-1. Names that do not look like AWS's get their letters and digits squeezed.
pub fn zone_id(region: &str, n: usize) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    let short = match parts[..] {
        [country, direction, number] if number.bytes().all(|b| b.is_ascii_digit()) => {
            let direction = match direction {
                "north" => "n",
                "south" => "s",
                "east" => "e",
                "west" => "w",
                "central" => "c",
                "northeast" => "ne",
                "northwest" => "nw",
                "southeast" => "se",
                "southwest" => "sw",
                other => &other[..other.len().min(2)],
            };
            format!("{country}{direction}{number}")
        }
        _ => region.chars().filter(char::is_ascii_alphanumeric).collect(),
    };
    format!("{short}-az{n}")
}

impl Engine {
    /// DescribeRegions: only this gateway's region exists, opted in or not.
    pub fn describe_regions(
        &self,
        names: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Region>, EngineError> {
        check_filters(filters, REGION_FILTERS)?;
        let settings = self.settings();
        if let Some(unknown) = names.iter().find(|n| **n != settings.region) {
            return Err(EngineError::UnknownRegion(unknown.clone()));
        }
        let region = Region {
            name: settings.region.clone(),
            endpoint: settings.endpoint_host.clone(),
            opt_in_status: "opt-in-not-required",
        };
        let matches = filters
            .iter()
            .all(|f| any_match(&f.values, &region.filter_values(&f.name)));
        Ok(if matches { vec![region] } else { Vec::new() })
    }

    /// DescribeAvailabilityZones.
    pub fn describe_availability_zones(
        &self,
        names: &[String],
        ids: &[String],
        filters: &[Filter],
    ) -> Result<Vec<Zone>, EngineError> {
        check_filters(filters, ZONE_FILTERS)?;
        let all = zones(self.settings());
        if let Some(unknown) = names.iter().find(|n| !all.iter().any(|z| z.name == **n)) {
            return Err(EngineError::UnknownZone(unknown.clone()));
        }
        if let Some(unknown) = ids.iter().find(|i| !all.iter().any(|z| z.id == **i)) {
            return Err(EngineError::UnknownZoneId(unknown.clone()));
        }
        Ok(all
            .into_iter()
            .filter(|z| {
                names.is_empty() && ids.is_empty() || names.contains(&z.name) || ids.contains(&z.id)
            })
            .filter(|z| {
                filters
                    .iter()
                    .all(|f| any_match(&f.values, &z.filter_values(&f.name)))
            })
            .collect())
    }

    /// DescribeAccountAttributes: what an account may do, and its default VPC.
    pub async fn describe_account_attributes(
        &self,
        account_id: &str,
        names: &[String],
    ) -> Result<Vec<AccountAttribute>, EngineError> {
        if let Some(unknown) = names
            .iter()
            .find(|n| !ACCOUNT_ATTRIBUTES.contains(&n.as_str()))
        {
            return Err(EngineError::UnknownAccountAttribute(unknown.clone()));
        }
        let max_instances = self.settings().max_instances.to_string();
        let default_vpc = self
            .account_network(account_id)
            .await?
            .default_vpc()
            .map_or_else(|| "none".to_owned(), |v| v.vpc_id.clone());
        Ok(ACCOUNT_ATTRIBUTES
            .iter()
            .filter(|name| names.is_empty() || names.iter().any(|n| n == *name))
            .map(|&name| AccountAttribute {
                name,
                values: vec![match name {
                    "supported-platforms" => "VPC".to_owned(),
                    "vpc-max-security-groups-per-interface" => "5".to_owned(),
                    "max-elastic-ips" | "vpc-max-elastic-ips" => "5".to_owned(),
                    "max-instances" => max_instances.clone(),
                    _ => default_vpc.clone(),
                }],
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_aws_naming() {
        assert_eq!(zone_id("us-east-1", 1), "use1-az1");
        assert_eq!(zone_id("eu-central-1", 2), "euc1-az2");
        assert_eq!(zone_id("ap-southeast-2", 3), "apse2-az3");
        assert_eq!(zone_id("us-west-2", 4), "usw2-az4");
        assert_eq!(zone_id("home", 1), "home-az1");
        assert_eq!(zone_id("lab-rack-b", 2), "labrackb-az2");
    }
}
