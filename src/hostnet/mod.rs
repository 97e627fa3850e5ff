//! The host side of EC2 VPC networking, built from Linux parts: what the engine's desired state
//! becomes on this host.
//!
//! - One network namespace per VPC (`ec2gw-<deployment>-<vpc_id>`) is the VPC's router: each
//!   subnet's +1 address on a veth end inside it, IPv4 forwarding on, IPv6 off, no route out.
//! - One bridge per subnet in the root namespace (libvirt puts guests' taps there), with no
//!   address and IPv6 off, so the host itself is not on the guests' L2. The router's veth is one
//!   of its ports; a VXLAN device (`e<dep>x<subnet>`, with a static FDB) can later be another,
//!   to stretch the subnet across hosts, without changing anything here.
//! - One dnsmasq per VPC inside the namespace: DHCP with static ranges (only the MACs the engine
//!   leased get an address), DNS at the VPC's +2 (and 169.254.169.253) answering
//!   `ip-a-b-c-d[.domain]` and nothing else.
//! - The public side: a veth per VPC between the namespace (`up0`) and the root namespace, the
//!   pool's first address on every root end; 1:1 NAT of each public address in the namespace's
//!   `table ip ec2gw` (the addresses are elements of its maps, so a change adds or deletes
//!   elements and never touches a rule), a /32 route per public address in the root namespace,
//!   and a root `table ip ec2gw-<deployment>` keeping the pool on the uplinks (and, with
//!   `uplink_egress`, masquerading the pool out of the host).
//! - Repairs keep what guests see: the router's MAC is derived from its subnet, so a namespace
//!   made again answers with the same one; guests' taps left without a bridge are put back on
//!   it, found by the MAC libvirt gives them.
//!
//! Everything made here is named after the deployment, so that `apply` and `purge` can find what
//! is theirs, and touch nothing else.

mod linux;
mod render;
#[cfg(test)]
mod root_tests;
mod sys;

use std::net::Ipv4Addr;
use std::path::PathBuf;

pub use linux::LinuxNetwork;

/// The default public address pool: RFC 2544's benchmarking range, routed nowhere on the
/// Internet, so a misrouted packet cannot reach anyone's real address.
pub const DEFAULT_POOL: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNetSettings {
    /// Four lowercase letters or digits, unique per database; in every name made here.
    pub deployment: String,
    /// The public address pool; its first address (.1) is the host's end of every uplink.
    pub pool: (Ipv4Addr, u8),
    /// `DATA_DIR/network`: dnsmasq's configuration, hosts files, pid files and leases, one
    /// folder per VPC. dnsmasq reads its hosts files as `nobody`: every directory above must be
    /// searchable by others (DATA_DIR is 0711).
    pub state_dir: PathBuf,
    /// Off: guests reach only the host and the pool. On: the pool is masqueraded out of the
    /// host (and the host forwards IPv4).
    pub uplink_egress: bool,
}

impl HostNetSettings {
    /// The default pool, no egress.
    pub fn new(deployment: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        HostNetSettings {
            deployment: deployment.into(),
            pool: DEFAULT_POOL,
            state_dir: state_dir.into(),
            uplink_egress: false,
        }
    }
}

/// A VPC as the host must make it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVpc {
    pub vpc_id: String,
    pub cidr: (Ipv4Addr, u8),
    /// The VPC's base +2.
    pub dns_address: Ipv4Addr,
    /// `ec2.internal` or `REGION.compute.internal`.
    pub domain: String,
    pub subnets: Vec<HostSubnet>,
    /// The only MACs that get a DHCP answer, and the names DNS answers.
    pub hosts: Vec<HostLease>,
    pub nat: Vec<NatMapping>,
}

/// The router is the network's +1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSubnet {
    pub subnet_id: String,
    pub cidr: (Ipv4Addr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostLease {
    pub subnet_id: String,
    /// Lowercase, `02:xx:xx:xx:xx:xx`.
    pub mac: String,
    pub ip: Ipv4Addr,
    /// `ip-10-0-1-5`.
    pub hostname: String,
}

/// A public address translated 1:1 to a private one, both ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatMapping {
    pub public: Ipv4Addr,
    pub private: Ipv4Addr,
}

#[derive(Debug, thiserror::Error)]
pub enum HostNetError {
    /// A command ran and failed; `stderr` has its own words.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// A command could not be started at all.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The desired state or the settings cannot be made (a name clash, an address outside its
    /// network): nothing was changed.
    #[error("invalid host network: {0}")]
    Invalid(String),
    /// The host did not end up as asked although every command succeeded (a link that survived
    /// its deletion, a dnsmasq that started and died).
    #[error("{0}")]
    Unexpected(String),
}

/// What the engine needs from the host's network.
pub trait HostNetwork: Send + Sync {
    /// Make this host match `desired` for this deployment: create what is missing, repair what
    /// drifted, update what changed, and remove everything of this deployment not in `desired`.
    /// Blocking; idempotent; cheap when nothing changed (an in-memory record of what was
    /// applied per VPC plus existence checks that fork nothing).
    fn apply(&self, desired: &[HostVpc]) -> Result<(), HostNetError>;
    /// Remove everything of this deployment (admin command and test teardown).
    fn purge(&self) -> Result<(), HostNetError>;
}

/// The id's first 9 characters after its prefix (`subnet-0123456789abcdef0` -> `012345678`).
fn id_digits(id: &str) -> &str {
    let tail = id.split_once('-').map_or(id, |(_, tail)| tail);
    tail.char_indices().nth(9).map_or(tail, |(i, _)| &tail[..i])
}

/// A subnet's bridge in the root namespace: libvirt's `<source bridge=...>`.
pub fn bridge_name(deployment: &str, subnet_id: &str) -> String {
    format!("e{deployment}b{}", id_digits(subnet_id))
}

/// A network interface's tap: libvirt's `<target dev=...>` for an `eni-`.
pub fn tap_name(deployment: &str, interface_id: &str) -> String {
    format!("e{deployment}t{}", id_digits(interface_id))
}

/// The root end of the veth pair joining a subnet's bridge to its VPC's router.
pub fn subnet_veth_name(deployment: &str, subnet_id: &str) -> String {
    format!("e{deployment}r{}", id_digits(subnet_id))
}

/// The root end of a VPC's uplink; `up0` is the other end, in the namespace.
pub fn uplink_name(deployment: &str, vpc_id: &str) -> String {
    format!("e{deployment}u{}", id_digits(vpc_id))
}

/// A VPC's network namespace (`ip netns`).
pub fn namespace_name(deployment: &str, vpc_id: &str) -> String {
    format!("{}{vpc_id}", namespace_prefix(deployment))
}

fn namespace_prefix(deployment: &str) -> String {
    format!("ec2gw-{deployment}-")
}

/// A subnet's veth end inside its VPC's namespace, holding the router address.
fn inner_subnet_name(subnet_id: &str) -> String {
    format!("s{}", id_digits(subnet_id))
}

/// The router's MAC on a subnet: the same whenever its veth is made again (a namespace
/// deleted and restored), so guests' ARP caches stay right. Locally administered, first octet
/// `0e`, apart from the `02` of guests' MACs.
pub fn router_mac(deployment: &str, subnet_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("ec2gw router {deployment} {subnet_id}"));
    let mut mac = String::from("0e");
    for b in &digest[..5] {
        mac.push_str(&format!(":{b:02x}"));
    }
    mac
}

/// The namespace's end of the uplink.
const UPLINK_INNER: &str = "up0";

/// Always on `up0`: the kernel flushes every route through an interface when its last IPv4
/// address goes, and the public addresses on `up0` come and go. RFC 7600's "IPv4 dummy
/// address", meant for exactly this.
const UPLINK_DUMMY: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 8);

/// The metadata service's address, on every namespace's lo (served later).
const METADATA_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// EC2's second address for the VPC's DNS.
const DNS_LINK_LOCAL: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 253);

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

fn network_of(addr: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(addr) & mask(prefix))
}

fn contains(cidr: (Ipv4Addr, u8), addr: Ipv4Addr) -> bool {
    network_of(addr, cidr.1) == cidr.0
}

fn offset(base: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base).wrapping_add(n))
}

/// A subnet's router: its network +1.
fn router_of(subnet: &HostSubnet) -> Ipv4Addr {
    offset(subnet.cidr.0, 1)
}

/// The host's end of every uplink: the pool's first address.
fn pool_host(pool: (Ipv4Addr, u8)) -> Ipv4Addr {
    offset(pool.0, 1)
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(mask(prefix))
}

fn invalid(message: impl Into<String>) -> HostNetError {
    HostNetError::Invalid(message.into())
}

fn is_lower_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `vpc-0123abcd` and longer: what goes into names, paths and command lines must be plain.
fn check_id(id: &str, prefix: &str) -> Result<(), HostNetError> {
    match id.split_once('-') {
        Some((p, digits)) if p == prefix && digits.len() >= 8 && is_lower_hex(digits) => Ok(()),
        _ => Err(invalid(format!("`{id}` is not a {prefix}- id"))),
    }
}

fn check_cidr(what: &str, cidr: (Ipv4Addr, u8), max_prefix: u8) -> Result<(), HostNetError> {
    if cidr.1 > max_prefix || network_of(cidr.0, cidr.1) != cidr.0 {
        return Err(invalid(format!(
            "{what}: {}/{} is not a network",
            cidr.0, cidr.1
        )));
    }
    Ok(())
}

fn check_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && is_lower_hex(p))
}

fn check_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Everything `apply` will put into names, files and command lines, checked before anything is
/// touched: an invalid entry fails the whole apply rather than half-making a network.
fn validate(settings: &HostNetSettings, desired: &[HostVpc]) -> Result<(), HostNetError> {
    let dep = &settings.deployment;
    if dep.len() != 4
        || !dep
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(invalid(format!(
            "deployment `{dep}` is not 4 lowercase letters or digits"
        )));
    }
    check_cidr("pool", settings.pool, 30)?;
    let state_dir = settings.state_dir.to_str().unwrap_or("\n");
    if state_dir.chars().any(char::is_control) {
        return Err(invalid("the state directory's path must be plain text"));
    }

    let mut names = std::collections::BTreeMap::new();
    let mut publics = std::collections::BTreeSet::new();
    let mut claim = |name: String, owner: &str| match names.insert(name.clone(), owner.to_string())
    {
        Some(other) => Err(invalid(format!(
            "{owner} and {other} would share the interface name {name}"
        ))),
        None => Ok(()),
    };
    for vpc in desired {
        check_id(&vpc.vpc_id, "vpc")?;
        claim(uplink_name(dep, &vpc.vpc_id), &vpc.vpc_id)?;
        check_cidr(&vpc.vpc_id, vpc.cidr, 28)?;
        if !contains(vpc.cidr, vpc.dns_address) {
            return Err(invalid(format!(
                "{}: DNS address {} is outside the VPC",
                vpc.vpc_id, vpc.dns_address
            )));
        }
        if !check_label(&vpc.domain) {
            return Err(invalid(format!("{}: domain `{}`", vpc.vpc_id, vpc.domain)));
        }
        for (i, subnet) in vpc.subnets.iter().enumerate() {
            check_id(&subnet.subnet_id, "subnet")?;
            claim(bridge_name(dep, &subnet.subnet_id), &subnet.subnet_id)?;
            check_cidr(&subnet.subnet_id, subnet.cidr, 29)?;
            if subnet.cidr.1 < vpc.cidr.1 || !contains(vpc.cidr, subnet.cidr.0) {
                return Err(invalid(format!(
                    "{} is outside {}",
                    subnet.subnet_id, vpc.vpc_id
                )));
            }
            for other in &vpc.subnets[..i] {
                let shorter = other.cidr.1.min(subnet.cidr.1);
                if network_of(other.cidr.0, shorter) == network_of(subnet.cidr.0, shorter) {
                    return Err(invalid(format!(
                        "{} overlaps {}",
                        subnet.subnet_id, other.subnet_id
                    )));
                }
            }
        }
        let mut macs = std::collections::BTreeSet::new();
        let mut ips = std::collections::BTreeSet::new();
        for host in &vpc.hosts {
            let Some(subnet) = vpc.subnets.iter().find(|s| s.subnet_id == host.subnet_id) else {
                return Err(invalid(format!(
                    "{}: lease of {} in unknown subnet {}",
                    vpc.vpc_id, host.ip, host.subnet_id
                )));
            };
            let last = offset(subnet.cidr.0, !mask(subnet.cidr.1));
            if !contains(subnet.cidr, host.ip)
                || host.ip == subnet.cidr.0
                || host.ip == router_of(subnet)
                || host.ip == last
            {
                return Err(invalid(format!(
                    "{}: {} cannot be leased in {}",
                    vpc.vpc_id, host.ip, host.subnet_id
                )));
            }
            if !check_mac(&host.mac) || !check_label(&host.hostname) {
                return Err(invalid(format!(
                    "{}: lease {} / {} / {}",
                    vpc.vpc_id, host.mac, host.ip, host.hostname
                )));
            }
            if !macs.insert(host.mac.as_str()) || !ips.insert(host.ip) {
                return Err(invalid(format!(
                    "{}: {} or {} leased twice",
                    vpc.vpc_id, host.mac, host.ip
                )));
            }
        }
        let mut privates = std::collections::BTreeSet::new();
        for nat in &vpc.nat {
            if !contains(settings.pool, nat.public)
                || nat.public == settings.pool.0
                || nat.public == pool_host(settings.pool)
            {
                return Err(invalid(format!(
                    "{}: public address {} is not in the pool",
                    vpc.vpc_id, nat.public
                )));
            }
            if !contains(vpc.cidr, nat.private) {
                return Err(invalid(format!(
                    "{}: private address {} is outside the VPC",
                    vpc.vpc_id, nat.private
                )));
            }
            if !publics.insert(nat.public) || !privates.insert(nat.private) {
                return Err(invalid(format!(
                    "{}: {} or {} mapped twice",
                    vpc.vpc_id, nat.public, nat.private
                )));
            }
        }
    }
    let mut ids = std::collections::BTreeSet::new();
    for vpc in desired {
        if !ids.insert(vpc.vpc_id.as_str()) {
            return Err(invalid(format!("{} is desired twice", vpc.vpc_id)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HostNetSettings {
        HostNetSettings::new("a1b2", "/var/lib/ec2gw/network")
    }

    pub(super) fn vpc() -> HostVpc {
        HostVpc {
            vpc_id: "vpc-0123456789abcdef0".into(),
            cidr: (Ipv4Addr::new(10, 0, 0, 0), 16),
            dns_address: Ipv4Addr::new(10, 0, 0, 2),
            domain: "ec2.internal".into(),
            subnets: vec![HostSubnet {
                subnet_id: "subnet-fedcba9876543210f".into(),
                cidr: (Ipv4Addr::new(10, 0, 1, 0), 24),
            }],
            hosts: vec![HostLease {
                subnet_id: "subnet-fedcba9876543210f".into(),
                mac: "02:00:0a:00:01:05".into(),
                ip: Ipv4Addr::new(10, 0, 1, 5),
                hostname: "ip-10-0-1-5".into(),
            }],
            nat: vec![NatMapping {
                public: Ipv4Addr::new(198, 18, 0, 10),
                private: Ipv4Addr::new(10, 0, 1, 5),
            }],
        }
    }

    #[test]
    fn names_fit_linux_and_say_whose_they_are() {
        assert_eq!(
            bridge_name("a1b2", "subnet-0123456789abcdef0"),
            "ea1b2b012345678"
        );
        assert_eq!(
            subnet_veth_name("a1b2", "subnet-0123456789abcdef0"),
            "ea1b2r012345678"
        );
        assert_eq!(
            uplink_name("a1b2", "vpc-fedcba9876543210f"),
            "ea1b2ufedcba987"
        );
        assert_eq!(tap_name("a1b2", "eni-00112233445566778"), "ea1b2t001122334");
        assert_eq!(
            namespace_name("a1b2", "vpc-fedcba9876543210f"),
            "ec2gw-a1b2-vpc-fedcba9876543210f"
        );
        assert_eq!(inner_subnet_name("subnet-0123456789abcdef0"), "s012345678");
        assert_eq!(
            router_mac("a1b2", "subnet-0123456789abcdef0"),
            "0e:c6:b4:6d:0e:d8"
        );
        assert_ne!(
            router_mac("a1b2", "subnet-0123456789abcdef0"),
            router_mac("a1b2", "subnet-0123456789abcdef1")
        );
        assert_eq!(bridge_name("a1b2", "subnet-0123abcd"), "ea1b2b0123abcd");
        for name in [
            bridge_name("a1b2", "subnet-0123456789abcdef0"),
            tap_name("a1b2", "eni-0123456789abcdef0"),
        ] {
            assert!(name.len() <= 15, "{name}");
        }
    }

    #[test]
    fn address_arithmetic() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::new(0, 0, 0, 0));
        assert_eq!(pool_host(DEFAULT_POOL), Ipv4Addr::new(198, 18, 0, 1));
        assert!(contains(DEFAULT_POOL, Ipv4Addr::new(198, 19, 255, 254)));
        assert!(!contains(DEFAULT_POOL, Ipv4Addr::new(198, 20, 0, 1)));
    }

    #[test]
    fn validation_accepts_a_plain_vpc() {
        validate(&settings(), &[vpc()]).unwrap();
        validate(&settings(), &[]).unwrap();
    }

    #[test]
    fn validation_refuses_what_would_break_names_or_isolation() {
        let bad = |f: &dyn Fn(&mut HostNetSettings, &mut Vec<HostVpc>)| {
            let mut s = settings();
            let mut v = vec![vpc()];
            f(&mut s, &mut v);
            validate(&s, &v).unwrap_err()
        };
        bad(&|s, _| s.deployment = "A1B2".into());
        bad(&|s, _| s.deployment = "a1b".into());
        bad(&|s, _| s.pool = (Ipv4Addr::new(198, 18, 0, 1), 15));
        bad(&|_, v| v[0].vpc_id = "vpc-01\nlink del eth0".into());
        bad(&|_, v| v[0].dns_address = Ipv4Addr::new(10, 1, 0, 2));
        bad(&|_, v| v[0].subnets[0].cidr = (Ipv4Addr::new(10, 1, 1, 0), 24));
        bad(&|_, v| v[0].hosts[0].ip = Ipv4Addr::new(10, 0, 1, 1));
        bad(&|_, v| v[0].hosts[0].mac = "02:00:0A:00:01:05".into());
        bad(&|_, v| v[0].nat[0].public = Ipv4Addr::new(8, 8, 8, 8));
        bad(&|_, v| v[0].nat[0].public = Ipv4Addr::new(198, 18, 0, 1));
        bad(&|_, v| {
            // Same first nine digits: one bridge for two subnets would join their L2.
            let mut s = v[0].subnets[0].clone();
            s.subnet_id = "subnet-fedcba987ffffffff".into();
            s.cidr = (Ipv4Addr::new(10, 0, 2, 0), 24);
            v[0].subnets.push(s);
        });
        bad(&|_, v| {
            let mut s = v[0].subnets[0].clone();
            s.subnet_id = "subnet-aaaaaaaaaaaaaaaaa".into();
            s.cidr = (Ipv4Addr::new(10, 0, 0, 0), 20);
            v[0].subnets.push(s);
        });
        bad(&|_, v| {
            let other = v[0].clone();
            v.push(other);
        });
    }
}
