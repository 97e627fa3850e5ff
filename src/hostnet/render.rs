//! The texts handed to dnsmasq, nft, `ip -batch` and sh, and the parsing of what `ip` lists:
//! pure functions, so each is tested with the exact text it produces.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use super::{
    inner_subnet_name, namespace_name, netmask, pool_host, router_of, HostNetSettings, HostVpc,
    DNS_LINK_LOCAL, METADATA_ADDRESS, UPLINK_DUMMY, UPLINK_INNER,
};

/// EC2's DHCP lease time.
const LEASE_SECONDS: u32 = 3600;

/// The files of a VPC's dnsmasq, all in its folder of the state directory.
pub(super) struct DnsmasqPaths<'a> {
    pub dir: &'a Path,
}

impl DnsmasqPaths<'_> {
    pub fn conf(&self) -> std::path::PathBuf {
        self.dir.join("dnsmasq.conf")
    }
    pub fn pid(&self) -> std::path::PathBuf {
        self.dir.join("dnsmasq.pid")
    }
    pub fn leases(&self) -> std::path::PathBuf {
        self.dir.join("leases")
    }
    pub fn dhcp_hosts(&self) -> std::path::PathBuf {
        self.dir.join("dhcp-hosts")
    }
    pub fn hosts(&self) -> std::path::PathBuf {
        self.dir.join("hosts")
    }
    /// What dnsmasq said when it was last started (it daemonises: its stderr goes to a file
    /// rather than a pipe the gateway would wait on).
    pub fn stderr(&self) -> std::path::PathBuf {
        self.dir.join("dnsmasq.err")
    }
}

/// The whole configuration of a VPC's dnsmasq. Anything here changing means a restart; the
/// hosts files it names are re-read on SIGHUP.
pub(super) fn dnsmasq_conf(
    settings: &HostNetSettings,
    vpc: &HostVpc,
    paths: &DnsmasqPaths,
) -> String {
    let dep = &settings.deployment;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# ec2gw deployment {dep}: DHCP and DNS of {}, in namespace {}.",
        vpc.vpc_id,
        namespace_name(dep, &vpc.vpc_id)
    );
    s.push_str("# Written by the gateway at every change: edits here are lost.\n");
    let _ = writeln!(s, "pid-file={}", paths.pid().display());
    let _ = writeln!(s, "dhcp-leasefile={}", paths.leases().display());
    let _ = writeln!(s, "dhcp-hostsfile={}", paths.dhcp_hosts().display());
    let _ = writeln!(s, "addn-hosts={}", paths.hosts().display());
    // Only names the gateway knows: no upstream, not the host's /etc/hosts; plain names
    // (`ip-10-0-1-5`) and the VPC's domain are answered here or not at all.
    s.push_str("no-resolv\nno-hosts\ndomain-needed\n");
    let _ = writeln!(s, "local=/{}/", vpc.domain);
    let _ = writeln!(s, "domain={}", vpc.domain);
    // Binding each address (not the wildcard) lets the metadata service and others use other
    // ports on the same addresses; new addresses are picked up as they come.
    s.push_str("bind-dynamic\ninterface=lo\nno-dhcp-interface=lo\n");
    // A guest's own idea of its name never enters the VPC's DNS.
    s.push_str("dhcp-authoritative\ndhcp-ignore-names\n");
    let size = 1u64 << (32 - u32::from(vpc.cidr.1.min(32)));
    let _ = writeln!(s, "dhcp-lease-max={}", size.min(65536));
    for subnet in &vpc.subnets {
        let tag = inner_subnet_name(&subnet.subnet_id);
        let _ = writeln!(s, "interface={tag}");
        let _ = writeln!(
            s,
            "dhcp-range=set:{tag},{},static,{},{LEASE_SECONDS}",
            subnet.cidr.0,
            netmask(subnet.cidr.1)
        );
        let _ = writeln!(
            s,
            "dhcp-option=tag:{tag},option:router,{}",
            router_of(subnet)
        );
    }
    let _ = writeln!(s, "dhcp-option=option:dns-server,{}", vpc.dns_address);
    s
}

/// `addn-hosts`: every leased address by its EC2 names, both ways (PTR too).
pub(super) fn hosts_file(vpc: &HostVpc) -> String {
    let mut hosts: Vec<_> = vpc.hosts.iter().collect();
    hosts.sort_by_key(|h| h.ip);
    let mut s = String::new();
    for h in hosts {
        let _ = writeln!(s, "{} {}.{} {}", h.ip, h.hostname, vpc.domain, h.hostname);
    }
    s
}

/// `dhcp-hostsfile`: the MACs that get an answer, each its address and name.
pub(super) fn dhcp_hosts_file(vpc: &HostVpc) -> String {
    let mut hosts: Vec<_> = vpc.hosts.iter().collect();
    hosts.sort_by_key(|h| h.ip);
    let mut s = String::new();
    for h in hosts {
        let _ = writeln!(s, "{},{},{}", h.mac, h.ip, h.hostname);
    }
    s
}

/// Leases dnsmasq remembers for an address now leased to another MAC: it refuses to hand out
/// an address "leased to" someone else until that lease expires (an hour), and neither SIGHUP
/// nor the hosts file make it forget.
pub(super) fn lease_conflict(leases: &str, vpc: &HostVpc) -> bool {
    lease_lines(leases).any(|(mac, ip)| {
        vpc.hosts
            .iter()
            .any(|h| h.ip.to_string() == ip && !h.mac.eq_ignore_ascii_case(mac))
    })
}

/// The lease file without the leases that are not (MAC, address) pairs of `vpc.hosts`.
pub(super) fn prune_leases(leases: &str, vpc: &HostVpc) -> String {
    let mut s = String::new();
    for line in leases.lines() {
        let mut words = line.split_whitespace();
        let keep = match (words.next(), words.next(), words.next()) {
            (Some("duid"), _, _) => true,
            (Some(_), Some(mac), Some(ip)) => vpc
                .hosts
                .iter()
                .any(|h| h.ip.to_string() == ip && h.mac.eq_ignore_ascii_case(mac)),
            _ => false,
        };
        if keep {
            s.push_str(line);
            s.push('\n');
        }
    }
    s
}

/// (MAC, address) of each IPv4 lease line: `expiry mac ip name client-id`.
fn lease_lines(leases: &str) -> impl Iterator<Item = (&str, &str)> {
    leases.lines().filter_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(first), Some(mac), Some(ip)) if first != "duid" => Some((mac, ip)),
            _ => None,
        }
    })
}

/// `table ip ec2gw` in a VPC's namespace: the 1:1 NAT and what may cross the uplink. Its rules
/// depend on the settings only; a VPC's public addresses are elements of its sets, so that a
/// change of them is a few elements added or deleted (see [`nat_update`]). This text creates
/// the table where there is none; [`replace_table`] puts it in place of whatever is there.
pub(super) fn namespace_ruleset(settings: &HostNetSettings, vpc: &HostVpc) -> String {
    let mut nat: Vec<_> = vpc.nat.iter().collect();
    nat.sort_by_key(|n| n.public);
    let list = |f: &dyn Fn(&super::NatMapping) -> String| {
        nat.iter().map(|n| f(n)).collect::<Vec<_>>().join(", ")
    };
    let elements = |body: String| {
        if body.is_empty() {
            String::new()
        } else {
            format!("\t\telements = {{ {body} }}\n")
        }
    };
    let (pool, pool_len) = settings.pool;
    let mut s = String::from("table ip ec2gw {\n");
    let _ = writeln!(
        s,
        "\tcomment \"ec2gw deployment {}, {}: 1:1 NAT of public addresses, the uplink's filter\"",
        settings.deployment, vpc.vpc_id
    );
    s.push_str("\tset mapped {\n\t\ttype ipv4_addr\n");
    s.push_str(&elements(list(&|n| n.private.to_string())));
    s.push_str("\t}\n\tmap public_private {\n\t\ttype ipv4_addr : ipv4_addr\n");
    s.push_str(&elements(list(&|n| {
        format!("{} : {}", n.public, n.private)
    })));
    s.push_str("\t}\n\tmap private_public {\n\t\ttype ipv4_addr : ipv4_addr\n");
    s.push_str(&elements(list(&|n| {
        format!("{} : {}", n.private, n.public)
    })));
    s.push_str("\t}\n");
    let _ = write!(
        s,
        "\tchain prerouting {{\n\
         \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tiifname \"{UPLINK_INNER}\" dnat to ip daddr map @public_private\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\toifname \"{UPLINK_INNER}\" snat to ip saddr map @private_public\n\
         \t}}\n"
    );
    // In from the uplink: only what was translated to a guest, and answers. Out: only guests
    // with a public address (anything else would leave with a private source no one can
    // answer), and only to the pool unless egress is on.
    let _ = write!(
        s,
        "\tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tiifname \"{UPLINK_INNER}\" ct state established,related accept\n\
         \t\tiifname \"{UPLINK_INNER}\" ct status dnat accept\n\
         \t\tiifname \"{UPLINK_INNER}\" drop\n\
         \t\toifname \"{UPLINK_INNER}\" ip saddr != @mapped drop\n"
    );
    if !settings.uplink_egress {
        let _ = writeln!(
            s,
            "\t\toifname \"{UPLINK_INNER}\" ip daddr != {pool}/{pool_len} drop"
        );
    }
    s.push_str("\t}\n");
    // The router itself (dnsmasq, later the metadata service) is not reachable from outside.
    let _ = write!(
        s,
        "\tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tiifname \"{UPLINK_INNER}\" ct state established,related accept\n\
         \t\tiifname \"{UPLINK_INNER}\" drop\n\
         \t}}\n"
    );
    s.push_str("}\n");
    s
}

/// Replaces a whole table in one transaction, whether or not it exists (created first so
/// that the delete cannot fail). Slow: a deletion waits for the kernel's RCU grace period
/// (about 10 ms here), where additions take a millisecond.
pub(super) fn replace_table(name: &str, definition: &str) -> String {
    format!("table ip {name}\ndelete table ip {name}\n{definition}")
}

/// The element changes of a namespace's table from one set of NAT mappings to another.
pub(super) fn nat_update(before: &[super::NatMapping], after: &[super::NatMapping]) -> String {
    let mut s = String::new();
    for n in before.iter().filter(|n| !after.contains(n)) {
        let _ = writeln!(s, "delete element ip ec2gw mapped {{ {} }}", n.private);
        let _ = writeln!(
            s,
            "delete element ip ec2gw public_private {{ {} }}",
            n.public
        );
        let _ = writeln!(
            s,
            "delete element ip ec2gw private_public {{ {} }}",
            n.private
        );
    }
    for n in after.iter().filter(|n| !before.contains(n)) {
        let _ = writeln!(s, "add element ip ec2gw mapped {{ {} }}", n.private);
        let _ = writeln!(
            s,
            "add element ip ec2gw public_private {{ {} : {} }}",
            n.public, n.private
        );
        let _ = writeln!(
            s,
            "add element ip ec2gw private_public {{ {} : {} }}",
            n.private, n.public
        );
    }
    s
}

/// The root namespace's table of this deployment, `table ip ec2gw-<dep>`: the pool lives only
/// on the uplinks. Packets from an uplink must come from the pool (a guest's private source
/// would be answered through the host's default route, off the machine), and the host sends
/// nothing for the pool anywhere but an uplink (a public address with no route, just unmapped,
/// would otherwise go to the default gateway). With egress, the pool is masqueraded out.
pub(super) fn root_ruleset(settings: &HostNetSettings) -> String {
    let dep = &settings.deployment;
    let (pool, len) = settings.pool;
    let mut s = String::new();
    let _ = write!(
        s,
        "table ip ec2gw-{dep} {{\n\
         \tcomment \"ec2gw deployment {dep}: the public pool {pool}/{len} only on its uplinks\"\n\
         \tchain prerouting {{\n\
         \t\ttype filter hook prerouting priority raw; policy accept;\n\
         \t\tiifname \"e{dep}u*\" ip saddr != {pool}/{len} drop\n\
         \t}}\n\
         \tchain output {{\n\
         \t\ttype filter hook output priority raw; policy accept;\n\
         \t\toifname \"lo\" accept\n\
         \t\tip daddr {pool}/{len} oifname != \"e{dep}u*\" drop\n\
         \t}}\n"
    );
    if settings.uplink_egress {
        let _ = write!(
            s,
            "\tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr {pool}/{len} oifname != \"e{dep}u*\" masquerade\n\
             \t}}\n"
        );
    }
    s.push_str("}\n");
    s
}

/// Removes the deployment's root table whether or not it exists.
pub(super) fn root_table_removal(dep: &str) -> String {
    format!("table ip ec2gw-{dep}\ndelete table ip ec2gw-{dep}\n")
}

/// Run by `sh` inside a namespace: its sysctls (a new namespace's IPv4 settings are copied from
/// the host's, its IPv6 ones are the defaults), then nft reading the ruleset from stdin.
/// `/proc/sys/net` is the namespace's own here, which is why this is a script and not a write
/// from the gateway.
pub(super) fn namespace_setup_script(nft: &Path, sysctls: bool, ruleset: bool) -> String {
    let mut s = String::from("set -e\n");
    if sysctls {
        s.push_str("echo 1 > /proc/sys/net/ipv4/ip_forward\n");
        // The DNS address sits on lo; guests of a subnet holding it ask for it by ARP.
        s.push_str("for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo 0 > \"$f\"; done\n");
        // The router has no IPv6: no link-local address or solicitations on the guests' L2.
        s.push_str(
            "if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; fi\n",
        );
    }
    if ruleset {
        let _ = writeln!(s, "exec {} -f -", nft.display());
    }
    s
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct IfAddr {
    pub dev: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl IfAddr {
    pub fn new(dev: &str, addr: Ipv4Addr, prefix: u8) -> Self {
        IfAddr {
            dev: dev.to_string(),
            addr,
            prefix,
        }
    }
}

/// What a namespace holds besides its links: which are up, their addresses, and the routes
/// the gateway made (kernel routes of addresses aside), in the order they must be made.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct NsConfig {
    pub up: BTreeSet<String>,
    pub addrs: BTreeSet<IfAddr>,
    /// (destination as `a.b.c.d/n` or `default`, the rest of `ip route replace`).
    pub routes: Vec<(String, String)>,
}

impl NsConfig {
    /// Forgets what was on `dev`: it was just made (a veth pair re-created after its root end
    /// was deleted).
    pub fn forget_link(&mut self, dev: &str) {
        self.up.remove(dev);
        self.addrs.retain(|a| a.dev != dev);
        let gone = format!("dev {dev}");
        self.routes.retain(|(_, spec)| !spec.contains(&gone));
    }
}

/// What a VPC's namespace must hold.
pub(super) fn namespace_config(settings: &HostNetSettings, vpc: &HostVpc) -> NsConfig {
    let mut c = NsConfig::default();
    c.up.insert("lo".into());
    c.up.insert(UPLINK_INNER.into());
    for a in [vpc.dns_address, DNS_LINK_LOCAL, METADATA_ADDRESS] {
        c.addrs.insert(IfAddr::new("lo", a, 32));
    }
    for subnet in &vpc.subnets {
        let dev = inner_subnet_name(&subnet.subnet_id);
        c.addrs
            .insert(IfAddr::new(&dev, router_of(subnet), subnet.cidr.1));
        c.up.insert(dev);
    }
    c.addrs.insert(IfAddr::new(UPLINK_INNER, UPLINK_DUMMY, 32));
    for n in &vpc.nat {
        c.addrs.insert(IfAddr::new(UPLINK_INNER, n.public, 32));
    }
    let host = pool_host(settings.pool);
    let (pool, len) = settings.pool;
    c.routes.push((
        format!("{host}/32"),
        format!("{host}/32 dev {UPLINK_INNER} scope link"),
    ));
    c.routes.push((
        format!("{pool}/{len}"),
        format!("{pool}/{len} via {host} dev {UPLINK_INNER}"),
    ));
    if settings.uplink_egress {
        c.routes.push((
            "default".into(),
            format!("default via {host} dev {UPLINK_INNER}"),
        ));
    }
    c
}

/// `ip -batch` lines taking a namespace from `have` to `want`: links up first (a route needs
/// its device up), then addresses, then routes in `want`'s order.
pub(super) fn namespace_batch(want: &NsConfig, have: &NsConfig) -> String {
    let mut s = String::new();
    for dev in want.up.difference(&have.up) {
        let _ = writeln!(s, "link set {dev} up");
    }
    for a in have.addrs.difference(&want.addrs) {
        // lo's own 127.0.0.1 is the kernel's.
        if !(a.dev == "lo" && a.addr.is_loopback()) {
            let _ = writeln!(s, "addr del {}/{} dev {}", a.addr, a.prefix, a.dev);
        }
    }
    for a in want.addrs.difference(&have.addrs) {
        let _ = writeln!(s, "addr replace {}/{} dev {}", a.addr, a.prefix, a.dev);
    }
    for (dest, spec) in &want.routes {
        if !have.routes.iter().any(|(d, sp)| d == dest && sp == spec) {
            let _ = writeln!(s, "route replace {spec}");
        }
    }
    for (dest, _) in &have.routes {
        if !want.routes.iter().any(|(d, _)| d == dest) {
            let _ = writeln!(s, "route del {dest}");
        }
    }
    s
}

/// What `ip -o -4 addr show` and `ip -4 route show` printed (run together in one batch).
/// Routes the kernel made for addresses are left out; the others get an empty spec, so that a
/// batch made against this replaces them all (their printed form is not the one given).
pub(super) fn parse_listing(text: &str) -> NsConfig {
    let mut c = NsConfig::default();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else {
            continue;
        };
        if first.ends_with(':') {
            // `2: s012345678    inet 10.0.1.1/24 brd 10.0.1.255 scope global s012345678\ ...`
            if let (Some(dev), Some(&"inet"), Some(cidr)) =
                (words.get(1), words.get(2), words.get(3))
            {
                let dev = dev.split('@').next().unwrap_or(dev);
                if let Some((addr, prefix)) = cidr.split_once('/') {
                    if let (Ok(addr), Ok(prefix)) = (addr.parse(), prefix.parse()) {
                        c.addrs.insert(IfAddr::new(dev, addr, prefix));
                    }
                }
            }
            continue;
        }
        if words.windows(2).any(|w| w == ["proto", "kernel"]) {
            continue;
        }
        let dest = match *first {
            "unreachable" | "blackhole" | "prohibit" | "throw" | "unicast" => words.get(1).copied(),
            _ => Some(*first),
        };
        if let Some(dest) = dest {
            let dest = if dest == "default" || dest.contains('/') {
                dest.to_string()
            } else {
                format!("{dest}/32")
            };
            c.routes.push((dest, String::new()));
        }
    }
    c
}

/// The root end of a VPC's uplink as it is known to be.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct UplinkState {
    pub up: bool,
    pub addr: bool,
    /// Public addresses routed to it.
    pub routes: BTreeSet<Ipv4Addr>,
}

/// `ip -batch` lines for the root end of an uplink: up, the pool's first address, a /32 route
/// per public address. A public address no longer this VPC's is left alone when any VPC wants
/// it (`wanted`): that VPC's `route replace` moves it, whichever of the two is applied first.
pub(super) fn uplink_batch(
    uplink: &str,
    host: Ipv4Addr,
    want: &BTreeSet<Ipv4Addr>,
    have: &UplinkState,
    wanted: &BTreeSet<Ipv4Addr>,
) -> String {
    let mut s = String::new();
    if !have.up {
        let _ = writeln!(s, "link set {uplink} up");
    }
    if !have.addr {
        let _ = writeln!(s, "addr replace {host}/32 dev {uplink}");
    }
    for a in have.routes.difference(want) {
        if !wanted.contains(a) {
            let _ = writeln!(s, "route del {a}/32 dev {uplink}");
        }
    }
    for a in want.difference(&have.routes) {
        let _ = writeln!(s, "route replace {a}/32 dev {uplink}");
    }
    s
}

/// An uplink's state from `ip -o -4 addr show dev U` and `ip -4 route show dev U`.
pub(super) fn parse_uplink_listing(text: &str, host: Ipv4Addr) -> UplinkState {
    let listing = parse_listing(text);
    UplinkState {
        // Unknown: `link set up` is harmless.
        up: false,
        addr: listing
            .addrs
            .iter()
            .any(|a| a.addr == host && a.prefix == 32),
        routes: listing
            .routes
            .iter()
            .filter_map(|(dest, _)| dest.strip_suffix("/32")?.parse().ok())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::vpc;
    use super::super::{HostLease, HostSubnet, NatMapping};
    use super::*;

    fn settings() -> HostNetSettings {
        HostNetSettings::new("a1b2", "/var/lib/ec2gw/network")
    }

    #[test]
    fn dnsmasq_conf_is_exact() {
        let v = vpc();
        let dir = Path::new("/var/lib/ec2gw/network/vpc-0123456789abcdef0");
        let conf = dnsmasq_conf(&settings(), &v, &DnsmasqPaths { dir });
        assert_eq!(
            conf,
            "# ec2gw deployment a1b2: DHCP and DNS of vpc-0123456789abcdef0, in namespace ec2gw-a1b2-vpc-0123456789abcdef0.\n\
             # Written by the gateway at every change: edits here are lost.\n\
             pid-file=/var/lib/ec2gw/network/vpc-0123456789abcdef0/dnsmasq.pid\n\
             dhcp-leasefile=/var/lib/ec2gw/network/vpc-0123456789abcdef0/leases\n\
             dhcp-hostsfile=/var/lib/ec2gw/network/vpc-0123456789abcdef0/dhcp-hosts\n\
             addn-hosts=/var/lib/ec2gw/network/vpc-0123456789abcdef0/hosts\n\
             no-resolv\n\
             no-hosts\n\
             domain-needed\n\
             local=/ec2.internal/\n\
             domain=ec2.internal\n\
             bind-dynamic\n\
             interface=lo\n\
             no-dhcp-interface=lo\n\
             dhcp-authoritative\n\
             dhcp-ignore-names\n\
             dhcp-lease-max=65536\n\
             interface=sfedcba987\n\
             dhcp-range=set:sfedcba987,10.0.1.0,static,255.255.255.0,3600\n\
             dhcp-option=tag:sfedcba987,option:router,10.0.1.1\n\
             dhcp-option=option:dns-server,10.0.0.2\n"
        );
    }

    #[test]
    fn hosts_files_are_exact_and_sorted() {
        let mut v = vpc();
        v.domain = "eu-west-1.compute.internal".into();
        v.hosts.insert(
            0,
            HostLease {
                subnet_id: "subnet-fedcba9876543210f".into(),
                mac: "02:00:0a:00:01:09".into(),
                ip: "10.0.1.9".parse().unwrap(),
                hostname: "ip-10-0-1-9".into(),
            },
        );
        assert_eq!(
            hosts_file(&v),
            "10.0.1.5 ip-10-0-1-5.eu-west-1.compute.internal ip-10-0-1-5\n\
             10.0.1.9 ip-10-0-1-9.eu-west-1.compute.internal ip-10-0-1-9\n"
        );
        assert_eq!(
            dhcp_hosts_file(&v),
            "02:00:0a:00:01:05,10.0.1.5,ip-10-0-1-5\n02:00:0a:00:01:09,10.0.1.9,ip-10-0-1-9\n"
        );
    }

    #[test]
    fn leases_of_an_address_given_to_another_mac_conflict_and_are_pruned() {
        let v = vpc();
        let leases = "1796423201 02:00:0a:00:01:05 10.0.1.5 ip-10-0-1-5 01:02:00:0a:00:01:05\n\
                      1796423202 02:00:0a:00:01:07 10.0.1.7 ip-10-0-1-7 *\n\
                      duid 00:01:00:01\n";
        assert!(!lease_conflict(leases, &v));
        assert_eq!(
            prune_leases(leases, &v),
            "1796423201 02:00:0a:00:01:05 10.0.1.5 ip-10-0-1-5 01:02:00:0a:00:01:05\nduid 00:01:00:01\n"
        );
        let stale = "1796423201 02:00:0a:00:01:99 10.0.1.5 ip-10-0-1-5 *\n";
        assert!(lease_conflict(stale, &v));
        assert_eq!(prune_leases(stale, &v), "");
    }

    #[test]
    fn namespace_ruleset_is_exact() {
        let mut v = vpc();
        v.nat.push(NatMapping {
            public: "198.18.0.9".parse().unwrap(),
            private: "10.0.1.9".parse().unwrap(),
        });
        assert_eq!(
            namespace_ruleset(&settings(), &v),
            "table ip ec2gw {\n\
             \tcomment \"ec2gw deployment a1b2, vpc-0123456789abcdef0: 1:1 NAT of public addresses, the uplink's filter\"\n\
             \tset mapped {\n\
             \t\ttype ipv4_addr\n\
             \t\telements = { 10.0.1.9, 10.0.1.5 }\n\
             \t}\n\
             \tmap public_private {\n\
             \t\ttype ipv4_addr : ipv4_addr\n\
             \t\telements = { 198.18.0.9 : 10.0.1.9, 198.18.0.10 : 10.0.1.5 }\n\
             \t}\n\
             \tmap private_public {\n\
             \t\ttype ipv4_addr : ipv4_addr\n\
             \t\telements = { 10.0.1.9 : 198.18.0.9, 10.0.1.5 : 198.18.0.10 }\n\
             \t}\n\
             \tchain prerouting {\n\
             \t\ttype nat hook prerouting priority dstnat; policy accept;\n\
             \t\tiifname \"up0\" dnat to ip daddr map @public_private\n\
             \t}\n\
             \tchain postrouting {\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\toifname \"up0\" snat to ip saddr map @private_public\n\
             \t}\n\
             \tchain forward {\n\
             \t\ttype filter hook forward priority filter; policy accept;\n\
             \t\tiifname \"up0\" ct state established,related accept\n\
             \t\tiifname \"up0\" ct status dnat accept\n\
             \t\tiifname \"up0\" drop\n\
             \t\toifname \"up0\" ip saddr != @mapped drop\n\
             \t\toifname \"up0\" ip daddr != 198.18.0.0/15 drop\n\
             \t}\n\
             \tchain input {\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\tiifname \"up0\" ct state established,related accept\n\
             \t\tiifname \"up0\" drop\n\
             \t}\n\
             }\n"
        );
    }

    #[test]
    fn namespace_ruleset_without_nat_declares_empty_sets_and_egress_drops_the_pool_rule() {
        let mut v = vpc();
        v.nat.clear();
        let mut s = settings();
        s.uplink_egress = true;
        let text = namespace_ruleset(&s, &v);
        assert!(
            text.contains("\tset mapped {\n\t\ttype ipv4_addr\n\t}\n"),
            "{text}"
        );
        assert!(!text.contains("elements"), "{text}");
        assert!(!text.contains("ip daddr != 198.18.0.0/15"), "{text}");
    }

    #[test]
    fn nat_changes_are_element_changes() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let a = NatMapping {
            public: ip("198.18.0.10"),
            private: ip("10.0.1.5"),
        };
        let b = NatMapping {
            public: ip("198.18.0.11"),
            private: ip("10.0.1.6"),
        };
        let moved = NatMapping {
            public: ip("198.18.0.10"),
            private: ip("10.0.1.7"),
        };
        assert_eq!(
            nat_update(std::slice::from_ref(&a), std::slice::from_ref(&a)),
            ""
        );
        assert_eq!(
            nat_update(std::slice::from_ref(&a), std::slice::from_ref(&b)),
            "delete element ip ec2gw mapped { 10.0.1.5 }\n\
             delete element ip ec2gw public_private { 198.18.0.10 }\n\
             delete element ip ec2gw private_public { 10.0.1.5 }\n\
             add element ip ec2gw mapped { 10.0.1.6 }\n\
             add element ip ec2gw public_private { 198.18.0.11 : 10.0.1.6 }\n\
             add element ip ec2gw private_public { 10.0.1.6 : 198.18.0.11 }\n"
        );
        assert_eq!(
            nat_update(&[a.clone(), b.clone()], &[moved, b]),
            "delete element ip ec2gw mapped { 10.0.1.5 }\n\
             delete element ip ec2gw public_private { 198.18.0.10 }\n\
             delete element ip ec2gw private_public { 10.0.1.5 }\n\
             add element ip ec2gw mapped { 10.0.1.7 }\n\
             add element ip ec2gw public_private { 198.18.0.10 : 10.0.1.7 }\n\
             add element ip ec2gw private_public { 10.0.1.7 : 198.18.0.10 }\n"
        );
    }

    #[test]
    fn root_ruleset_is_exact_with_and_without_egress() {
        let mut s = settings();
        assert_eq!(
            root_ruleset(&s),
            "table ip ec2gw-a1b2 {\n\
             \tcomment \"ec2gw deployment a1b2: the public pool 198.18.0.0/15 only on its uplinks\"\n\
             \tchain prerouting {\n\
             \t\ttype filter hook prerouting priority raw; policy accept;\n\
             \t\tiifname \"ea1b2u*\" ip saddr != 198.18.0.0/15 drop\n\
             \t}\n\
             \tchain output {\n\
             \t\ttype filter hook output priority raw; policy accept;\n\
             \t\toifname \"lo\" accept\n\
             \t\tip daddr 198.18.0.0/15 oifname != \"ea1b2u*\" drop\n\
             \t}\n\
             }\n"
        );
        s.uplink_egress = true;
        s.pool = ("203.0.113.0".parse().unwrap(), 24);
        assert_eq!(
            root_ruleset(&s),
            "table ip ec2gw-a1b2 {\n\
             \tcomment \"ec2gw deployment a1b2: the public pool 203.0.113.0/24 only on its uplinks\"\n\
             \tchain prerouting {\n\
             \t\ttype filter hook prerouting priority raw; policy accept;\n\
             \t\tiifname \"ea1b2u*\" ip saddr != 203.0.113.0/24 drop\n\
             \t}\n\
             \tchain output {\n\
             \t\ttype filter hook output priority raw; policy accept;\n\
             \t\toifname \"lo\" accept\n\
             \t\tip daddr 203.0.113.0/24 oifname != \"ea1b2u*\" drop\n\
             \t}\n\
             \tchain postrouting {\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\tip saddr 203.0.113.0/24 oifname != \"ea1b2u*\" masquerade\n\
             \t}\n\
             }\n"
        );
        assert_eq!(
            root_table_removal("a1b2"),
            "table ip ec2gw-a1b2\ndelete table ip ec2gw-a1b2\n"
        );
        assert_eq!(
            replace_table("ec2gw", "table ip ec2gw {\n}\n"),
            "table ip ec2gw\ndelete table ip ec2gw\ntable ip ec2gw {\n}\n"
        );
    }

    #[test]
    fn namespace_setup_script_is_exact() {
        assert_eq!(
            namespace_setup_script(Path::new("/usr/sbin/nft"), true, true),
            "set -e\n\
             echo 1 > /proc/sys/net/ipv4/ip_forward\n\
             for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo 0 > \"$f\"; done\n\
             if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; fi\n\
             exec /usr/sbin/nft -f -\n"
        );
        assert_eq!(
            namespace_setup_script(Path::new("/usr/sbin/nft"), false, true),
            "set -e\nexec /usr/sbin/nft -f -\n"
        );
    }

    #[test]
    fn a_new_namespace_gets_everything_in_order() {
        let want = namespace_config(&settings(), &vpc());
        assert_eq!(
            namespace_batch(&want, &NsConfig::default()),
            "link set lo up\n\
             link set sfedcba987 up\n\
             link set up0 up\n\
             addr replace 10.0.0.2/32 dev lo\n\
             addr replace 169.254.169.253/32 dev lo\n\
             addr replace 169.254.169.254/32 dev lo\n\
             addr replace 10.0.1.1/24 dev sfedcba987\n\
             addr replace 192.0.0.8/32 dev up0\n\
             addr replace 198.18.0.10/32 dev up0\n\
             route replace 198.18.0.1/32 dev up0 scope link\n\
             route replace 198.18.0.0/15 via 198.18.0.1 dev up0\n"
        );
        let mut s = settings();
        s.uplink_egress = true;
        let want = namespace_config(&s, &vpc());
        assert_eq!(
            want.routes.last().unwrap().1,
            "default via 198.18.0.1 dev up0"
        );
    }

    #[test]
    fn a_changed_vpc_gets_only_the_difference() {
        let s = settings();
        let before = vpc();
        let mut after = vpc();
        after.nat[0].public = "198.18.0.11".parse().unwrap();
        after.subnets.push(HostSubnet {
            subnet_id: "subnet-aaaaaaaaaaaaaaaaa".into(),
            cidr: ("10.0.2.0".parse().unwrap(), 24),
        });
        let have = namespace_config(&s, &before);
        assert_eq!(namespace_batch(&have, &have), "");
        assert_eq!(
            namespace_batch(&namespace_config(&s, &after), &have),
            "link set saaaaaaaaa up\n\
             addr del 198.18.0.10/32 dev up0\n\
             addr replace 10.0.2.1/24 dev saaaaaaaaa\n\
             addr replace 198.18.0.11/32 dev up0\n"
        );
        // The uplink re-made: its addresses and routes are gone with it.
        let mut have = namespace_config(&s, &before);
        have.forget_link("up0");
        assert_eq!(
            namespace_batch(&namespace_config(&s, &before), &have),
            "link set up0 up\n\
             addr replace 192.0.0.8/32 dev up0\n\
             addr replace 198.18.0.10/32 dev up0\n\
             route replace 198.18.0.1/32 dev up0 scope link\n\
             route replace 198.18.0.0/15 via 198.18.0.1 dev up0\n"
        );
    }

    #[test]
    fn a_listed_namespace_is_brought_to_what_is_wanted() {
        let listing = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                       1: lo    inet 10.0.0.2/32 scope global lo\\       valid_lft forever preferred_lft forever\n\
                       2: sfedcba987    inet 10.0.1.1/24 scope global sfedcba987\\       valid_lft forever preferred_lft forever\n\
                       3: up0    inet 198.18.0.77/32 scope global up0\\       valid_lft forever preferred_lft forever\n\
                       default via 198.18.0.1 dev up0 \n\
                       10.0.1.0/24 dev sfedcba987 proto kernel scope link src 10.0.1.1 \n\
                       198.18.0.0/15 via 198.18.0.1 dev up0 \n\
                       198.18.0.1 dev up0 scope link \n";
        let have = parse_listing(listing);
        assert_eq!(have.addrs.len(), 4);
        assert_eq!(
            have.routes,
            vec![
                ("default".to_string(), String::new()),
                ("198.18.0.0/15".to_string(), String::new()),
                ("198.18.0.1/32".to_string(), String::new()),
            ]
        );
        assert_eq!(
            namespace_batch(&namespace_config(&settings(), &vpc()), &have),
            "link set lo up\n\
             link set sfedcba987 up\n\
             link set up0 up\n\
             addr del 198.18.0.77/32 dev up0\n\
             addr replace 169.254.169.253/32 dev lo\n\
             addr replace 169.254.169.254/32 dev lo\n\
             addr replace 192.0.0.8/32 dev up0\n\
             addr replace 198.18.0.10/32 dev up0\n\
             route replace 198.18.0.1/32 dev up0 scope link\n\
             route replace 198.18.0.0/15 via 198.18.0.1 dev up0\n\
             route del default\n"
        );
    }

    #[test]
    fn uplink_batch_is_exact() {
        let host: Ipv4Addr = "198.18.0.1".parse().unwrap();
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let want: BTreeSet<_> = [ip("198.18.0.10"), ip("198.18.0.11")].into();
        assert_eq!(
            uplink_batch(
                "ea1b2u012345678",
                host,
                &want,
                &UplinkState::default(),
                &BTreeSet::new()
            ),
            "link set ea1b2u012345678 up\n\
             addr replace 198.18.0.1/32 dev ea1b2u012345678\n\
             route replace 198.18.0.10/32 dev ea1b2u012345678\n\
             route replace 198.18.0.11/32 dev ea1b2u012345678\n"
        );
        let listed = parse_uplink_listing(
            "9: ea1b2u012345678    inet 198.18.0.1/32 scope global ea1b2u012345678\\       valid_lft forever preferred_lft forever\n\
             198.18.0.10 scope link \n\
             198.18.0.12 scope link \n\
             198.18.0.13 scope link \n",
            host,
        );
        assert!(listed.addr);
        let moved: BTreeSet<_> = [ip("198.18.0.13")].into();
        assert_eq!(
            uplink_batch("ea1b2u012345678", host, &want, &listed, &moved),
            "link set ea1b2u012345678 up\n\
             route del 198.18.0.12/32 dev ea1b2u012345678\n\
             route replace 198.18.0.11/32 dev ea1b2u012345678\n"
        );
    }
}
