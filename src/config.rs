//! Configuration: defaults, then a TOML file, then environment variables and flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::instance_types::{default_catalogue, InstanceTypeSpec};
use crate::engine::regions::zone_id;
use crate::engine::{Settings, ZoneSetting};
use crate::store::DatabaseUrl;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8773";
pub const DEFAULT_REGION: &str = "us-east-1";
/// The data directory of a gateway run by an ordinary user: beside the command.
pub const DEFAULT_DATA_DIR: &str = "data";
/// The data directory of a gateway run as root: libvirt's QEMU user can reach it, wherever the
/// repository was cloned (a clone under /root, 0700, would keep QEMU out of ./data).
pub const DEFAULT_ROOT_DATA_DIR: &str = "/var/lib/ec2gw";
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;
pub const DEFAULT_MAX_INSTANCES: u32 = 20;

/// The TOML file; every key optional.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub zones: Option<Vec<ZoneEntry>>,
    pub endpoint_host: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub max_instances: Option<u32>,
    /// Instance types to add to the catalogue, or to resize (same name).
    pub instance_types: Option<Vec<InstanceTypeEntry>>,
    pub libvirt_uri: Option<String>,
    pub domain_type: Option<String>,
    pub host_vcpus: Option<i64>,
    pub host_memory_mib: Option<i64>,
    pub stop_timeout_seconds: Option<u64>,
    pub reboot_timeout_seconds: Option<u64>,
    pub launch_timeout_seconds: Option<u64>,
    pub reconcile_interval_ms: Option<u64>,
    pub metrics_listen: Option<String>,
    pub public_pool: Option<String>,
    pub max_vpcs: Option<i64>,
    pub max_addresses: Option<i64>,
    pub network: Option<String>,
    pub uplink_egress: Option<bool>,
}

/// An `[[instance_types]]` table.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InstanceTypeEntry {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub root_gib: Option<u32>,
}

/// A zone in the file: a name, or a name with its zone id.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum ZoneEntry {
    Name(String),
    Full { name: String, id: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("listen address {0:?} is not HOST:PORT")]
    Listen(String),
    #[error(
        "public_pool {0:?} is not an IPv4 CIDR block of at least 8 addresses (e.g. 198.18.0.0/15)"
    )]
    PublicPool(String),
    #[error("network {0:?} is neither \"linux\" nor \"off\"")]
    Network(String),
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })
    }
}

/// What the command line and the environment say; these win over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub zones: Option<Vec<String>>,
    pub endpoint_host: Option<String>,
    pub libvirt_uri: Option<String>,
    pub domain_type: Option<String>,
    pub metrics_listen: Option<String>,
}

/// Everything resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: DatabaseUrl,
    pub data_dir: PathBuf,
    /// Whether no flag, variable or file named the data directory.
    pub data_dir_defaulted: bool,
    pub region: String,
    pub zones: Vec<ZoneSetting>,
    pub endpoint_host: Option<String>,
    pub max_body_bytes: usize,
    pub max_instances: u32,
    pub instance_types: Vec<InstanceTypeSpec>,
    pub libvirt_uri: String,
    /// `kvm` in production; `qemu` (software emulation) where nested KVM does not work;
    /// `test` for libvirt's test driver.
    pub domain_type: String,
    pub host_vcpus: i64,
    pub host_memory_mib: i64,
    pub stop_timeout: std::time::Duration,
    pub reboot_timeout: std::time::Duration,
    pub launch_timeout: std::time::Duration,
    pub reconcile_interval: std::time::Duration,
    /// Where Prometheus scrapes `/metrics`; none (the default) serves no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Where public addresses come from: by default 198.18.0.0/15, a block set aside for
    /// testing that lives only on this host.
    pub public_pool: crate::cidr::Cidr,
    pub max_vpcs: i64,
    pub max_addresses: i64,
    /// `linux`: VPCs are built on this host (namespaces, bridges, dnsmasq, nftables); `off`:
    /// recorded only (libvirt's test driver, tests of the API alone).
    pub network: String,
    /// Whether guests may reach beyond the host through its uplink (masqueraded).
    pub uplink_egress: bool,
}

pub const DEFAULT_PUBLIC_POOL: &str = "198.18.0.0/15";

pub const DEFAULT_LIBVIRT_URI: &str = "qemu:///system";
pub const DEFAULT_DOMAIN_TYPE: &str = "qemu";

/// The host's memory in MiB, from /proc/meminfo (8 GiB if it cannot be read).
fn host_memory_mib() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(8192, |kib| kib / 1024)
}

/// The data directory when none is configured: root's is where QEMU can reach it.
pub fn default_data_dir(as_root: bool) -> PathBuf {
    PathBuf::from(if as_root {
        DEFAULT_ROOT_DATA_DIR
    } else {
        DEFAULT_DATA_DIR
    })
}

/// Whether this process runs as root (its effective uid).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Config {
    /// Resolves for the user this process runs as.
    pub fn resolve(file: FileConfig, flags: Overrides) -> Result<Config, ConfigError> {
        Config::resolve_as(file, flags, running_as_root())
    }

    /// Resolves as root (`as_root`) or as an ordinary user: only the default data directory
    /// differs.
    pub fn resolve_as(
        file: FileConfig,
        flags: Overrides,
        as_root: bool,
    ) -> Result<Config, ConfigError> {
        let listen_text = flags
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text
            .parse()
            .map_err(|_| ConfigError::Listen(listen_text.clone()))?;
        let configured = flags.data_dir.or(file.data_dir);
        let data_dir_defaulted = configured.is_none();
        let data_dir = configured.unwrap_or_else(|| default_data_dir(as_root));
        let database = match flags.database.or(file.database) {
            Some(url) => DatabaseUrl::parse(&url),
            None => DatabaseUrl::Sqlite(data_dir.join("ec2gw.sqlite")),
        };
        let region = flags
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let entries: Vec<ZoneEntry> = match (flags.zones, file.zones) {
            (Some(names), _) => names.into_iter().map(ZoneEntry::Name).collect(),
            (None, Some(entries)) => entries,
            (None, None) => ["a", "b", "c"]
                .iter()
                .map(|suffix| ZoneEntry::Name(format!("{region}{suffix}")))
                .collect(),
        };
        let zones = entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| match entry {
                ZoneEntry::Name(name) => ZoneSetting {
                    id: zone_id(&region, i + 1),
                    name,
                },
                ZoneEntry::Full { name, id } => ZoneSetting { name, id },
            })
            .collect();
        let mut instance_types = default_catalogue();
        for entry in file.instance_types.unwrap_or_default() {
            let spec = InstanceTypeSpec::sized(
                &entry.name,
                entry.vcpus,
                entry.memory_mib,
                entry.root_gib.unwrap_or(8),
            );
            match instance_types.iter_mut().find(|t| t.name == entry.name) {
                Some(existing) => *existing = spec,
                None => instance_types.push(spec),
            }
        }
        let metrics_listen = match flags.metrics_listen.or(file.metrics_listen) {
            // Empty turns off what the file or the environment turned on.
            Some(text) if text.is_empty() => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| ConfigError::Listen(text.clone()))?,
            ),
            None => None,
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
        Ok(Config {
            libvirt_uri: flags
                .libvirt_uri
                .or(file.libvirt_uri)
                .unwrap_or_else(|| DEFAULT_LIBVIRT_URI.to_owned()),
            domain_type: flags
                .domain_type
                .or(file.domain_type)
                .unwrap_or_else(|| DEFAULT_DOMAIN_TYPE.to_owned()),
            // vCPUs may be overcommitted; memory may not.
            host_vcpus: file.host_vcpus.unwrap_or(cores * 8),
            host_memory_mib: file.host_memory_mib.unwrap_or_else(host_memory_mib),
            stop_timeout: std::time::Duration::from_secs(file.stop_timeout_seconds.unwrap_or(120)),
            // EC2 hard-reboots a guest that has not shut down cleanly "within four minutes".
            reboot_timeout: std::time::Duration::from_secs(
                file.reboot_timeout_seconds.unwrap_or(240),
            ),
            launch_timeout: std::time::Duration::from_secs(
                file.launch_timeout_seconds.unwrap_or(60),
            ),
            reconcile_interval: std::time::Duration::from_millis(
                file.reconcile_interval_ms.unwrap_or(1000),
            ),
            instance_types,
            listen,
            database,
            data_dir,
            data_dir_defaulted,
            zones,
            endpoint_host: flags.endpoint_host.or(file.endpoint_host),
            max_body_bytes: file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            max_instances: file.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES),
            public_pool: {
                let text = std::env::var("EC2GW_PUBLIC_POOL")
                    .ok()
                    .or(file.public_pool)
                    .unwrap_or_else(|| DEFAULT_PUBLIC_POOL.to_owned());
                crate::cidr::Cidr::parse(&text)
                    .filter(|c| c.prefix() <= 29)
                    .ok_or(ConfigError::PublicPool(text))?
            },
            max_vpcs: file.max_vpcs.unwrap_or(5),
            max_addresses: file.max_addresses.unwrap_or(5),
            network: {
                let network = std::env::var("EC2GW_NETWORK")
                    .ok()
                    .or(file.network)
                    .unwrap_or_else(|| "linux".to_owned());
                if network != "linux" && network != "off" {
                    return Err(ConfigError::Network(network));
                }
                network
            },
            uplink_egress: file.uplink_egress.unwrap_or(false),
            region,
            metrics_listen,
        })
    }

    /// The engine's settings, once the listening address is known.
    pub fn settings(&self, bound: SocketAddr) -> Settings {
        Settings {
            region: self.region.clone(),
            endpoint_host: self
                .endpoint_host
                .clone()
                .unwrap_or_else(|| reachable(bound).to_string()),
            zones: self.zones.clone(),
            max_instances: self.max_instances,
            instance_types: self.instance_types.clone(),
            data_dir: self
                .data_dir
                .canonicalize()
                .unwrap_or_else(|_| self.data_dir.clone()),
            host_vcpus: self.host_vcpus,
            host_memory_mib: self.host_memory_mib,
            stop_timeout: self.stop_timeout,
            reboot_timeout: self.reboot_timeout,
            launch_timeout: self.launch_timeout,
            reconcile_interval: self.reconcile_interval,
            public_pool: self.public_pool,
            max_vpcs: self.max_vpcs,
            max_addresses: self.max_addresses,
        }
    }
}

/// The address a local client can reach: a wildcard listen address becomes loopback.
pub fn reachable(bound: SocketAddr) -> SocketAddr {
    let mut addr = bound;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_nothing() {
        let config =
            Config::resolve_as(FileConfig::default(), Overrides::default(), false).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8773");
        assert_eq!(
            config.database,
            DatabaseUrl::Sqlite("data/ec2gw.sqlite".into())
        );
        assert!(config.data_dir_defaulted);
        assert_eq!(
            config.zones,
            vec![
                ZoneSetting {
                    name: "us-east-1a".into(),
                    id: "use1-az1".into()
                },
                ZoneSetting {
                    name: "us-east-1b".into(),
                    id: "use1-az2".into()
                },
                ZoneSetting {
                    name: "us-east-1c".into(),
                    id: "use1-az3".into()
                },
            ]
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = "0.0.0.0:9000"
            region = "eu-central-1"
            data_dir = "/srv/ec2gw"
            zones = ["eu-central-1a", { name = "eu-central-1z", id = "euc1-az9" }]
            max_instances = 64

            [[instance_types]]
            name = "t3.micro"
            vcpus = 1
            memory_mib = 512

            [[instance_types]]
            name = "lab.huge"
            vcpus = 32
            memory_mib = 131072
            root_gib = 100
            "#,
        )
        .unwrap();
        let flags = Overrides {
            listen: Some("127.0.0.1:0".into()),
            ..Overrides::default()
        };
        let config = Config::resolve(file, flags).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:0");
        assert_eq!(
            config.database,
            DatabaseUrl::Sqlite("/srv/ec2gw/ec2gw.sqlite".into())
        );
        assert_eq!(config.zones[0].id, "euc1-az1");
        assert_eq!(config.zones[1].id, "euc1-az9");
        assert_eq!(config.max_instances, 64);
        let t3 = config
            .instance_types
            .iter()
            .find(|t| t.name == "t3.micro")
            .unwrap();
        assert_eq!((t3.vcpus, t3.memory_mib), (1, 512));
        let huge = config
            .instance_types
            .iter()
            .find(|t| t.name == "lab.huge")
            .unwrap();
        assert_eq!((huge.vcpus, huge.root_gib), (32, 100));
        let settings = config.settings("0.0.0.0:9000".parse().unwrap());
        assert_eq!(settings.endpoint_host, "127.0.0.1:9000");
    }

    /// A clone under /root (0700) must not put QEMU's disks under it: as root, the default
    /// data directory (and so the database) is /var/lib/ec2gw, which QEMU's user can reach.
    #[test]
    fn root_keeps_its_data_where_qemu_can_reach_it() {
        let config = Config::resolve_as(FileConfig::default(), Overrides::default(), true).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/ec2gw"));
        assert_eq!(
            config.database,
            DatabaseUrl::Sqlite("/var/lib/ec2gw/ec2gw.sqlite".into())
        );
        let named = Overrides {
            data_dir: Some("/srv/x".into()),
            ..Overrides::default()
        };
        let config = Config::resolve_as(FileConfig::default(), named, true).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/x"));
        assert!(!config.data_dir_defaulted);
        // Every directory on the way to the default (which `serve` creates 0711) lets QEMU's
        // user of this host in.
        let who = crate::hypervisor::reach::host_qemu_identity();
        let parent = Path::new(DEFAULT_ROOT_DATA_DIR).parent().unwrap();
        crate::hypervisor::reach::check_data_dir(parent, &who).unwrap();
    }

    #[test]
    fn metrics_are_off_unless_asked_for() {
        let config = Config::resolve(FileConfig::default(), Overrides::default()).unwrap();
        assert_eq!(config.metrics_listen, None);
        let file: FileConfig = toml::from_str(r#"metrics_listen = "127.0.0.1:9773""#).unwrap();
        let config = Config::resolve(file, Overrides::default()).unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9773".parse().unwrap())
        );
        let file: FileConfig = toml::from_str(r#"metrics_listen = "127.0.0.1:9773""#).unwrap();
        let flags = Overrides {
            metrics_listen: Some(String::new()),
            ..Overrides::default()
        };
        assert_eq!(Config::resolve(file, flags).unwrap().metrics_listen, None);
        let flags = Overrides {
            metrics_listen: Some("nowhere".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(FileConfig::default(), flags).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
