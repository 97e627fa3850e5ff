//! [`LinuxNetwork`]: the desired VPCs made with `ip`, `nft` and dnsmasq.
//!
//! Each VPC is converged from what is known of it: nothing (its namespace is new), the record
//! of the last apply (trusted, once cheap checks of the root namespace agree), or, after a
//! gateway restart, what `ip` lists inside its namespace. Commands are batched (`ip -batch`,
//! one `nft -f` per table, one `sh` per namespace setup), so a new VPC costs a handful of forks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::render::{self, DnsmasqPaths, NsConfig, UplinkState};
use super::sys::{self, Tools};
use super::{
    bridge_name, check_id, inner_subnet_name, namespace_name, namespace_prefix, pool_host,
    router_mac, subnet_veth_name, uplink_name, validate, HostNetError, HostNetSettings,
    HostNetwork, HostVpc, UPLINK_INNER,
};

/// The host network of one deployment on this machine.
pub struct LinuxNetwork {
    settings: HostNetSettings,
    tools: Tools,
    record: Mutex<Record>,
}

/// What this process has applied and not seen contradicted.
#[derive(Default)]
struct Record {
    vpcs: BTreeMap<String, Applied>,
    root_table: RootTable,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum RootTable {
    /// Not looked at since the gateway started.
    #[default]
    Unknown,
    Absent,
    Present(String),
}

/// A VPC as last applied, with the texts it was given.
#[derive(Clone)]
struct Applied {
    vpc: HostVpc,
    conf: String,
    hosts: String,
    dhcp_hosts: String,
}

impl LinuxNetwork {
    pub fn new(settings: HostNetSettings) -> Self {
        // dnsmasq runs from / and reads the paths in its configuration as they are written.
        let state_dir = std::path::absolute(&settings.state_dir).unwrap_or(settings.state_dir);
        LinuxNetwork {
            settings: HostNetSettings {
                state_dir,
                ..settings
            },
            tools: Tools::find(),
            record: Mutex::new(Record::default()),
        }
    }

    pub fn settings(&self) -> &HostNetSettings {
        &self.settings
    }

    /// A panic halfway through an apply leaves the record unreliable: forget it, so that the
    /// next apply looks at the host again.
    fn lock(&self) -> MutexGuard<'_, Record> {
        match self.record.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                let mut guard = poisoned.into_inner();
                *guard = Record::default();
                self.record.clear_poison();
                guard
            }
        }
    }

    fn dep(&self) -> &str {
        &self.settings.deployment
    }

    fn vpc_dir(&self, vpc_id: &str) -> PathBuf {
        self.settings.state_dir.join(vpc_id)
    }

    fn dnsmasq_argv(&self, paths: &DnsmasqPaths) -> [String; 2] {
        [
            self.tools.dnsmasq.to_string_lossy().into_owned(),
            format!("--conf-file={}", paths.conf().display()),
        ]
    }

    fn ip(&self, args: &[&str], input: Option<&str>) -> Result<String, HostNetError> {
        sys::run(&self.tools.ip, args, input)
    }

    fn ip_batch(&self, netns: Option<&str>, batch: &str) -> Result<(), HostNetError> {
        if batch.is_empty() {
            return Ok(());
        }
        match netns {
            Some(ns) => self.ip(&["-n", ns, "-batch", "-"], Some(batch)),
            None => self.ip(&["-batch", "-"], Some(batch)),
        }
        .map(drop)
    }

    /// Deletes root-namespace links and namespaces, tolerating those that vanish meanwhile (a
    /// veth goes with its peer's namespace); fails only if one is still there afterwards.
    fn delete(&self, links: &[String], netns: Option<&str>) -> Result<(), HostNetError> {
        let links: Vec<&String> = links.iter().filter(|l| sys::link_exists(l)).collect();
        let netns = netns.filter(|ns| sys::netns_path(ns).exists());
        let mut batch = String::new();
        for l in &links {
            let _ = writeln!(batch, "link del {l}");
        }
        if let Some(ns) = netns {
            let _ = writeln!(batch, "netns del {ns}");
        }
        if batch.is_empty() {
            return Ok(());
        }
        let result = self.ip(&["-force", "-batch", "-"], Some(&batch));
        // A device is unlisted before its sysfs entry goes: give that a moment.
        let until = Instant::now() + Duration::from_millis(500);
        loop {
            let left = links.iter().any(|l| sys::link_exists(l))
                || netns.is_some_and(|ns| sys::netns_path(ns).exists());
            if !left {
                return Ok(());
            }
            if Instant::now() >= until {
                return match result {
                    Err(e) => Err(e),
                    Ok(_) => Err(HostNetError::Unexpected(format!(
                        "still present after deletion: {}",
                        batch.trim().replace('\n', "; ")
                    ))),
                };
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the VPC's dnsmasq wherever it lives (in a namespace deleted under it, it keeps
    /// that namespace and its veths alive).
    fn stop_dnsmasq(&self, paths: &DnsmasqPaths) -> Result<(), HostNetError> {
        let argv = self.dnsmasq_argv(paths);
        let argv = [argv[0].as_str(), argv[1].as_str()];
        match sys::process_from_pid_file(&paths.pid(), &argv) {
            Some(pid) => sys::stop_process(pid, &argv),
            None => Ok(()),
        }
    }

    /// Everything of a VPC, whether recorded or only found on the host.
    fn teardown(&self, vpc_id: &str, recorded: Option<&Applied>) -> Result<(), HostNetError> {
        let started = Instant::now();
        let dep = self.dep();
        let dir = self.vpc_dir(vpc_id);
        self.stop_dnsmasq(&DnsmasqPaths { dir: &dir })?;
        let mut links = vec![uplink_name(dep, vpc_id)];
        let mut bridges = Vec::new();
        for s in recorded.iter().flat_map(|r| &r.vpc.subnets) {
            links.push(subnet_veth_name(dep, &s.subnet_id));
            bridges.push(bridge_name(dep, &s.subnet_id));
        }
        // Veth ends first: each takes its peer along at once, and the namespace then dies
        // with nothing in it.
        links.extend(bridges);
        self.delete(&links, Some(&namespace_name(dep, vpc_id)))?;
        sys::remove_dir(&dir)?;
        tracing::info!(
            vpc = vpc_id,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "host network of the VPC removed"
        );
        Ok(())
    }

    /// VPCs of this deployment recorded, with a namespace, or with a state folder, that are not
    /// wanted.
    fn remove_unwanted(
        &self,
        record: &mut Record,
        wanted: &BTreeSet<&str>,
        errors: &mut Vec<HostNetError>,
    ) {
        let prefix = namespace_prefix(self.dep());
        let mut found: BTreeSet<String> = record.vpcs.keys().cloned().collect();
        found.extend(
            sys::list_dir("/run/netns")
                .into_iter()
                .filter_map(|n| n.strip_prefix(&prefix).map(str::to_string)),
        );
        found.extend(
            sys::list_dir(&self.settings.state_dir)
                .into_iter()
                .filter(|n| self.settings.state_dir.join(n).is_dir()),
        );
        for vpc_id in found {
            if wanted.contains(vpc_id.as_str()) || check_id(&vpc_id, "vpc").is_err() {
                continue;
            }
            let recorded = record.vpcs.remove(&vpc_id);
            if let Err(e) = self.teardown(&vpc_id, recorded.as_ref()) {
                errors.push(e);
            }
        }
    }

    /// Bridges, subnet veths and uplinks of this deployment that no wanted VPC names (a subnet
    /// removed while the gateway was down). Taps are libvirt's and stay.
    fn remove_stray_links(&self, desired: &[HostVpc]) -> Result<(), HostNetError> {
        let dep = self.dep();
        let mut keep = BTreeSet::new();
        for vpc in desired {
            keep.insert(uplink_name(dep, &vpc.vpc_id));
            for s in &vpc.subnets {
                keep.insert(bridge_name(dep, &s.subnet_id));
                keep.insert(subnet_veth_name(dep, &s.subnet_id));
            }
        }
        let prefix = format!("e{dep}");
        let kind = |name: &str| name.as_bytes().get(prefix.len()).copied();
        let mut stray: Vec<String> = sys::links_with_prefix(&prefix)
            .into_iter()
            .filter(|n| matches!(kind(n), Some(b'r' | b'u' | b'b')) && !keep.contains(n))
            .collect();
        // Veths before bridges.
        stray.sort_by_key(|n| kind(n) == Some(b'b'));
        if !stray.is_empty() {
            tracing::info!(links = ?stray, "removing host network links no VPC wants");
        }
        self.delete(&stray, None)
    }

    /// The root table: replaced when it is not known to be as wanted, removed when nothing
    /// wants it. `check`: it is believed in place, but a cheap listing confirms it (another
    /// tool's `flush ruleset` would have taken the pool's guard away).
    fn ensure_root_table(
        &self,
        record: &mut Record,
        present: bool,
        check: bool,
    ) -> Result<(), HostNetError> {
        let name = format!("ec2gw-{}", self.dep());
        let want = if present {
            RootTable::Present(render::root_ruleset(&self.settings))
        } else {
            RootTable::Absent
        };
        let confirmed = || {
            !(present && check)
                || sys::run(&self.tools.nft, &["list", "table", "ip", &name], None).is_ok()
        };
        if record.root_table == want && confirmed() {
            return Ok(());
        }
        record.root_table = RootTable::Unknown;
        let text = match &want {
            RootTable::Present(definition) => render::replace_table(&name, definition),
            _ => render::root_table_removal(self.dep()),
        };
        sys::run(&self.tools.nft, &["-f", "-"], Some(&text))?;
        if present && self.settings.uplink_egress {
            // Masquerading the pool out of the host needs the host to forward.
            sys::write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
        }
        record.root_table = want;
        Ok(())
    }

    /// Whether the root-namespace side of a recorded VPC, and its dnsmasq, are still there:
    /// files and /proc only, no command.
    fn intact(&self, vpc: &HostVpc, ns_path: &Path, paths: &DnsmasqPaths) -> bool {
        let dep = self.dep();
        if !ns_path.exists() || !sys::link_exists(&uplink_name(dep, &vpc.vpc_id)) {
            return false;
        }
        for s in &vpc.subnets {
            let bridge = bridge_name(dep, &s.subnet_id);
            if !sys::link_exists(&bridge)
                || sys::link_master(&subnet_veth_name(dep, &s.subnet_id)).as_deref()
                    != Some(bridge.as_str())
            {
                return false;
            }
        }
        let argv = self.dnsmasq_argv(paths);
        vpc.subnets.is_empty()
            || sys::live_process(
                &paths.pid(),
                &[argv[0].as_str(), argv[1].as_str()],
                Some(ns_path),
            )
            .is_some()
    }

    /// `link set TAP master BRIDGE` for guests' taps left without a bridge (theirs was deleted
    /// and made again): libvirt names a tap's MAC after its guest's, with `fe` first.
    fn orphan_taps(&self, vpc: &HostVpc) -> String {
        let dep = self.dep();
        let mut s = String::new();
        for tap in sys::links_with_prefix(&format!("e{dep}t")) {
            if sys::link_master(&tap).is_some() {
                continue;
            }
            let Some(mac) = sys::link_address(&tap) else {
                continue;
            };
            let Some(rest) = mac.strip_prefix("fe") else {
                continue;
            };
            if let Some(host) = vpc.hosts.iter().find(|h| h.mac.get(2..) == Some(rest)) {
                let _ = writeln!(
                    s,
                    "link set {tap} master {}",
                    bridge_name(dep, &host.subnet_id)
                );
            }
        }
        s
    }

    /// Makes one VPC as desired, from what is known of it (`recorded`).
    fn converge(
        &self,
        vpc: &HostVpc,
        recorded: Option<Applied>,
        wanted_publics: &BTreeSet<Ipv4Addr>,
    ) -> Result<Applied, HostNetError> {
        let started = Instant::now();
        let settings = &self.settings;
        let dep = self.dep();
        let ns = namespace_name(dep, &vpc.vpc_id);
        let ns_path = sys::netns_path(&ns);
        let dir = self.vpc_dir(&vpc.vpc_id);
        let paths = DnsmasqPaths { dir: &dir };
        let uplink = uplink_name(dep, &vpc.vpc_id);

        let recorded = match recorded {
            // The VPC's own addresses are in everything: make it again.
            Some(r)
                if (&r.vpc.cidr, &r.vpc.dns_address, &r.vpc.domain)
                    != (&vpc.cidr, &vpc.dns_address, &vpc.domain) =>
            {
                self.teardown(&vpc.vpc_id, Some(&r))?;
                None
            }
            other => other,
        };
        let mut recorded = match recorded {
            Some(r) if r.vpc == *vpc && self.intact(vpc, &ns_path, &paths) => return Ok(r),
            other => other,
        };

        let fresh = !ns_path.exists();
        let mut batch_a = String::new();
        let mut have_ns = if fresh {
            // Deleted under its dnsmasq, the namespace lives on with it, and with the far
            // ends of the veths whose root ends would block their re-creation.
            self.stop_dnsmasq(&paths)?;
            let mut leftovers = vec![uplink.clone()];
            for s in vpc
                .subnets
                .iter()
                .chain(recorded.iter().flat_map(|r| &r.vpc.subnets))
            {
                leftovers.push(subnet_veth_name(dep, &s.subnet_id));
            }
            self.delete(&leftovers, None)?;
            recorded = None;
            let _ = writeln!(batch_a, "netns add {ns}");
            NsConfig::default()
        } else if let Some(r) = &recorded {
            render::namespace_config(settings, &r.vpc)
        } else {
            render::parse_listing(&self.ip(
                &["-n", &ns, "-o", "-4", "-batch", "-"],
                Some("addr show\nroute show\n"),
            )?)
        };
        let known = recorded.is_some();

        // Subnets removed since the last apply.
        let mut gone = Vec::new();
        for s in recorded.iter().flat_map(|r| &r.vpc.subnets) {
            if !vpc.subnets.iter().any(|d| d.subnet_id == s.subnet_id) {
                gone.push(subnet_veth_name(dep, &s.subnet_id));
                gone.push(bridge_name(dep, &s.subnet_id));
                have_ns.forget_link(&inner_subnet_name(&s.subnet_id));
            }
        }
        self.delete(&gone, None)?;

        let mut created = Vec::new();
        let mut batch_b = String::new();
        let mut new_bridge = false;
        for s in &vpc.subnets {
            let bridge = bridge_name(dep, &s.subnet_id);
            let veth = subnet_veth_name(dep, &s.subnet_id);
            let inner = inner_subnet_name(&s.subnet_id);
            let bridge_new = !sys::link_exists(&bridge);
            if bridge_new {
                let _ = writeln!(batch_a, "link add {bridge} type bridge stp_state 0");
                created.push(bridge.clone());
                new_bridge = true;
            }
            if bridge_new || !known {
                let _ = writeln!(batch_b, "link set {bridge} up");
            }
            if !sys::link_exists(&veth) {
                let mac = router_mac(dep, &s.subnet_id);
                let _ = writeln!(
                    batch_a,
                    "link add {veth} type veth peer name {inner} address {mac} netns {ns}"
                );
                created.push(veth.clone());
                have_ns.forget_link(&inner);
            }
            if !known || sys::link_master(&veth).as_deref() != Some(bridge.as_str()) {
                let _ = writeln!(batch_b, "link set {veth} master {bridge} up");
            }
        }
        let have_uplink = if !sys::link_exists(&uplink) {
            let _ = writeln!(
                batch_a,
                "link add {uplink} type veth peer name {UPLINK_INNER} netns {ns}"
            );
            created.push(uplink.clone());
            have_ns.forget_link(UPLINK_INNER);
            UplinkState::default()
        } else if let Some(r) = &recorded {
            UplinkState {
                up: true,
                addr: true,
                routes: r.vpc.nat.iter().map(|n| n.public).collect(),
            }
        } else {
            let listing = self.ip(
                &["-o", "-4", "-batch", "-"],
                Some(&format!(
                    "addr show dev {uplink}\nroute show dev {uplink}\n"
                )),
            )?;
            render::parse_uplink_listing(&listing, pool_host(settings.pool))
        };
        let publics: BTreeSet<Ipv4Addr> = vpc.nat.iter().map(|n| n.public).collect();
        batch_b.push_str(&render::uplink_batch(
            &uplink,
            pool_host(settings.pool),
            &publics,
            &have_uplink,
            wanted_publics,
        ));
        if new_bridge || !known {
            batch_b.push_str(&self.orphan_taps(vpc));
        }

        self.ip_batch(None, &batch_a)?;

        // A new namespace has no table; one found after a restart is replaced whole; a known
        // one only gets its changed elements (deleting is what is slow).
        let nft = match &recorded {
            _ if fresh => Some(render::namespace_ruleset(settings, vpc)),
            None => Some(render::replace_table(
                "ec2gw",
                &render::namespace_ruleset(settings, vpc),
            )),
            Some(r) => Some(render::nat_update(&r.vpc.nat, &vpc.nat)).filter(|u| !u.is_empty()),
        };
        if !known || nft.is_some() {
            let script = render::namespace_setup_script(&self.tools.nft, !known, nft.is_some());
            let sh = self.tools.sh.to_string_lossy();
            self.ip(&["netns", "exec", &ns, &sh, "-c", &script], nft.as_deref())?;
        }
        for link in &created {
            sys::disable_ipv6(link)?;
        }
        self.ip_batch(None, &batch_b)?;
        let want_ns = render::namespace_config(settings, vpc);
        self.ip_batch(Some(&ns), &render::namespace_batch(&want_ns, &have_ns))?;

        let applied = self.converge_dnsmasq(vpc, recorded.as_ref(), &ns, &ns_path, &paths)?;
        tracing::info!(
            vpc = %vpc.vpc_id,
            fresh,
            known,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "host network of the VPC applied"
        );
        Ok(applied)
    }

    /// The VPC's dnsmasq: started if it is not running (or runs elsewhere), restarted if its
    /// configuration changed or a stale lease would keep an address from its new MAC, told to
    /// re-read its hosts files (SIGHUP) if only they changed.
    fn converge_dnsmasq(
        &self,
        vpc: &HostVpc,
        recorded: Option<&Applied>,
        ns: &str,
        ns_path: &Path,
        paths: &DnsmasqPaths,
    ) -> Result<Applied, HostNetError> {
        let applied = Applied {
            vpc: vpc.clone(),
            conf: render::dnsmasq_conf(&self.settings, vpc, paths),
            hosts: render::hosts_file(vpc),
            dhcp_hosts: render::dhcp_hosts_file(vpc),
        };
        let argv = self.dnsmasq_argv(paths);
        let argv = [argv[0].as_str(), argv[1].as_str()];
        if vpc.subnets.is_empty() {
            // No one to serve until the first subnet (CreateVpc comes before CreateSubnet).
            self.stop_dnsmasq(paths)?;
            return Ok(applied);
        }
        let running = sys::live_process(&paths.pid(), &argv, Some(ns_path));
        let (conf_same, hosts_same) = match recorded {
            Some(r) => (
                r.conf == applied.conf,
                r.hosts == applied.hosts && r.dhcp_hosts == applied.dhcp_hosts,
            ),
            None => (
                sys::read_or_empty(&paths.conf())? == applied.conf,
                sys::read_or_empty(&paths.hosts())? == applied.hosts
                    && sys::read_or_empty(&paths.dhcp_hosts())? == applied.dhcp_hosts,
            ),
        };
        let leases = sys::read_or_empty(&paths.leases())?;
        match running {
            Some(pid) if conf_same && !render::lease_conflict(&leases, vpc) => {
                if !hosts_same || recorded.is_none() {
                    sys::write_file(&paths.hosts(), &applied.hosts)?;
                    sys::write_file(&paths.dhcp_hosts(), &applied.dhcp_hosts)?;
                    sys::hangup(pid)?;
                }
            }
            running => {
                match running {
                    Some(pid) => sys::stop_process(pid, &argv)?,
                    None => self.stop_dnsmasq(paths)?,
                }
                sys::create_dir(paths.dir)?;
                sys::write_file(&paths.conf(), &applied.conf)?;
                sys::write_file(&paths.hosts(), &applied.hosts)?;
                sys::write_file(&paths.dhcp_hosts(), &applied.dhcp_hosts)?;
                sys::write_file(&paths.leases(), &render::prune_leases(&leases, vpc))?;
                let ip = self.tools.ip.to_string_lossy();
                sys::start_daemon(
                    Path::new(ip.as_ref()),
                    &["netns", "exec", ns, argv[0], argv[1]],
                    &paths.stderr(),
                )?;
                if sys::live_process(&paths.pid(), &argv, Some(ns_path)).is_none() {
                    return Err(HostNetError::Unexpected(format!(
                        "dnsmasq of {} started but is not running: {}",
                        vpc.vpc_id,
                        sys::read_or_empty(&paths.stderr())?.trim()
                    )));
                }
            }
        }
        Ok(applied)
    }
}

impl HostNetwork for LinuxNetwork {
    fn apply(&self, desired: &[HostVpc]) -> Result<(), HostNetError> {
        validate(&self.settings, desired)?;
        let mut record = self.lock();
        let mut errors = Vec::new();
        let wanted: BTreeSet<&str> = desired.iter().map(|v| v.vpc_id.as_str()).collect();
        self.remove_unwanted(&mut record, &wanted, &mut errors);

        if !desired.is_empty() {
            // The guard goes in before any uplink carries the pool; without it, nothing more.
            let new_vpc = desired.iter().any(|v| !record.vpcs.contains_key(&v.vpc_id));
            self.ensure_root_table(&mut record, true, new_vpc)?;
        }
        let publics: BTreeSet<Ipv4Addr> = desired
            .iter()
            .flat_map(|v| v.nat.iter().map(|n| n.public))
            .collect();
        for vpc in desired {
            let recorded = record.vpcs.remove(&vpc.vpc_id);
            match self.converge(vpc, recorded, &publics) {
                Ok(applied) => {
                    record.vpcs.insert(vpc.vpc_id.clone(), applied);
                }
                Err(e) => {
                    tracing::warn!(vpc = %vpc.vpc_id, error = %e, "host network of the VPC not applied");
                    errors.push(e);
                }
            }
        }
        if let Err(e) = self.remove_stray_links(desired) {
            errors.push(e);
        }
        if desired.is_empty() {
            if let Err(e) = self.ensure_root_table(&mut record, false, false) {
                errors.push(e);
            }
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn purge(&self) -> Result<(), HostNetError> {
        validate(&self.settings, &[])?;
        let mut record = self.lock();
        let mut errors = Vec::new();
        self.remove_unwanted(&mut record, &BTreeSet::new(), &mut errors);
        record.vpcs.clear();
        if let Err(e) = self.remove_stray_links(&[]) {
            errors.push(e);
        }
        record.root_table = RootTable::Unknown;
        if let Err(e) = self.ensure_root_table(&mut record, false, false) {
            errors.push(e);
        }
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
