//! Root only: real namespaces, bridges, veths, dnsmasq and nft, with "guests" that are network
//! namespaces of the test's own (a veth each, its root end on the subnet's bridge, named and
//! addressed as libvirt names a guest's tap). Packets go only to loopback and to addresses in
//! those namespaces and bridges. Skipped, saying why, when not root or a tool is missing.

use std::cell::RefCell;
use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

use super::*;

const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# udhcpc's hook: configure eth0 as a cloud image's DHCP client would, and say what was offered.
case "$1" in
  deconfig)
    ip link set "$interface" up
    ip addr flush dev "$interface"
    ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    ip route replace default via "$router" dev "$interface"
    printf 'ip=%s/%s router=%s dns=%s domain=%s hostname=%s\n' \
      "$ip" "$mask" "$router" "$dns" "$domain" "$hostname" > "$LEASE_OUT"
    ;;
esac
exit 0
"#;

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

fn ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip_batch(batch: &str) {
    let mut child = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), batch.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "ip -batch: {batch}");
}

fn in_ns(ns: &str, args: &[&str]) -> Output {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// One echo request, a second to answer: for what must not be reachable.
fn ping(ns: &str, addr: &str) -> bool {
    in_ns(ns, &["busybox", "ping", "-c", "1", "-W", "1", addr])
        .status
        .success()
}

/// Up to three tries, as a guest's own retransmissions would (the first packet after a repair
/// may wait on ARP); what the guest and the bridges see is printed if all fail.
fn reach(ns: &str, addr: &str) -> bool {
    if let Some(n) = (1..=3).find(|_| ping(ns, addr)) {
        if n > 1 {
            eprintln!("{ns} reached {addr} at the try {n}");
        }
        return true;
    }
    for args in [vec!["-n", ns, "neigh"], vec!["-n", ns, "-br", "addr"]] {
        let out = run("ip", &args);
        eprintln!(
            "ip {}:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let out = run("bridge", &["link", "show"]);
    eprintln!(
        "bridge link show:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    false
}

fn nslookup(ns: &str, name: &str) -> String {
    let out = in_ns(ns, &["busybox", "nslookup", name, "10.0.0.2"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Connects from the root namespace and reads what the listener says, retrying while the
/// listener may still be starting (refused); None if nothing answered.
fn fetch(addr: Ipv4Addr, port: u16, patience: Duration) -> Option<String> {
    let until = Instant::now() + patience;
    loop {
        let target = SocketAddr::from((addr, port));
        match TcpStream::connect_timeout(&target, Duration::from_millis(500)) {
            Ok(mut s) => {
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                return Some(text);
            }
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return None,
        }
    }
}

/// Who connects to `listener` within `patience`.
fn accept_from(listener: &TcpListener, patience: Duration) -> Option<Ipv4Addr> {
    listener.set_nonblocking(true).unwrap();
    let until = Instant::now() + patience;
    while Instant::now() < until {
        if let Ok((_, SocketAddr::V4(peer))) = listener.accept() {
            return Some(*peer.ip());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn dnsmasq_pid(state_dir: &Path, vpc_id: &str) -> i32 {
    std::fs::read_to_string(state_dir.join(vpc_id).join("dnsmasq.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// (RSS, private) KiB of a process.
fn memory_kib(pid: i32) -> (u64, u64) {
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    (
        field(&status, "VmRSS:"),
        field(&rollup, "Private_Clean:") + field(&rollup, "Private_Dirty:"),
    )
}

/// Kernel memory that namespaces, devices and their tables take.
fn kernel_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    ["Slab:", "Percpu:", "KernelStack:", "PageTables:"]
        .iter()
        .filter_map(|name| {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

fn hex17(rng: &mut impl Rng) -> String {
    format!("{:017x}", rng.gen::<u64>())
}

/// Everything the test made, removed when it ends however it ends.
struct Fixture {
    dep: String,
    dir: tempfile::TempDir,
    net: LinuxNetwork,
    guests: RefCell<Vec<String>>,
    children: RefCell<Vec<Child>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop_listeners();
        for ns in self.guests.borrow_mut().drain(..) {
            let _ = run("ip", &["netns", "del", &ns]);
        }
        if let Err(e) = self.net.purge() {
            eprintln!("purge after the test failed: {e}");
        }
    }
}

struct Lease {
    text: String,
}

impl Fixture {
    fn stop_listeners(&self) {
        for mut child in self.children.borrow_mut().drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn state_dir(&self) -> PathBuf {
        self.net.settings().state_dir.clone()
    }

    /// A namespace standing for a guest: a veth whose root end is the guest's "tap" on
    /// `bridge`, MAC `fe:` + the guest's, as libvirt makes them.
    fn guest(&self, name: &str, eni: &str, mac: &str, bridge: &str) -> String {
        let ns = format!("ec2gwt-{}-{name}", self.dep);
        self.guests.borrow_mut().push(ns.clone());
        let tap = tap_name(&self.dep, eni);
        let tap_mac = format!("fe{}", &mac[2..]);
        ip_batch(&format!(
            "netns add {ns}\n\
             link add {tap} address {tap_mac} type veth peer name eth0 address {mac} netns {ns}\n\
             link set {tap} master {bridge} up\n"
        ));
        ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    fn remove_guest(&self, ns: &str) {
        ok("ip", &["netns", "del", ns]);
        self.guests.borrow_mut().retain(|g| g != ns);
    }

    /// What a DHCP client in the guest is given (and configures).
    fn dhcp(&self, ns: &str) -> Lease {
        let script = self.dir.path().join("udhcpc.sh");
        if !script.exists() {
            std::fs::write(&script, UDHCPC_SCRIPT).unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let out_file = self.dir.path().join(format!("{ns}.lease"));
        let _ = std::fs::remove_file(&out_file);
        let out = Command::new("ip")
            .args([
                "netns", "exec", ns, "busybox", "udhcpc", "-i", "eth0", "-n", "-q",
            ])
            .args(["-t", "4", "-T", "1", "-s"])
            .arg(&script)
            .env("LEASE_OUT", &out_file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = std::fs::read_to_string(&out_file).unwrap_or_else(|_| {
            format!(
                "no lease: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        Lease {
            text: text.trim().to_string(),
        }
    }

    /// `busybox nc` in the guest answering every connection on `port` with "hello".
    fn listen(&self, ns: &str, port: u16) {
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "busybox",
                "nc",
                "-ll",
                "-p",
                &port.to_string(),
            ])
            .args(["-e", "/bin/echo", "hello"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.children.borrow_mut().push(child);
    }

    /// The listener of `listen(.., 8080)` answers at `public`; if not, what the VPC's router
    /// looks like is printed before the test fails.
    fn expect_hello(&self, public: Ipv4Addr, vpc_id: &str) {
        let got = fetch(public, 8080, Duration::from_secs(3));
        if got.as_deref() == Some("hello\n") {
            return;
        }
        let ns = namespace_name(&self.dep, vpc_id);
        let up = uplink_name(&self.dep, vpc_id);
        let public = public.to_string();
        for args in [
            vec!["route", "get", &public],
            vec!["route", "show", "dev", &up],
            vec!["-n", &ns, "-br", "addr"],
            vec!["-n", &ns, "route"],
            vec!["-n", &ns, "neigh"],
            vec!["netns", "exec", &ns, "nft", "list", "ruleset"],
            vec!["netns", "exec", &ns, "cat", "/proc/net/nf_conntrack"],
        ] {
            let out = run("ip", &args);
            eprintln!(
                "ip {}:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        panic!("{public}:8080 answered {got:?}");
    }

    /// What this deployment has on the host: its namespaces, links (taps aside), root table,
    /// dnsmasq processes and state folders.
    fn leftovers(&self) -> Vec<String> {
        let dep = &self.dep;
        let mut left = Vec::new();
        for ns in sys::list_dir("/run/netns") {
            if ns.starts_with(&namespace_prefix(dep)) {
                left.push(format!("namespace {ns}"));
            }
        }
        for line in ok("ip", &["-br", "link"]).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let name = name.split('@').next().unwrap_or(name);
            if name.starts_with(&format!("e{dep}")) && !name.starts_with(&format!("e{dep}t")) {
                left.push(format!("link {name}"));
            }
        }
        let tables = ok("nft", &["list", "tables"]);
        if tables.contains(&format!("ec2gw-{dep}")) {
            left.push(format!("nft: {tables}"));
        }
        let state = self.state_dir();
        let pgrep = run("pgrep", &["-a", "dnsmasq"]);
        for line in String::from_utf8_lossy(&pgrep.stdout).lines() {
            if line.contains(state.to_str().unwrap()) {
                left.push(format!("process {line}"));
            }
        }
        for entry in sys::list_dir(&state) {
            left.push(format!("state {entry}"));
        }
        left
    }
}

#[test]
fn vpcs_made_repaired_and_removed_on_this_host() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: the host network test needs root (namespaces, bridges, nft)");
        return;
    }
    let tools = sys::Tools::find();
    for tool in [
        &tools.ip,
        &tools.nft,
        &tools.dnsmasq,
        &PathBuf::from("/bin/busybox"),
    ] {
        if !tool.is_file() {
            eprintln!(
                "skipped: {} is missing (scripts/system-deps installs it)",
                tool.display()
            );
            return;
        }
    }

    // EC2GW_LOG=ec2gw::hostnet=debug shows every command and how long it took.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("EC2GW_LOG"))
        .with_test_writer()
        .try_init();
    let mut rng = rand::thread_rng();
    let dep = format!("t{:03x}", rng.gen_range(0..0x1000u32));
    let third: u8 = rng.gen();
    let pool = (Ipv4Addr::new(198, 19, third, 0), 24);
    let public1 = Ipv4Addr::new(198, 19, third, 10);
    let public4 = Ipv4Addr::new(198, 19, third, 11);
    let host_end = Ipv4Addr::new(198, 19, third, 1);
    let dir = tempfile::tempdir().unwrap();
    // dnsmasq re-reads its hosts files as nobody.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = HostNetSettings {
        deployment: dep.clone(),
        pool,
        state_dir: dir.path().join("network"),
        uplink_egress: false,
    };
    let fx = Fixture {
        dep: dep.clone(),
        net: LinuxNetwork::new(settings.clone()),
        dir,
        guests: RefCell::new(Vec::new()),
        children: RefCell::new(Vec::new()),
    };
    eprintln!("deployment {dep}, pool {}/24", pool.0);

    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    let (vpc1_id, vpc2_id) = (
        format!("vpc-{}", hex17(&mut rng)),
        format!("vpc-{}", hex17(&mut rng)),
    );
    let sub1 = format!("subnet-{}", hex17(&mut rng));
    let sub2 = format!("subnet-{}", hex17(&mut rng));
    let sub3 = format!("subnet-{}", hex17(&mut rng));
    let mac = |n: u8| format!("02:{:02x}:00:00:00:{n:02x}", third);
    let lease = |subnet: &str, n: u8, addr: &str| HostLease {
        subnet_id: subnet.to_string(),
        mac: mac(n),
        ip: ip(addr),
        hostname: format!("ip-{}", addr.replace('.', "-")),
    };
    let mut vpc1 = HostVpc {
        vpc_id: vpc1_id.clone(),
        cidr: (ip("10.0.0.0"), 16),
        dns_address: ip("10.0.0.2"),
        domain: "ec2.internal".into(),
        subnets: vec![HostSubnet {
            subnet_id: sub1.clone(),
            cidr: (ip("10.0.1.0"), 24),
        }],
        hosts: vec![lease(&sub1, 1, "10.0.1.5"), lease(&sub1, 2, "10.0.1.6")],
        nat: vec![NatMapping {
            public: public1,
            private: ip("10.0.1.5"),
        }],
    };
    let vpc2 = HostVpc {
        vpc_id: vpc2_id.clone(),
        cidr: (ip("10.0.0.0"), 16),
        dns_address: ip("10.0.0.2"),
        domain: "ec2.internal".into(),
        subnets: vec![HostSubnet {
            subnet_id: sub2.clone(),
            cidr: (ip("10.0.1.0"), 24),
        }],
        hosts: vec![lease(&sub2, 4, "10.0.1.7")],
        nat: vec![NatMapping {
            public: public4,
            private: ip("10.0.1.7"),
        }],
    };
    let bridge1 = bridge_name(&dep, &sub1);
    let eni = |n: u8| format!("eni-{:02x}{}", n, &hex17(&mut rand::thread_rng())[2..]);

    // A new VPC with one subnet, timed: in one apply, and as CreateVpc then CreateSubnet.
    let started = Instant::now();
    fx.net.apply(std::slice::from_ref(&vpc1)).unwrap();
    let create = started.elapsed();
    let started = Instant::now();
    fx.net.apply(std::slice::from_ref(&vpc1)).unwrap();
    let noop = started.elapsed();
    eprintln!("apply of a new VPC with one subnet: {create:?}; the same apply again: {noop:?}");
    let mut timings = Vec::new();
    for _ in 0..5 {
        let mut extra = vpc2.clone();
        extra.vpc_id = format!("vpc-{}", hex17(&mut rng));
        extra.subnets[0].subnet_id = format!("subnet-{}", hex17(&mut rng));
        extra.hosts[0].subnet_id = extra.subnets[0].subnet_id.clone();
        let subnets = std::mem::take(&mut extra.subnets);
        let hosts = std::mem::take(&mut extra.hosts);
        let nat = std::mem::take(&mut extra.nat);
        let t0 = Instant::now();
        fx.net.apply(&[vpc1.clone(), extra.clone()]).unwrap();
        let t1 = Instant::now();
        (extra.subnets, extra.hosts, extra.nat) = (subnets, hosts, nat);
        fx.net.apply(&[vpc1.clone(), extra.clone()]).unwrap();
        let t2 = Instant::now();
        fx.net.apply(std::slice::from_ref(&vpc1)).unwrap();
        timings.push((t1 - t0, t2 - t1, t2 - t0, t2.elapsed()));
    }
    timings.sort_by_key(|t| t.2);
    let (vpc_only, subnet, both, removal) = timings[timings.len() / 2];
    eprintln!(
        "beside a VPC, 5 times a VPC then its subnet, the median: VPC {vpc_only:?} + subnet {subnet:?} = {both:?}; its removal {removal:?}"
    );

    let g1 = fx.guest("g1", &eni(1), &mac(1), &bridge1);
    let g2 = fx.guest("g2", &eni(2), &mac(2), &bridge1);
    let stranger = fx.guest("g9", &eni(9), "02:99:99:99:99:99", &bridge1);
    assert_eq!(
        fx.dhcp(&g1).text,
        "ip=10.0.1.5/24 router=10.0.1.1 dns=10.0.0.2 domain=ec2.internal hostname=ip-10-0-1-5"
    );
    assert_eq!(
        fx.dhcp(&g2).text,
        "ip=10.0.1.6/24 router=10.0.1.1 dns=10.0.0.2 domain=ec2.internal hostname=ip-10-0-1-6"
    );
    assert!(
        fx.dhcp(&stranger).text.starts_with("no lease"),
        "a MAC without a lease got an address"
    );
    fx.remove_guest(&stranger);

    assert!(reach(&g1, "10.0.1.6"), "guest1 does not reach guest2");
    assert!(reach(&g1, "10.0.1.1"), "guest1 does not reach its router");
    let answer = nslookup(&g1, "ip-10-0-1-6");
    assert!(answer.contains("Address: 10.0.1.6"), "{answer}");
    let answer = nslookup(&g1, "ip-10-0-1-6.ec2.internal");
    assert!(answer.contains("Address: 10.0.1.6"), "{answer}");
    let answer = nslookup(&g1, "ip-10-0-1-99");
    assert!(!answer.contains("Address: 10.0.1.99"), "{answer}");

    // The public address reaches guest1; guest1 reaches the host as its public address, and
    // guest2 (no public address) does not get out.
    fx.listen(&g1, 8080);
    fx.expect_hello(public1, &vpc1_id);
    let host_listener = TcpListener::bind((host_end, 0)).unwrap();
    let host_port = host_listener.local_addr().unwrap().port().to_string();
    let host_end_text = host_end.to_string();
    // busybox nc stays connected until the other side closes: spawned, then killed.
    let from = |ns: &str, patience| {
        let mut nc = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "busybox",
                "nc",
                "-w",
                "1",
                &host_end_text,
                &host_port,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let peer = accept_from(&host_listener, patience);
        let _ = nc.kill();
        let _ = nc.wait();
        peer
    };
    assert_eq!(from(&g1, Duration::from_secs(2)), Some(public1));
    assert_eq!(from(&g2, Duration::from_secs(1)), None);

    // A second VPC with the same CIDR and its own guest: isolated from the first.
    let before = kernel_kib();
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    let g4 = fx.guest("g4", &eni(4), &mac(4), &bridge_name(&dep, &sub2));
    assert_eq!(
        fx.dhcp(&g4).text,
        "ip=10.0.1.7/24 router=10.0.1.1 dns=10.0.0.2 domain=ec2.internal hostname=ip-10-0-1-7"
    );
    let kernel = kernel_kib().saturating_sub(before);
    assert!(reach(&g4, "10.0.1.1"));
    assert!(
        !ping(&g4, "10.0.1.6"),
        "a guest of another VPC reaches guest2"
    );
    assert!(
        !ping(&g4, "10.0.1.5"),
        "a guest of another VPC reaches guest1"
    );
    assert!(!nslookup(&g4, "ip-10-0-1-6").contains("Address: 10.0.1.6"));
    assert!(nslookup(&g4, "ip-10-0-1-7").contains("Address: 10.0.1.7"));
    for vpc in [&vpc1_id, &vpc2_id] {
        let (rss, private) = memory_kib(dnsmasq_pid(&fx.state_dir(), vpc));
        eprintln!("dnsmasq of {vpc}: RSS {rss} KiB, private {private} KiB");
    }
    eprintln!("kernel memory (slab, percpu, stacks, page tables) after the second VPC: +{kernel} KiB (machine-wide, noisy)");

    // A subnet added: routed to from the first; the DNS address is on its link.
    vpc1.subnets.push(HostSubnet {
        subnet_id: sub3.clone(),
        cidr: (ip("10.0.0.0"), 24),
    });
    vpc1.hosts.push(lease(&sub3, 3, "10.0.0.5"));
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    let g3 = fx.guest("g3", &eni(3), &mac(3), &bridge_name(&dep, &sub3));
    assert_eq!(
        fx.dhcp(&g3).text,
        "ip=10.0.0.5/24 router=10.0.0.1 dns=10.0.0.2 domain=ec2.internal hostname=ip-10-0-0-5"
    );
    assert!(reach(&g1, "10.0.0.5"), "no route between the VPC's subnets");
    assert!(nslookup(&g3, "ip-10-0-1-5").contains("Address: 10.0.1.5"));

    // guest2 terminated, its address leased again to another MAC: dnsmasq must not keep it
    // for the old one.
    fx.remove_guest(&g2);
    vpc1.hosts.retain(|h| h.ip != ip("10.0.1.6"));
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    vpc1.hosts.push(lease(&sub1, 5, "10.0.1.6"));
    let pid = dnsmasq_pid(&fx.state_dir(), &vpc1_id);
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    let g5 = fx.guest("g5", &eni(5), &mac(5), &bridge1);
    assert_eq!(
        fx.dhcp(&g5).text,
        "ip=10.0.1.6/24 router=10.0.1.1 dns=10.0.0.2 domain=ec2.internal hostname=ip-10-0-1-6"
    );
    assert_ne!(
        pid,
        dnsmasq_pid(&fx.state_dir(), &vpc1_id),
        "the stale lease needs a restart"
    );

    // A new lease only: SIGHUP, same dnsmasq.
    vpc1.hosts.push(lease(&sub1, 6, "10.0.1.8"));
    let pid = dnsmasq_pid(&fx.state_dir(), &vpc1_id);
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    assert_eq!(pid, dnsmasq_pid(&fx.state_dir(), &vpc1_id));
    assert!(nslookup(&g5, "ip-10-0-1-8").contains("Address: 10.0.1.8"));

    // The public address removed: unreachable; back: reachable.
    let nat = std::mem::take(&mut vpc1.nat);
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    assert!(reach(&g5, "10.0.1.5"), "the listener's guest is up");
    assert_eq!(
        fetch(public1, 8080, Duration::ZERO),
        None,
        "reached without its mapping"
    );
    vpc1.nat = nat;
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    fx.expect_hello(public1, &vpc1_id);

    // The namespace deleted behind the gateway's back (its dnsmasq keeps it alive): restored.
    ok("ip", &["netns", "del", &namespace_name(&dep, &vpc1_id)]);
    let started = Instant::now();
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    eprintln!(
        "apply restoring a deleted namespace: {:?}",
        started.elapsed()
    );
    assert!(reach(&g1, "10.0.1.1"), "router not restored");
    assert!(reach(&g1, "10.0.0.5"), "routing not restored");
    assert!(nslookup(&g1, "ip-10-0-1-6").contains("Address: 10.0.1.6"));
    fx.expect_hello(public1, &vpc1_id);
    assert!(fx
        .dhcp(&g1)
        .text
        .starts_with("ip=10.0.1.5/24 router=10.0.1.1"));

    // A bridge deleted: made again, with the guests' taps back on it.
    ok("ip", &["link", "del", &bridge1]);
    assert!(!ping(&g1, "10.0.1.6"));
    fx.net.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    assert!(reach(&g1, "10.0.1.6"), "taps not back on the bridge");
    assert!(reach(&g1, "10.0.1.1"), "router not back on the bridge");

    // A gateway restarted: nothing recorded, everything found as it is, dnsmasq kept.
    let pids = [
        dnsmasq_pid(&fx.state_dir(), &vpc1_id),
        dnsmasq_pid(&fx.state_dir(), &vpc2_id),
    ];
    let restarted = LinuxNetwork::new(settings.clone());
    let started = Instant::now();
    restarted.apply(&[vpc1.clone(), vpc2.clone()]).unwrap();
    eprintln!(
        "first apply after a restart, two VPCs unchanged: {:?}",
        started.elapsed()
    );
    assert_eq!(
        pids,
        [
            dnsmasq_pid(&fx.state_dir(), &vpc1_id),
            dnsmasq_pid(&fx.state_dir(), &vpc2_id)
        ]
    );
    assert!(reach(&g1, "10.0.0.5"));
    fx.expect_hello(public1, &vpc1_id);

    // A VPC removed leaves nothing of it; then nothing at all.
    restarted.apply(std::slice::from_ref(&vpc1)).unwrap();
    assert!(!sys::netns_path(&namespace_name(&dep, &vpc2_id)).exists());
    assert!(!sys::link_exists(&bridge_name(&dep, &sub2)));
    assert!(!fx.state_dir().join(&vpc2_id).exists());
    assert!(reach(&g1, "10.0.1.6"));
    restarted.apply(&[]).unwrap();
    assert_eq!(fx.leftovers(), Vec::<String>::new());
    // A listener would keep its guest's namespace, and tap, alive.
    fx.stop_listeners();
    for g in fx.guests.borrow_mut().drain(..) {
        ok("ip", &["netns", "del", &g]);
    }
    // The guests' taps go with their namespaces, a moment later.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until && ok("ip", &["-br", "link"]).contains(&format!("e{dep}")) {
        std::thread::sleep(Duration::from_millis(50));
    }
    fx.net.purge().unwrap();
    assert_eq!(fx.leftovers(), Vec::<String>::new());
    let links = ok("ip", &["-br", "link"]);
    assert!(!links.contains(&format!("e{dep}")), "{links}");
}
