//! DescribeInstanceTypes, DescribeInstanceTypeOfferings.

use super::error::ApiError;
use super::generated::{input, output};
use super::params::{filters, page};
use super::Principal;
use crate::engine::instance_types::{InstanceTypeSpec, Offering};
use crate::engine::Engine;

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn strings(values: &[&str]) -> Option<Vec<String>> {
    Some(values.iter().map(|v| (*v).to_owned()).collect())
}

/// InstanceTypeInfo, with every structure Terraform's provider dereferences present.
fn instance_type(t: InstanceTypeSpec) -> output::InstanceTypeInfo {
    output::InstanceTypeInfo {
        current_generation: Some(true),
        free_tier_eligible: Some(t.free_tier),
        supported_usage_classes: strings(&["on-demand"]),
        supported_root_device_types: strings(&["ebs"]),
        supported_virtualization_types: strings(&["hvm"]),
        bare_metal: Some(false),
        hypervisor: Some("nitro".into()),
        processor_info: Some(output::ProcessorInfo {
            supported_architectures: strings(&["x86_64"]),
            sustained_clock_speed_in_ghz: Some(t.clock_ghz),
            ..Default::default()
        }),
        v_cpu_info: Some(output::VCpuInfo {
            default_v_cpus: Some(int(t.vcpus)),
            default_cores: Some(int(t.cores())),
            default_threads_per_core: Some(int(t.threads_per_core())),
            valid_cores: Some(t.valid_cores().into_iter().map(int).collect()),
            valid_threads_per_core: Some(t.valid_threads_per_core().into_iter().map(int).collect()),
        }),
        memory_info: Some(output::MemoryInfo {
            size_in_mi_b: Some(i64::try_from(t.memory_mib).unwrap_or(i64::MAX)),
        }),
        instance_storage_supported: Some(false),
        ebs_info: Some(output::EbsInfo {
            ebs_optimized_support: Some("default".into()),
            encryption_support: Some("supported".into()),
            nvme_support: Some("required".into()),
            ..Default::default()
        }),
        network_info: Some(output::NetworkInfo {
            network_performance: Some(t.network_performance.clone()),
            maximum_network_interfaces: Some(int(t.max_network_interfaces)),
            maximum_network_cards: Some(1),
            default_network_card_index: Some(0),
            network_cards: Some(vec![output::NetworkCardInfo {
                network_card_index: Some(0),
                network_performance: Some(t.network_performance.clone()),
                maximum_network_interfaces: Some(int(t.max_network_interfaces)),
                ..Default::default()
            }]),
            ipv4_addresses_per_interface: Some(int(t.ipv4_per_interface)),
            // AWS gives each interface as many IPv6 addresses as IPv4 ones.
            ipv6_addresses_per_interface: Some(int(t.ipv4_per_interface)),
            ipv6_supported: Some(true),
            ena_support: Some("required".into()),
            efa_supported: Some(false),
            encryption_in_transit_supported: Some(false),
            ..Default::default()
        }),
        placement_group_info: Some(output::PlacementGroupInfo {
            // Burstable types cannot join a cluster placement group.
            supported_strategies: if t.burstable() {
                strings(&["partition", "spread"])
            } else {
                strings(&["cluster", "partition", "spread"])
            },
        }),
        hibernation_supported: Some(false),
        burstable_performance_supported: Some(t.burstable()),
        dedicated_hosts_supported: Some(false),
        auto_recovery_supported: Some(true),
        supported_boot_modes: strings(&["legacy-bios", "uefi"]),
        instance_type: Some(t.name),
        ..Default::default()
    }
}

fn offering(o: Offering) -> output::InstanceTypeOffering {
    output::InstanceTypeOffering {
        instance_type: Some(o.instance_type),
        location_type: Some(o.location_type),
        location: Some(o.location),
    }
}

pub async fn describe_instance_types(
    engine: &Engine,
    _who: &Principal,
    req: input::DescribeInstanceTypesRequest,
) -> Result<output::DescribeInstanceTypesResult, ApiError> {
    // IncludeUnsupportedInRegion: every type in the catalogue is offered in this region.
    let page = page(req.max_results, req.next_token, 5, 100)?;
    let (types, next_token) =
        engine.describe_instance_types(&req.instance_types, &filters(req.filters)?, &page)?;
    Ok(output::DescribeInstanceTypesResult {
        instance_types: Some(types.into_iter().map(instance_type).collect()),
        next_token,
    })
}

pub async fn describe_instance_type_offerings(
    engine: &Engine,
    _who: &Principal,
    req: input::DescribeInstanceTypeOfferingsRequest,
) -> Result<output::DescribeInstanceTypeOfferingsResult, ApiError> {
    let page = page(req.max_results, req.next_token, 5, 1000)?;
    let location_type = req.location_type.unwrap_or_else(|| "region".into());
    let (offerings, next_token) =
        engine.describe_instance_type_offerings(&location_type, &filters(req.filters)?, &page)?;
    Ok(output::DescribeInstanceTypeOfferingsResult {
        instance_type_offerings: Some(offerings.into_iter().map(offering).collect()),
        next_token,
    })
}
