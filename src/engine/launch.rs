//! What RunInstances asks beyond type and count, checked and resolved before anything is
//! written: the metadata options, the tenancy, the block device mappings against the image,
//! whether the host can run the image's architecture, and the request's fingerprint for
//! ClientToken retries. Pure: no store, no hypervisor, no clock.

use sha2::{Digest, Sha256};

use super::instances::RunRequest;
use super::EngineError;
pub use crate::domain::{HttpTokens, MetadataSwitch, Tenancy};
use crate::store::images::ImageRow;

/// `MetadataOptions` as the client sent them; `resolve` checks them and fills EC2's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataOptionsRequest {
    pub http_tokens: Option<String>,
    pub http_endpoint: Option<String>,
    pub http_put_response_hop_limit: Option<i64>,
    pub instance_metadata_tags: Option<String>,
    pub http_protocol_ipv6: Option<String>,
}

/// One `BlockDeviceMapping.N` as the client sent it; `root_volume` decides what it means.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockDeviceRequest {
    pub device_name: Option<String>,
    pub volume_size: Option<i64>,
    pub delete_on_termination: Option<bool>,
    pub volume_type: Option<String>,
    pub encrypted: Option<bool>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub no_device: Option<String>,
    pub virtual_name: Option<String>,
}

/// An instance's metadata options, as DescribeInstances shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataOptions {
    pub http_tokens: HttpTokens,
    pub http_endpoint: MetadataSwitch,
    pub http_put_response_hop_limit: i64,
    pub instance_metadata_tags: MetadataSwitch,
    pub http_protocol_ipv6: MetadataSwitch,
}

/// The hop limits EC2 allows.
pub const HOP_LIMITS: std::ops::RangeInclusive<i64> = 1..=64;

impl Default for MetadataOptions {
    /// EC2's for a plain RunInstances of an image without `ImdsSupport: v2.0` (no image here
    /// has it) and no account-level defaults (none here): IMDSv1 and v2 both served.
    fn default() -> Self {
        MetadataOptions {
            http_tokens: HttpTokens::Optional,
            http_endpoint: MetadataSwitch::Enabled,
            http_put_response_hop_limit: 1,
            instance_metadata_tags: MetadataSwitch::Disabled,
            http_protocol_ipv6: MetadataSwitch::Disabled,
        }
    }
}

impl MetadataOptions {
    /// The options asked for, the defaults for what was not. An empty string is a value (EC2
    /// refuses `HttpEndpoint=` rather than taking the default).
    pub fn resolve(asked: &MetadataOptionsRequest) -> Result<MetadataOptions, EngineError> {
        let defaults = MetadataOptions::default();
        let invalid = |parameter, value: &str| EngineError::InvalidLaunchParameter {
            parameter,
            value: value.to_owned(),
        };
        let switch = |asked: &Option<String>, parameter, default| match asked.as_deref() {
            None => Ok(default),
            Some(v) => MetadataSwitch::parse(v).ok_or_else(|| invalid(parameter, v)),
        };
        let http_tokens = match asked.http_tokens.as_deref() {
            None => defaults.http_tokens,
            Some(v) => {
                HttpTokens::parse(v).ok_or_else(|| invalid(LaunchParameter::HttpTokens, v))?
            }
        };
        let http_endpoint = switch(
            &asked.http_endpoint,
            LaunchParameter::HttpEndpoint,
            defaults.http_endpoint,
        )?;
        let http_put_response_hop_limit = match asked.http_put_response_hop_limit {
            None => defaults.http_put_response_hop_limit,
            Some(n) if HOP_LIMITS.contains(&n) => n,
            Some(n) => {
                return Err(invalid(
                    LaunchParameter::HttpPutResponseHopLimit,
                    &n.to_string(),
                ))
            }
        };
        let instance_metadata_tags = switch(
            &asked.instance_metadata_tags,
            LaunchParameter::InstanceMetadataTags,
            defaults.instance_metadata_tags,
        )?;
        let http_protocol_ipv6 = switch(
            &asked.http_protocol_ipv6,
            LaunchParameter::HttpProtocolIpv6,
            defaults.http_protocol_ipv6,
        )?;
        Ok(MetadataOptions {
            http_tokens,
            http_endpoint,
            http_put_response_hop_limit,
            instance_metadata_tags,
            http_protocol_ipv6,
        })
    }
}

impl Tenancy {
    /// The tenancy asked for. Unlike the metadata options, an empty value is "not chosen":
    /// the Placement structure's strings are sent empty by clients (Terraform's
    /// `Placement.AvailabilityZone=`) and EC2 takes them so.
    pub fn resolve(asked: Option<&str>) -> Result<Tenancy, EngineError> {
        match asked {
            None | Some("") => Ok(Tenancy::Default),
            Some(v) => Tenancy::parse(v).ok_or_else(|| EngineError::InvalidLaunchParameter {
                parameter: LaunchParameter::Tenancy,
                value: v.to_owned(),
            }),
        }
    }
}

/// The RunInstances parameters whose values the engine checks against EC2's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchParameter {
    HttpTokens,
    HttpEndpoint,
    HttpPutResponseHopLimit,
    InstanceMetadataTags,
    HttpProtocolIpv6,
    Tenancy,
}

/// Why a block device mapping cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockDeviceFault {
    /// The mapping (1-based, in the order sent) has no DeviceName.
    MissingDeviceName { index: usize },
    /// Two mappings name one device.
    DuplicateDevice { device: String },
    /// A root volume smaller than the image it is made from.
    TooSmall {
        size_gib: i64,
        image_id: String,
        image_gib: i64,
    },
    /// A root volume larger than a gp3 volume can be.
    TooLarge { size_gib: i64, max_gib: i64 },
    /// NoDevice on the root device: an instance cannot boot without it.
    RootSuppressed { device: String },
    /// VirtualName (instance store) on the root device, which is an EBS volume.
    RootNotEbs {
        device: String,
        virtual_name: String,
    },
    /// A VirtualName that is not `ephemeralN`.
    InvalidVirtualName {
        device: String,
        virtual_name: String,
    },
    /// An EBS volume on a device other than the image's root device: only the root volume
    /// exists at launch here (attachable volumes come later).
    NotRootDevice { device: String, root_device: String },
    /// A VolumeType EC2 does not define.
    UnknownVolumeType { volume_type: String },
    /// A VolumeType EC2 defines that is not the one volumes here are (gp3).
    UnsupportedVolumeType { volume_type: String },
    /// Encrypted=true: volumes here are not encrypted.
    Encrypted,
    /// Iops other than gp3's baseline, which is what volumes here have.
    UnsupportedIops { iops: i64 },
    /// Throughput other than gp3's baseline.
    UnsupportedThroughput { throughput: i64 },
}

/// The volume types EC2 defines (the model's `VolumeType`).
pub const VOLUME_TYPES: &[&str] = &["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"];
/// What every volume here is: gp3 at its baseline, unencrypted.
pub const VOLUME_TYPE: &str = "gp3";
pub const VOLUME_IOPS: i64 = 3000;
pub const VOLUME_THROUGHPUT: i64 = 125;
/// The largest gp3 volume, in GiB.
pub const MAX_VOLUME_GIB: i64 = 65536;

/// What the mappings make of the root volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootVolume {
    pub size_gib: i32,
    pub delete_on_termination: bool,
}

fn is_ephemeral(name: &str) -> bool {
    name.strip_prefix("ephemeral")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The root volume of an instance of `image` launched with `mappings`, as EC2 reads them:
/// only the mapping on the image's root device changes the root volume (its size, at least
/// the image's, and DeleteOnTermination); NoDevice on another device removes nothing (the
/// image maps nothing else) and ephemeral devices add nothing (no instance type here has
/// instance store), both accepted as on EC2; an EBS volume on another device is refused.
/// Without a size, the root is `default_gib` (the type's root size) or the image, if larger.
pub fn root_volume(
    mappings: &[BlockDeviceRequest],
    image: &ImageRow,
    default_gib: i32,
) -> Result<RootVolume, BlockDeviceFault> {
    let root_device = image.root_device_name.as_str();
    let mut root = RootVolume {
        size_gib: image.size_gib.max(default_gib),
        delete_on_termination: true,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (i, mapping) in mappings.iter().enumerate() {
        let device = match mapping.device_name.as_deref() {
            Some(d) if !d.is_empty() => d,
            _ => return Err(BlockDeviceFault::MissingDeviceName { index: i + 1 }),
        };
        if seen.contains(&device) {
            return Err(BlockDeviceFault::DuplicateDevice {
                device: device.to_owned(),
            });
        }
        seen.push(device);
        let is_root = device == root_device;
        // NoDevice wins over whatever else the mapping says (the model: "regardless of the
        // assigned value").
        if mapping.no_device.is_some() {
            if is_root {
                return Err(BlockDeviceFault::RootSuppressed {
                    device: device.to_owned(),
                });
            }
            continue;
        }
        if let Some(virtual_name) = mapping.virtual_name.as_deref() {
            if is_root {
                return Err(BlockDeviceFault::RootNotEbs {
                    device: device.to_owned(),
                    virtual_name: virtual_name.to_owned(),
                });
            }
            if !is_ephemeral(virtual_name) {
                return Err(BlockDeviceFault::InvalidVirtualName {
                    device: device.to_owned(),
                    virtual_name: virtual_name.to_owned(),
                });
            }
            continue;
        }
        if !is_root {
            return Err(BlockDeviceFault::NotRootDevice {
                device: device.to_owned(),
                root_device: root_device.to_owned(),
            });
        }
        if let Some(volume_type) = mapping.volume_type.as_deref() {
            if !VOLUME_TYPES.contains(&volume_type) {
                return Err(BlockDeviceFault::UnknownVolumeType {
                    volume_type: volume_type.to_owned(),
                });
            }
            if volume_type != VOLUME_TYPE {
                return Err(BlockDeviceFault::UnsupportedVolumeType {
                    volume_type: volume_type.to_owned(),
                });
            }
        }
        if mapping.encrypted == Some(true) {
            return Err(BlockDeviceFault::Encrypted);
        }
        if let Some(iops) = mapping.iops.filter(|i| *i != VOLUME_IOPS) {
            return Err(BlockDeviceFault::UnsupportedIops { iops });
        }
        if let Some(throughput) = mapping.throughput.filter(|t| *t != VOLUME_THROUGHPUT) {
            return Err(BlockDeviceFault::UnsupportedThroughput { throughput });
        }
        if let Some(size) = mapping.volume_size {
            if size < i64::from(image.size_gib) {
                return Err(BlockDeviceFault::TooSmall {
                    size_gib: size,
                    image_id: image.image_id.clone(),
                    image_gib: i64::from(image.size_gib),
                });
            }
            root.size_gib = i32::try_from(size)
                .ok()
                .filter(|_| size <= MAX_VOLUME_GIB)
                .ok_or(BlockDeviceFault::TooLarge {
                    size_gib: size,
                    max_gib: MAX_VOLUME_GIB,
                })?;
        }
        if let Some(delete) = mapping.delete_on_termination {
            root.delete_on_termination = delete;
        }
    }
    Ok(root)
}

/// The architecture, in EC2's names, of the instance types of a host whose CPU is
/// `host_arch` (as `std::env::consts::ARCH` names it); None for a host EC2 has no name for.
pub fn instance_architecture(host_arch: &str) -> Option<&'static str> {
    match host_arch {
        "x86_64" => Some("x86_64"),
        "aarch64" => Some("arm64"),
        "x86" => Some("i386"),
        _ => None,
    }
}

/// Whether a host whose CPU is `host_arch` runs guests of the image architecture
/// `image_arch` (EC2's names): its own, and 32-bit x86 on a 64-bit x86 host. Emulating
/// another CPU would need its qemu-system binary (qemu-system-aarch64 is not installed on
/// the x86_64 hosts) and would boot at a crawl: such an image is refused, not launched to sit
/// in `running` forever.
pub fn host_runs(image_arch: &str, host_arch: &str) -> bool {
    match (instance_architecture(host_arch), image_arch) {
        (Some(own), image) if own == image => true,
        (Some("x86_64"), "i386") => true,
        _ => false,
    }
}

/// The image's architecture, if the host can run it; otherwise the error EC2 gives for an
/// instance type and an image of different architectures.
pub fn check_architecture(image: &ImageRow, host_arch: &str) -> Result<(), EngineError> {
    if host_runs(&image.architecture, host_arch) {
        return Ok(());
    }
    Err(EngineError::ArchitectureMismatch {
        image_id: image.image_id.clone(),
        image_architecture: image.architecture.clone(),
        instance_architecture: instance_architecture(host_arch)
            .unwrap_or(host_arch)
            .to_owned(),
    })
}

/// The request as ClientToken retries compare it: "v1:" and the SHA-256 of `canonical_v1`.
/// The version prefix lets a later encoding coexist with reservations made under this one.
pub fn request_fingerprint(req: &RunRequest) -> String {
    format!("v1:{}", hex::encode(Sha256::digest(canonical_v1(req))))
}

/// Whether a reservation's stored fingerprint is the one of `fingerprint`'s request. A
/// fingerprint from before versioning (a bare hash of the request's debug text) cannot be
/// recomputed: the token alone decides, as it did for the client that sent it.
pub fn same_request(stored: &str, fingerprint: &str) -> bool {
    if !stored.contains(':') {
        return true;
    }
    stored == fingerprint
}

/// Length-prefixed bytes, the unit of the canonical encoding.
#[derive(Default)]
struct Canonical(Vec<u8>);

impl Canonical {
    fn bytes(&mut self, value: &[u8]) {
        // A request is far below 4 GiB (the body limit is a few MiB); saturating keeps the
        // encoding total, and a value that large could never be sent twice anyway.
        let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(value);
    }

    /// An item's bytes, which `list` length-prefixes.
    fn raw(&mut self, value: &[u8]) {
        self.0.extend_from_slice(value);
    }

    /// One field: its name, then its value.
    fn field(&mut self, name: &str, value: &[u8]) {
        self.bytes(name.as_bytes());
        self.bytes(value);
    }

    fn text(&mut self, name: &str, value: &str) {
        self.field(name, value.as_bytes());
    }

    fn int(&mut self, name: &str, value: i64) {
        self.text(name, &value.to_string());
    }

    fn flag(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    fn some_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    fn some_int(&mut self, name: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.int(name, v);
        }
    }

    fn some_flag(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.flag(name, v);
        }
    }

    /// A list: each item length-prefixed in the value, in the order sent; an empty list is
    /// not written.
    fn list<T>(&mut self, name: &str, items: &[T], item: impl Fn(&mut Canonical, &T)) {
        if items.is_empty() {
            return;
        }
        let mut value = Canonical::default();
        for each in items {
            let mut one = Canonical::default();
            item(&mut one, each);
            value.bytes(&one.0);
        }
        self.field(name, &value.0);
    }
}

/// Version 1 of the request's canonical encoding: "v1", then each field as a length-prefixed
/// name and a length-prefixed value (lengths are 4 bytes, big-endian), in the fixed order
/// below; integers in decimal, booleans as `true`/`false`; a list's value is its items, each
/// length-prefixed, in the order sent (an item with fields is those fields, encoded the same
/// way); the metadata options are one field whose value is their own fields. Fields every
/// request has are always written; an optional one only when sent (an empty zone, subnet or
/// tenancy counts as not sent, as RunInstances reads them), a list only when not empty. The
/// client token is the key, not part of the request.
///
/// Never change what a field written here encodes to: reservations keep the fingerprint they
/// were made with, and a retry after an upgrade must find the same one. A field added to
/// RunRequest later is written after these, and only when it differs from its default, so
/// that requests not using it keep their fingerprint; anything else needs a "v2".
pub fn canonical_v1(req: &RunRequest) -> Vec<u8> {
    let mut c = Canonical(b"v1".to_vec());
    let sent = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    c.text("image_id", &req.image_id);
    c.text("instance_type", &req.instance_type);
    c.int("min_count", req.min_count);
    c.int("max_count", req.max_count);
    c.some_text("key_name", req.key_name.as_deref());
    c.text("user_data", &req.user_data);
    c.list("security_group_ids", &req.security_group_ids, |c, g| {
        c.raw(g.as_bytes())
    });
    c.list("security_groups", &req.security_groups, |c, g| {
        c.raw(g.as_bytes())
    });
    c.some_text("subnet_id", sent(&req.subnet_id).as_deref());
    c.some_text("availability_zone", sent(&req.availability_zone).as_deref());
    c.list(
        "block_device_mappings",
        &req.block_device_mappings,
        |c, m| {
            c.some_text("device_name", m.device_name.as_deref());
            c.some_int("volume_size", m.volume_size);
            c.some_flag("delete_on_termination", m.delete_on_termination);
            c.some_text("volume_type", m.volume_type.as_deref());
            c.some_flag("encrypted", m.encrypted);
            c.some_int("iops", m.iops);
            c.some_int("throughput", m.throughput);
            c.some_text("no_device", m.no_device.as_deref());
            c.some_text("virtual_name", m.virtual_name.as_deref());
        },
    );
    for (name, tags) in [
        ("instance_tags", &req.instance_tags),
        ("volume_tags", &req.volume_tags),
    ] {
        c.list(name, tags, |c, t| {
            c.text("key", &t.key);
            c.text("value", &t.value);
        });
    }
    c.flag("disable_api_termination", req.disable_api_termination);
    c.flag("disable_api_stop", req.disable_api_stop);
    c.text("shutdown_behavior", &req.shutdown_behavior);
    c.flag("ebs_optimized", req.ebs_optimized);
    c.flag("monitoring", req.monitoring);
    c.some_text("cpu_credits", req.cpu_credits.as_deref());
    c.flag("hibernation_configured", req.hibernation_configured);
    let m = &req.metadata_options;
    if *m != MetadataOptionsRequest::default() {
        let mut options = Canonical::default();
        options.some_text("http_tokens", m.http_tokens.as_deref());
        options.some_text("http_endpoint", m.http_endpoint.as_deref());
        options.some_int("http_put_response_hop_limit", m.http_put_response_hop_limit);
        options.some_text(
            "instance_metadata_tags",
            m.instance_metadata_tags.as_deref(),
        );
        options.some_text("http_protocol_ipv6", m.http_protocol_ipv6.as_deref());
        c.field("metadata_options", &options.0);
    }
    c.some_text("tenancy", sent(&req.tenancy).as_deref());
    // Added with network interfaces: written only when sent, so older requests keep theirs.
    c.some_text(
        "private_ip_address",
        sent(&req.private_ip_address).as_deref(),
    );
    c.some_flag("associate_public_ip", req.associate_public_ip);
    c.some_flag(
        "interface_delete_on_termination",
        req.interface_delete_on_termination,
    );
    c.some_text(
        "interface_description",
        req.interface_description.as_deref(),
    );
    c.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tags::Tag;

    fn image(size_gib: i32, architecture: &str) -> ImageRow {
        ImageRow {
            image_id: "ami-0123456789abcdef0".into(),
            owner_id: "123456789012".into(),
            name: "test".into(),
            description: String::new(),
            state: crate::domain::ImageState::Available,
            architecture: architecture.into(),
            is_public: false,
            root_device_name: "/dev/xvda".into(),
            size_gib,
            disk_path: "/nowhere".into(),
            disk_format: "qcow2".into(),
            disk_bytes: 0,
            sha256: String::new(),
            created_at: "2026-11-24T00:00:00.000Z".into(),
        }
    }

    fn mapping(device: &str) -> BlockDeviceRequest {
        BlockDeviceRequest {
            device_name: Some(device.into()),
            ..BlockDeviceRequest::default()
        }
    }

    #[test]
    fn metadata_defaults_are_ec2s_for_a_plain_launch() {
        let resolved = MetadataOptions::resolve(&MetadataOptionsRequest::default()).unwrap();
        assert_eq!(resolved, MetadataOptions::default());
        assert_eq!(
            (
                resolved.http_tokens.as_str(),
                resolved.http_endpoint.as_str(),
                resolved.http_put_response_hop_limit,
                resolved.instance_metadata_tags.as_str(),
                resolved.http_protocol_ipv6.as_str(),
            ),
            ("optional", "enabled", 1, "disabled", "disabled")
        );
    }

    #[test]
    fn metadata_options_asked_for_are_kept() {
        let asked = MetadataOptionsRequest {
            http_tokens: Some("required".into()),
            http_endpoint: Some("disabled".into()),
            http_put_response_hop_limit: Some(64),
            instance_metadata_tags: Some("enabled".into()),
            http_protocol_ipv6: Some("enabled".into()),
        };
        assert_eq!(
            MetadataOptions::resolve(&asked).unwrap(),
            MetadataOptions {
                http_tokens: HttpTokens::Required,
                http_endpoint: MetadataSwitch::Disabled,
                http_put_response_hop_limit: 64,
                instance_metadata_tags: MetadataSwitch::Enabled,
                http_protocol_ipv6: MetadataSwitch::Enabled,
            }
        );
        // Only tokens: the rest stays at the defaults (Terraform's http_tokens = "required").
        let tokens_only = MetadataOptionsRequest {
            http_tokens: Some("required".into()),
            ..MetadataOptionsRequest::default()
        };
        assert_eq!(
            MetadataOptions::resolve(&tokens_only).unwrap(),
            MetadataOptions {
                http_tokens: HttpTokens::Required,
                ..MetadataOptions::default()
            }
        );
    }

    #[test]
    fn bad_metadata_values_name_the_parameter_and_the_value() {
        let refused = |asked: MetadataOptionsRequest| match MetadataOptions::resolve(&asked) {
            Err(EngineError::InvalidLaunchParameter { parameter, value }) => (parameter, value),
            other => panic!("{other:?}"),
        };
        let r = MetadataOptionsRequest::default;
        assert_eq!(
            refused(MetadataOptionsRequest {
                http_tokens: Some("Required".into()),
                ..r()
            }),
            (LaunchParameter::HttpTokens, "Required".into())
        );
        assert_eq!(
            refused(MetadataOptionsRequest {
                http_endpoint: Some(String::new()),
                ..r()
            }),
            (LaunchParameter::HttpEndpoint, String::new())
        );
        for limit in [0, 65, -1] {
            assert_eq!(
                refused(MetadataOptionsRequest {
                    http_put_response_hop_limit: Some(limit),
                    ..r()
                }),
                (LaunchParameter::HttpPutResponseHopLimit, limit.to_string())
            );
        }
        assert_eq!(
            refused(MetadataOptionsRequest {
                instance_metadata_tags: Some("on".into()),
                ..r()
            }),
            (LaunchParameter::InstanceMetadataTags, "on".into())
        );
        assert_eq!(
            refused(MetadataOptionsRequest {
                http_protocol_ipv6: Some("yes".into()),
                ..r()
            }),
            (LaunchParameter::HttpProtocolIpv6, "yes".into())
        );
        assert!(MetadataOptions::resolve(&MetadataOptionsRequest {
            http_put_response_hop_limit: Some(1),
            ..r()
        })
        .is_ok());
    }

    #[test]
    fn tenancy_is_one_of_ec2s_three() {
        assert_eq!(Tenancy::resolve(None).unwrap(), Tenancy::Default);
        assert_eq!(Tenancy::resolve(Some("")).unwrap(), Tenancy::Default);
        assert_eq!(
            Tenancy::resolve(Some("dedicated")).unwrap(),
            Tenancy::Dedicated
        );
        assert_eq!(Tenancy::resolve(Some("host")).unwrap().as_str(), "host");
        assert!(matches!(
            Tenancy::resolve(Some("shared")),
            Err(EngineError::InvalidLaunchParameter {
                parameter: LaunchParameter::Tenancy,
                value,
            }) if value == "shared"
        ));
    }

    #[test]
    fn only_the_root_device_mapping_changes_the_root_volume() {
        let image = image(2, "x86_64");
        let plain = RootVolume {
            size_gib: 8,
            delete_on_termination: true,
        };
        assert_eq!(root_volume(&[], &image, 8), Ok(plain));
        let root = BlockDeviceRequest {
            volume_size: Some(20),
            delete_on_termination: Some(false),
            volume_type: Some("gp3".into()),
            iops: Some(3000),
            throughput: Some(125),
            encrypted: Some(false),
            ..mapping("/dev/xvda")
        };
        assert_eq!(
            root_volume(std::slice::from_ref(&root), &image, 8),
            Ok(RootVolume {
                size_gib: 20,
                delete_on_termination: false,
            })
        );
        // A size for another device is not the root's: refused, not applied to the root.
        let data = BlockDeviceRequest {
            volume_size: Some(100),
            ..mapping("/dev/sdb")
        };
        assert_eq!(
            root_volume(&[data], &image, 8),
            Err(BlockDeviceFault::NotRootDevice {
                device: "/dev/sdb".into(),
                root_device: "/dev/xvda".into(),
            })
        );
        // Smaller than the type's default but not than the image: taken as asked.
        let small = BlockDeviceRequest {
            volume_size: Some(2),
            ..mapping("/dev/xvda")
        };
        assert_eq!(root_volume(&[small], &image, 8).unwrap().size_gib, 2);
    }

    #[test]
    fn no_device_and_ephemeral_devices_elsewhere_are_accepted_and_change_nothing() {
        let image = image(2, "x86_64");
        let mappings = [
            BlockDeviceRequest {
                no_device: Some(String::new()),
                // NoDevice wins over the rest of the mapping.
                volume_size: Some(50),
                ..mapping("/dev/sdb")
            },
            BlockDeviceRequest {
                virtual_name: Some("ephemeral0".into()),
                ..mapping("/dev/sdc")
            },
            BlockDeviceRequest {
                volume_size: Some(9),
                ..mapping("/dev/xvda")
            },
        ];
        assert_eq!(
            root_volume(&mappings, &image, 8),
            Ok(RootVolume {
                size_gib: 9,
                delete_on_termination: true,
            })
        );
    }

    #[test]
    fn mappings_ec2_refuses() {
        let image = image(3, "x86_64");
        let refused = |m: Vec<BlockDeviceRequest>| root_volume(&m, &image, 8).unwrap_err();
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                volume_size: Some(2),
                ..mapping("/dev/xvda")
            }]),
            BlockDeviceFault::TooSmall {
                size_gib: 2,
                image_id: "ami-0123456789abcdef0".into(),
                image_gib: 3,
            }
        );
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                volume_size: Some(65537),
                ..mapping("/dev/xvda")
            }]),
            BlockDeviceFault::TooLarge {
                size_gib: 65537,
                max_gib: 65536,
            }
        );
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                volume_size: Some(i64::MAX),
                ..mapping("/dev/xvda")
            }]),
            BlockDeviceFault::TooLarge {
                size_gib: i64::MAX,
                max_gib: 65536,
            }
        );
        assert_eq!(
            refused(vec![mapping("/dev/sdb"), BlockDeviceRequest::default()]),
            BlockDeviceFault::NotRootDevice {
                device: "/dev/sdb".into(),
                root_device: "/dev/xvda".into(),
            }
        );
        assert_eq!(
            refused(vec![mapping("/dev/xvda"), BlockDeviceRequest::default()]),
            BlockDeviceFault::MissingDeviceName { index: 2 }
        );
        assert_eq!(
            refused(vec![mapping("/dev/xvda"), mapping("/dev/xvda")]),
            BlockDeviceFault::DuplicateDevice {
                device: "/dev/xvda".into(),
            }
        );
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                no_device: Some(String::new()),
                ..mapping("/dev/xvda")
            }]),
            BlockDeviceFault::RootSuppressed {
                device: "/dev/xvda".into(),
            }
        );
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                virtual_name: Some("ephemeral0".into()),
                ..mapping("/dev/xvda")
            }]),
            BlockDeviceFault::RootNotEbs {
                device: "/dev/xvda".into(),
                virtual_name: "ephemeral0".into(),
            }
        );
        assert_eq!(
            refused(vec![BlockDeviceRequest {
                virtual_name: Some("ephemeral".into()),
                ..mapping("/dev/sdb")
            }]),
            BlockDeviceFault::InvalidVirtualName {
                device: "/dev/sdb".into(),
                virtual_name: "ephemeral".into(),
            }
        );
        let root_with = |f: fn(&mut BlockDeviceRequest)| {
            let mut m = mapping("/dev/xvda");
            f(&mut m);
            vec![m]
        };
        assert_eq!(
            refused(root_with(|m| m.volume_type = Some("gp9".into()))),
            BlockDeviceFault::UnknownVolumeType {
                volume_type: "gp9".into(),
            }
        );
        assert_eq!(
            refused(root_with(|m| m.volume_type = Some("io2".into()))),
            BlockDeviceFault::UnsupportedVolumeType {
                volume_type: "io2".into(),
            }
        );
        assert_eq!(
            refused(root_with(|m| m.encrypted = Some(true))),
            BlockDeviceFault::Encrypted
        );
        assert_eq!(
            refused(root_with(|m| m.iops = Some(6000))),
            BlockDeviceFault::UnsupportedIops { iops: 6000 }
        );
        assert_eq!(
            refused(root_with(|m| m.throughput = Some(250))),
            BlockDeviceFault::UnsupportedThroughput { throughput: 250 }
        );
    }

    #[test]
    fn the_host_runs_its_own_architecture_and_32_bit_x86_on_x86_64() {
        assert!(host_runs("x86_64", "x86_64"));
        assert!(host_runs("i386", "x86_64"));
        assert!(!host_runs("arm64", "x86_64"));
        assert!(host_runs("arm64", "aarch64"));
        assert!(!host_runs("x86_64", "aarch64"));
        assert!(!host_runs("i386", "aarch64"));
        assert!(!host_runs("x86_64", "riscv64"));
        assert!(!host_runs("x86_64_mac", "x86_64"));
    }

    #[test]
    fn an_image_the_host_cannot_run_is_an_architecture_mismatch() {
        assert!(check_architecture(&image(1, "x86_64"), "x86_64").is_ok());
        match check_architecture(&image(1, "arm64"), "x86_64") {
            Err(EngineError::ArchitectureMismatch {
                image_id,
                image_architecture,
                instance_architecture,
            }) => assert_eq!(
                (
                    image_id.as_str(),
                    image_architecture.as_str(),
                    instance_architecture.as_str()
                ),
                ("ami-0123456789abcdef0", "arm64", "x86_64")
            ),
            other => panic!("{other:?}"),
        }
    }

    fn sample() -> RunRequest {
        RunRequest {
            image_id: "ami-1".into(),
            instance_type: "t3.micro".into(),
            min_count: 1,
            max_count: 2,
            key_name: None,
            user_data: String::new(),
            security_group_ids: vec!["sg-1".into()],
            availability_zone: Some(String::new()),
            block_device_mappings: vec![BlockDeviceRequest {
                device_name: Some("/dev/xvda".into()),
                volume_size: Some(10),
                ..BlockDeviceRequest::default()
            }],
            instance_tags: vec![Tag {
                key: "Name".into(),
                value: "web".into(),
            }],
            client_token: Some("tok".into()),
            shutdown_behavior: "stop".into(),
            metadata_options: MetadataOptionsRequest {
                http_tokens: Some("required".into()),
                ..MetadataOptionsRequest::default()
            },
            ..RunRequest::default()
        }
    }

    #[test]
    fn the_canonical_encoding_of_a_sample_request_is_pinned() {
        let expected: &[u8] = b"v1\
            \0\0\0\x08image_id\0\0\0\x05ami-1\
            \0\0\0\x0dinstance_type\0\0\0\x08t3.micro\
            \0\0\0\x09min_count\0\0\0\x011\
            \0\0\0\x09max_count\0\0\0\x012\
            \0\0\0\x09user_data\0\0\0\0\
            \0\0\0\x12security_group_ids\0\0\0\x08\0\0\0\x04sg-1\
            \0\0\0\x15block_device_mappings\0\0\0\x35\0\0\0\x31\
            \0\0\0\x0bdevice_name\0\0\0\x09/dev/xvda\
            \0\0\0\x0bvolume_size\0\0\0\x0210\
            \0\0\0\x0dinstance_tags\0\0\0\x23\0\0\0\x1f\
            \0\0\0\x03key\0\0\0\x04Name\0\0\0\x05value\0\0\0\x03web\
            \0\0\0\x17disable_api_termination\0\0\0\x05false\
            \0\0\0\x10disable_api_stop\0\0\0\x05false\
            \0\0\0\x11shutdown_behavior\0\0\0\x04stop\
            \0\0\0\x0debs_optimized\0\0\0\x05false\
            \0\0\0\x0amonitoring\0\0\0\x05false\
            \0\0\0\x16hibernation_configured\0\0\0\x05false\
            \0\0\0\x10metadata_options\0\0\0\x1b\
            \0\0\0\x0bhttp_tokens\0\0\0\x08required";
        assert_eq!(canonical_v1(&sample()), expected);
        assert_eq!(
            request_fingerprint(&sample()),
            "v1:d10d65ebd4997a2bb67ac1e621adbbf2c5395bfaba05b39be46a896aec9bbc1a"
        );
    }

    #[test]
    fn the_fingerprint_ignores_the_token_and_sees_every_field() {
        let a = sample();
        let b = RunRequest {
            client_token: Some("another".into()),
            ..a.clone()
        };
        assert_eq!(request_fingerprint(&a), request_fingerprint(&b));
        // An empty zone is no zone, as RunInstances reads it.
        let c = RunRequest {
            availability_zone: None,
            ..a.clone()
        };
        assert_eq!(request_fingerprint(&a), request_fingerprint(&c));
        let changed: Vec<RunRequest> = vec![
            RunRequest {
                max_count: 3,
                ..a.clone()
            },
            RunRequest {
                tenancy: Some("dedicated".into()),
                ..a.clone()
            },
            RunRequest {
                metadata_options: MetadataOptionsRequest::default(),
                ..a.clone()
            },
            RunRequest {
                block_device_mappings: Vec::new(),
                ..a.clone()
            },
            RunRequest {
                security_groups: vec!["sg-1".into()],
                security_group_ids: Vec::new(),
                ..a.clone()
            },
        ];
        for other in changed {
            assert_ne!(
                request_fingerprint(&a),
                request_fingerprint(&other),
                "{other:?}"
            );
        }
        // Lengths, not separators: moving a byte from one field to the next changes the hash.
        let x = RunRequest {
            image_id: "ami-1".into(),
            instance_type: "t3".into(),
            ..RunRequest::default()
        };
        let y = RunRequest {
            image_id: "ami-1t".into(),
            instance_type: "3".into(),
            ..RunRequest::default()
        };
        assert_ne!(request_fingerprint(&x), request_fingerprint(&y));
    }

    #[test]
    fn unversioned_fingerprints_leave_the_token_to_decide() {
        let now = request_fingerprint(&sample());
        assert!(same_request(&now, &now));
        assert!(!same_request("v1:00", &now));
        assert!(same_request(&"ab".repeat(32), &now));
    }
}
