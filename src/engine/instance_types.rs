//! The instance type catalogue: names like AWS's common families, sizes from settings.

use super::paging::Page;
use super::{Engine, EngineError};
use crate::filter::{any_match, Filter};

/// One instance type; the catalogue's defaults mirror AWS's figures for the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceTypeSpec {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The root disk size when the image is smaller (GiB).
    pub root_gib: u32,
    pub clock_ghz: f64,
    pub network_performance: String,
    pub max_network_interfaces: u32,
    pub ipv4_per_interface: u32,
    pub free_tier: bool,
}

impl InstanceTypeSpec {
    /// A type of `vcpus` and `memory_mib` with the rest derived as AWS's families have it.
    pub fn sized(name: &str, vcpus: u32, memory_mib: u64, root_gib: u32) -> InstanceTypeSpec {
        let burstable = is_burstable(name);
        InstanceTypeSpec {
            name: name.to_owned(),
            vcpus,
            memory_mib,
            root_gib,
            clock_ghz: if burstable { 2.5 } else { 3.1 },
            network_performance: if burstable {
                "Up to 5 Gigabit".into()
            } else {
                "Up to 10 Gigabit".into()
            },
            max_network_interfaces: match vcpus {
                0..=2 => 3,
                3..=8 => 4,
                _ => 8,
            },
            ipv4_per_interface: match vcpus {
                0..=2 => 10,
                3..=8 => 15,
                _ => 30,
            },
            free_tier: false,
        }
    }

    pub fn family(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }

    pub fn burstable(&self) -> bool {
        is_burstable(&self.name)
    }

    pub fn threads_per_core(&self) -> u32 {
        if self.vcpus > 1 {
            2
        } else {
            1
        }
    }

    pub fn cores(&self) -> u32 {
        (self.vcpus / self.threads_per_core()).max(1)
    }

    /// The core counts a launch may ask for: 1..cores for small types, even steps above.
    pub fn valid_cores(&self) -> Vec<u32> {
        let cores = self.cores();
        if cores <= 2 {
            (1..=cores).collect()
        } else {
            (1..=cores).filter(|c| c % 2 == 0).collect()
        }
    }

    pub fn valid_threads_per_core(&self) -> Vec<u32> {
        if self.threads_per_core() == 2 {
            vec![1, 2]
        } else {
            vec![1]
        }
    }

    /// The values this type has for a DescribeInstanceTypes filter; None if the filter is
    /// not one this gateway knows.
    pub fn filter_values(&self, filter: &str) -> Option<Vec<String>> {
        let yes_no = |b: bool| vec![b.to_string()];
        Some(match filter {
            "instance-type" => vec![self.name.clone()],
            "current-generation" => yes_no(true),
            "free-tier-eligible" => yes_no(self.free_tier),
            "hypervisor" => vec!["nitro".into()],
            "bare-metal"
            | "hibernation-supported"
            | "instance-storage-supported"
            | "dedicated-hosts-supported"
            | "network-info.efa-supported" => yes_no(false),
            "auto-recovery-supported" | "network-info.ipv6-supported" => yes_no(true),
            "burstable-performance-supported" => yes_no(self.burstable()),
            "memory-info.size-in-mib" => vec![self.memory_mib.to_string()],
            "processor-info.supported-architecture" => vec!["x86_64".into()],
            "processor-info.sustained-clock-speed-in-ghz" => vec![self.clock_ghz.to_string()],
            "supported-root-device-type" => vec!["ebs".into()],
            "supported-usage-class" => vec!["on-demand".into()],
            "supported-virtualization-type" => vec!["hvm".into()],
            "supported-boot-mode" => vec!["legacy-bios".into(), "uefi".into()],
            "vcpu-info.default-vcpus" => vec![self.vcpus.to_string()],
            "vcpu-info.default-cores" => vec![self.cores().to_string()],
            "vcpu-info.default-threads-per-core" => vec![self.threads_per_core().to_string()],
            "vcpu-info.valid-cores" => self.valid_cores().iter().map(u32::to_string).collect(),
            "vcpu-info.valid-threads-per-core" => self
                .valid_threads_per_core()
                .iter()
                .map(u32::to_string)
                .collect(),
            "network-info.ena-support" => vec!["required".into()],
            "network-info.maximum-network-interfaces" => {
                vec![self.max_network_interfaces.to_string()]
            }
            "network-info.ipv4-addresses-per-interface" => {
                vec![self.ipv4_per_interface.to_string()]
            }
            "network-info.network-performance" => vec![self.network_performance.clone()],
            "ebs-info.ebs-optimized-support" => vec!["default".into()],
            "ebs-info.encryption-support" => vec!["supported".into()],
            "ebs-info.nvme-support" => vec!["required".into()],
            _ => return None,
        })
    }
}

/// The DescribeInstanceTypes filters this gateway answers.
pub const FILTERS: &[&str] = &[
    "instance-type",
    "current-generation",
    "free-tier-eligible",
    "hypervisor",
    "bare-metal",
    "hibernation-supported",
    "instance-storage-supported",
    "dedicated-hosts-supported",
    "network-info.efa-supported",
    "auto-recovery-supported",
    "network-info.ipv6-supported",
    "burstable-performance-supported",
    "memory-info.size-in-mib",
    "processor-info.supported-architecture",
    "processor-info.sustained-clock-speed-in-ghz",
    "supported-root-device-type",
    "supported-usage-class",
    "supported-virtualization-type",
    "supported-boot-mode",
    "vcpu-info.default-vcpus",
    "vcpu-info.default-cores",
    "vcpu-info.default-threads-per-core",
    "vcpu-info.valid-cores",
    "vcpu-info.valid-threads-per-core",
    "network-info.ena-support",
    "network-info.maximum-network-interfaces",
    "network-info.ipv4-addresses-per-interface",
    "network-info.network-performance",
    "ebs-info.ebs-optimized-support",
    "ebs-info.encryption-support",
    "ebs-info.nvme-support",
];

fn is_burstable(name: &str) -> bool {
    name.starts_with('t')
}

/// The default catalogue: AWS's figures for these names (vCPUs, memory, network interfaces
/// and addresses per interface, as DescribeInstanceTypes reports them on AWS).
pub fn default_catalogue() -> Vec<InstanceTypeSpec> {
    // name, vCPUs, MiB, interfaces, IPv4 addresses per interface
    const TYPES: &[(&str, u32, u64, u32, u32)] = &[
        ("t2.micro", 1, 1024, 2, 2),
        ("t3.nano", 2, 512, 2, 2),
        ("t3.micro", 2, 1024, 2, 2),
        ("t3.small", 2, 2048, 3, 4),
        ("t3.medium", 2, 4096, 3, 6),
        ("t3.large", 2, 8192, 3, 12),
        ("t3.xlarge", 4, 16384, 4, 15),
        ("t3.2xlarge", 8, 32768, 4, 15),
        ("m5.large", 2, 8192, 3, 10),
        ("m5.xlarge", 4, 16384, 4, 15),
        ("m5.2xlarge", 8, 32768, 4, 15),
        ("m5.4xlarge", 16, 65536, 8, 30),
        ("c5.large", 2, 4096, 3, 10),
        ("c5.xlarge", 4, 8192, 4, 15),
        ("c5.2xlarge", 8, 16384, 4, 15),
        ("r5.large", 2, 16384, 3, 10),
        ("r5.xlarge", 4, 32768, 4, 15),
        ("r5.2xlarge", 8, 65536, 4, 15),
    ];
    TYPES
        .iter()
        .map(|&(name, vcpus, memory_mib, interfaces, addresses)| {
            let mut t = InstanceTypeSpec::sized(name, vcpus, memory_mib, 8);
            t.max_network_interfaces = interfaces;
            t.ipv4_per_interface = addresses;
            t.free_tier = name == "t3.micro" || name == "t2.micro";
            match t.family() {
                "t2" => t.network_performance = "Low to Moderate".into(),
                "c5" => t.clock_ghz = 3.4,
                _ => {}
            }
            t
        })
        .collect()
}

/// One offering: a type in a location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offering {
    pub instance_type: String,
    pub location_type: String,
    pub location: String,
}

fn check_filters(filters: &[Filter], known: impl Fn(&str) -> bool) -> Result<(), EngineError> {
    match filters.iter().find(|f| !known(&f.name)) {
        Some(f) => Err(EngineError::UnknownFilter(f.name.clone())),
        None => Ok(()),
    }
}

impl Engine {
    /// The type of this name, if the catalogue has it.
    pub fn instance_type(&self, name: &str) -> Option<&InstanceTypeSpec> {
        self.settings()
            .instance_types
            .iter()
            .find(|t| t.name == name)
    }

    /// DescribeInstanceTypes over the catalogue, sorted by name.
    pub fn describe_instance_types(
        &self,
        names: &[String],
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<InstanceTypeSpec>, Option<String>), EngineError> {
        let catalogue = &self.settings().instance_types;
        check_filters(filters, |name| FILTERS.contains(&name))?;
        let unknown: Vec<String> = names
            .iter()
            .filter(|n| self.instance_type(n).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(EngineError::UnknownInstanceTypes(unknown));
        }
        let scope = "DescribeInstanceTypes";
        let (after, limit) = self.pager().start(scope, page)?;
        let mut matching: Vec<InstanceTypeSpec> = catalogue
            .iter()
            .filter(|t| names.is_empty() || names.contains(&t.name))
            .filter(|t| after.as_deref().is_none_or(|a| t.name.as_str() > a))
            .filter(|t| {
                filters.iter().all(|f| {
                    let values = t.filter_values(&f.name).unwrap_or_default();
                    any_match(
                        &f.values,
                        &values.iter().map(String::as_str).collect::<Vec<_>>(),
                    )
                })
            })
            .cloned()
            .collect();
        matching.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(limit) = limit {
            matching.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(self
            .pager()
            .finish(scope, page, matching, |t| t.name.clone()))
    }

    /// DescribeInstanceTypeOfferings: every type is offered in the region and each zone.
    pub fn describe_instance_type_offerings(
        &self,
        location_type: &str,
        filters: &[Filter],
        page: &Page,
    ) -> Result<(Vec<Offering>, Option<String>), EngineError> {
        check_filters(filters, |name| {
            name == "instance-type" || name == "location"
        })?;
        let settings = self.settings();
        let locations: Vec<String> = match location_type {
            "region" => vec![settings.region.clone()],
            "availability-zone" => settings.zones.iter().map(|z| z.name.clone()).collect(),
            "availability-zone-id" => settings.zones.iter().map(|z| z.id.clone()).collect(),
            other => {
                return Err(EngineError::InvalidParameterValue(format!(
                    "Value ({other}) for parameter locationType is invalid. Valid values are region, availability-zone, availability-zone-id."
                )))
            }
        };
        let scope = format!("DescribeInstanceTypeOfferings/{location_type}");
        let (after, limit) = self.pager().start(&scope, page)?;
        let mut offerings: Vec<Offering> = Vec::new();
        for t in &settings.instance_types {
            for location in &locations {
                let offering = Offering {
                    instance_type: t.name.clone(),
                    location_type: location_type.to_owned(),
                    location: location.clone(),
                };
                let keep = filters.iter().all(|f| {
                    let value = if f.name == "location" {
                        offering.location.as_str()
                    } else {
                        offering.instance_type.as_str()
                    };
                    any_match(&f.values, &[value])
                });
                if keep {
                    offerings.push(offering);
                }
            }
        }
        offerings
            .sort_by(|a, b| (&a.instance_type, &a.location).cmp(&(&b.instance_type, &b.location)));
        let position = |o: &Offering| format!("{}\n{}", o.instance_type, o.location);
        if let Some(after) = after {
            offerings.retain(|o| position(o) > after);
        }
        if let Some(limit) = limit {
            offerings.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        Ok(self.pager().finish(&scope, page, offerings, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_awss_figures() {
        let catalogue = default_catalogue();
        let t3 = catalogue.iter().find(|t| t.name == "t3.micro").unwrap();
        assert_eq!(
            (t3.vcpus, t3.memory_mib, t3.cores(), t3.threads_per_core()),
            (2, 1024, 1, 2)
        );
        assert!(t3.burstable());
        let m5 = catalogue.iter().find(|t| t.name == "m5.4xlarge").unwrap();
        assert_eq!((m5.vcpus, m5.memory_mib, m5.cores()), (16, 65536, 8));
        assert_eq!(m5.valid_cores(), vec![2, 4, 6, 8]);
        assert!(!m5.burstable());
        let t2 = catalogue.iter().find(|t| t.name == "t2.micro").unwrap();
        assert_eq!(
            (
                t2.cores(),
                t2.threads_per_core(),
                t2.valid_threads_per_core()
            ),
            (1, 1, vec![1])
        );
    }

    #[test]
    fn network_limits_are_awss() {
        let catalogue = default_catalogue();
        let get = |name: &str| catalogue.iter().find(|t| t.name == name).unwrap().clone();
        let t3 = get("t3.micro");
        assert_eq!((t3.max_network_interfaces, t3.ipv4_per_interface), (2, 2));
        let m5 = get("m5.4xlarge");
        assert_eq!((m5.max_network_interfaces, m5.ipv4_per_interface), (8, 30));
        assert_eq!(get("t2.micro").network_performance, "Low to Moderate");
    }

    #[test]
    fn filters_see_the_documented_names() {
        let t = InstanceTypeSpec::sized("c5.large", 2, 4096, 8);
        assert_eq!(
            t.filter_values("vcpu-info.default-vcpus"),
            Some(vec!["2".into()])
        );
        assert_eq!(
            t.filter_values("burstable-performance-supported"),
            Some(vec!["false".into()])
        );
        assert_eq!(t.filter_values("no-such-filter"), None);
        for name in FILTERS {
            assert!(
                t.filter_values(name).is_some(),
                "{name} is listed but not answered"
            );
        }
    }
}
