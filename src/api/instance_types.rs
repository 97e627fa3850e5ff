//! DescribeInstanceTypes, DescribeInstanceTypeOfferings.

use serde::Serialize;

use super::error::ApiError;
use super::params::Params;
use crate::engine::filter::Filter;
use crate::engine::instance_types::{InstanceTypeSpec, Offering};
use crate::engine::paging::Page;
use crate::engine::Engine;
use crate::protocol::xml::Items;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceTypes {
    pub dry_run: bool,
    pub instance_types: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeInstanceTypes {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        // Every type in the catalogue is offered in this region.
        p.bool("IncludeUnsupportedInRegion")?;
        Ok(DescribeInstanceTypes {
            instance_types: p.list("InstanceType"),
            filters: p.filters()?,
            page: p.page(5, 100)?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeInstanceTypeOfferings {
    pub dry_run: bool,
    pub location_type: String,
    pub filters: Vec<Filter>,
    pub page: Page,
}

impl DescribeInstanceTypeOfferings {
    pub fn parse(p: &mut Params) -> Result<Self, ApiError> {
        Ok(DescribeInstanceTypeOfferings {
            location_type: p.string("LocationType").unwrap_or_else(|| "region".into()),
            filters: p.filters()?,
            page: p.page(5, 1000)?,
            dry_run: p.dry_run()?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeInstanceTypesResult {
    #[serde(rename = "instanceTypeSet")]
    instance_type_set: Items<InstanceTypeItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// InstanceTypeInfo, with every structure Terraform's provider dereferences present.
#[derive(Debug, Serialize)]
struct InstanceTypeItem {
    #[serde(rename = "instanceType")]
    instance_type: String,
    #[serde(rename = "currentGeneration")]
    current_generation: bool,
    #[serde(rename = "freeTierEligible")]
    free_tier_eligible: bool,
    #[serde(rename = "supportedUsageClasses")]
    supported_usage_classes: Items<&'static str>,
    #[serde(rename = "supportedRootDeviceTypes")]
    supported_root_device_types: Items<&'static str>,
    #[serde(rename = "supportedVirtualizationTypes")]
    supported_virtualization_types: Items<&'static str>,
    #[serde(rename = "bareMetal")]
    bare_metal: bool,
    hypervisor: &'static str,
    #[serde(rename = "processorInfo")]
    processor_info: ProcessorInfo,
    #[serde(rename = "vCpuInfo")]
    v_cpu_info: VCpuInfo,
    #[serde(rename = "memoryInfo")]
    memory_info: MemoryInfo,
    #[serde(rename = "instanceStorageSupported")]
    instance_storage_supported: bool,
    #[serde(rename = "ebsInfo")]
    ebs_info: EbsInfo,
    #[serde(rename = "networkInfo")]
    network_info: NetworkInfo,
    #[serde(rename = "placementGroupInfo")]
    placement_group_info: PlacementGroupInfo,
    #[serde(rename = "hibernationSupported")]
    hibernation_supported: bool,
    #[serde(rename = "burstablePerformanceSupported")]
    burstable_performance_supported: bool,
    #[serde(rename = "dedicatedHostsSupported")]
    dedicated_hosts_supported: bool,
    #[serde(rename = "autoRecoverySupported")]
    auto_recovery_supported: bool,
    #[serde(rename = "supportedBootModes")]
    supported_boot_modes: Items<&'static str>,
}

#[derive(Debug, Serialize)]
struct ProcessorInfo {
    #[serde(rename = "supportedArchitectures")]
    supported_architectures: Items<&'static str>,
    #[serde(rename = "sustainedClockSpeedInGhz")]
    sustained_clock_speed_in_ghz: f64,
}

#[derive(Debug, Serialize)]
struct VCpuInfo {
    #[serde(rename = "defaultVCpus")]
    default_v_cpus: u32,
    #[serde(rename = "defaultCores")]
    default_cores: u32,
    #[serde(rename = "defaultThreadsPerCore")]
    default_threads_per_core: u32,
    #[serde(rename = "validCores")]
    valid_cores: Items<u32>,
    #[serde(rename = "validThreadsPerCore")]
    valid_threads_per_core: Items<u32>,
}

#[derive(Debug, Serialize)]
struct MemoryInfo {
    #[serde(rename = "sizeInMiB")]
    size_in_mib: u64,
}

#[derive(Debug, Serialize)]
struct EbsInfo {
    #[serde(rename = "ebsOptimizedSupport")]
    ebs_optimized_support: &'static str,
    #[serde(rename = "encryptionSupport")]
    encryption_support: &'static str,
    #[serde(rename = "nvmeSupport")]
    nvme_support: &'static str,
}

#[derive(Debug, Serialize)]
struct NetworkInfo {
    #[serde(rename = "networkPerformance")]
    network_performance: String,
    #[serde(rename = "maximumNetworkInterfaces")]
    maximum_network_interfaces: u32,
    #[serde(rename = "maximumNetworkCards")]
    maximum_network_cards: u32,
    #[serde(rename = "defaultNetworkCardIndex")]
    default_network_card_index: u32,
    #[serde(rename = "networkCards")]
    network_cards: Items<NetworkCard>,
    #[serde(rename = "ipv4AddressesPerInterface")]
    ipv4_addresses_per_interface: u32,
    #[serde(rename = "ipv6AddressesPerInterface")]
    ipv6_addresses_per_interface: u32,
    #[serde(rename = "ipv6Supported")]
    ipv6_supported: bool,
    #[serde(rename = "enaSupport")]
    ena_support: &'static str,
    #[serde(rename = "efaSupported")]
    efa_supported: bool,
    #[serde(rename = "encryptionInTransitSupported")]
    encryption_in_transit_supported: bool,
}

#[derive(Debug, Serialize)]
struct NetworkCard {
    #[serde(rename = "networkCardIndex")]
    network_card_index: u32,
    #[serde(rename = "networkPerformance")]
    network_performance: String,
    #[serde(rename = "maximumNetworkInterfaces")]
    maximum_network_interfaces: u32,
}

#[derive(Debug, Serialize)]
struct PlacementGroupInfo {
    #[serde(rename = "supportedStrategies")]
    supported_strategies: Items<&'static str>,
}

impl From<InstanceTypeSpec> for InstanceTypeItem {
    fn from(t: InstanceTypeSpec) -> Self {
        InstanceTypeItem {
            current_generation: true,
            free_tier_eligible: t.free_tier,
            supported_usage_classes: vec!["on-demand"].into(),
            supported_root_device_types: vec!["ebs"].into(),
            supported_virtualization_types: vec!["hvm"].into(),
            bare_metal: false,
            hypervisor: "nitro",
            processor_info: ProcessorInfo {
                supported_architectures: vec!["x86_64"].into(),
                sustained_clock_speed_in_ghz: t.clock_ghz,
            },
            v_cpu_info: VCpuInfo {
                default_v_cpus: t.vcpus,
                default_cores: t.cores(),
                default_threads_per_core: t.threads_per_core(),
                valid_cores: t.valid_cores().into(),
                valid_threads_per_core: t.valid_threads_per_core().into(),
            },
            memory_info: MemoryInfo {
                size_in_mib: t.memory_mib,
            },
            instance_storage_supported: false,
            ebs_info: EbsInfo {
                ebs_optimized_support: "default",
                encryption_support: "supported",
                nvme_support: "required",
            },
            network_info: NetworkInfo {
                network_performance: t.network_performance.clone(),
                maximum_network_interfaces: t.max_network_interfaces,
                maximum_network_cards: 1,
                default_network_card_index: 0,
                network_cards: vec![NetworkCard {
                    network_card_index: 0,
                    network_performance: t.network_performance.clone(),
                    maximum_network_interfaces: t.max_network_interfaces,
                }]
                .into(),
                ipv4_addresses_per_interface: t.ipv4_per_interface,
                // AWS gives each interface as many IPv6 addresses as IPv4 ones.
                ipv6_addresses_per_interface: t.ipv4_per_interface,
                ipv6_supported: true,
                ena_support: "required",
                efa_supported: false,
                encryption_in_transit_supported: false,
            },
            placement_group_info: PlacementGroupInfo {
                // Burstable types cannot join a cluster placement group.
                supported_strategies: if t.burstable() {
                    vec!["partition", "spread"].into()
                } else {
                    vec!["cluster", "partition", "spread"].into()
                },
            },
            hibernation_supported: false,
            burstable_performance_supported: t.burstable(),
            dedicated_hosts_supported: false,
            auto_recovery_supported: true,
            supported_boot_modes: vec!["legacy-bios", "uefi"].into(),
            instance_type: t.name,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DescribeInstanceTypeOfferingsResult {
    #[serde(rename = "instanceTypeOfferingSet")]
    instance_type_offering_set: Items<OfferingItem>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct OfferingItem {
    #[serde(rename = "instanceType")]
    instance_type: String,
    #[serde(rename = "locationType")]
    location_type: String,
    location: String,
}

impl From<Offering> for OfferingItem {
    fn from(o: Offering) -> Self {
        OfferingItem {
            instance_type: o.instance_type,
            location_type: o.location_type,
            location: o.location,
        }
    }
}

pub fn describe_instance_types(
    engine: &Engine,
    req: DescribeInstanceTypes,
) -> Result<DescribeInstanceTypesResult, ApiError> {
    let (types, next_token) =
        engine.describe_instance_types(&req.instance_types, &req.filters, &req.page)?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeInstanceTypesResult {
        instance_type_set: types
            .into_iter()
            .map(InstanceTypeItem::from)
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}

pub fn describe_instance_type_offerings(
    engine: &Engine,
    req: DescribeInstanceTypeOfferings,
) -> Result<DescribeInstanceTypeOfferingsResult, ApiError> {
    let (offerings, next_token) =
        engine.describe_instance_type_offerings(&req.location_type, &req.filters, &req.page)?;
    if req.dry_run {
        return Err(ApiError::DryRunOperation);
    }
    Ok(DescribeInstanceTypeOfferingsResult {
        instance_type_offering_set: offerings
            .into_iter()
            .map(OfferingItem::from)
            .collect::<Vec<_>>()
            .into(),
        next_token,
    })
}
