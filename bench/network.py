#!/usr/bin/env python3
"""Host network of VPCs: CreateVpc + CreateSubnet to a usable network, and host memory per VPC.

Issue 11's targets, for 100 VPCs on one host: p50 from CreateVpc to a usable network under
200 ms; under 2 MiB of host memory per VPC beyond the first. One gateway (release build, its
own data directory and SQLite database, libvirt's test driver, EC2GW_NETWORK=linux), one boto3
client, everything sequential; beside it the same parts made by hand with `ip`, `nft` and
dnsmasq, timed the same way, as the ceiling. Writes bench/reports/<UTC stamp>-network.md and
.json.

    /work/main/.venv/bin/python bench/network.py [--vpcs 100] [--ceiling-runs 20]
        [--build-from worktree|head] [--binary PATH] [--keep-work]

Needs root (namespaces, bridges, nftables), `ip`, `nft`, dnsmasq. Sends nothing but API calls
to loopback; every namespace, link, table and dnsmasq it makes is removed at the end, also on
failure.
"""
import argparse
import datetime
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
REPORTS = os.path.join(BENCH, "reports")
CARGO_LOCK = "/tmp/ec2gw-cargo.lock"

VPC_CIDR, SUBNET_CIDR, ROUTER = "10.0.0.0/16", "10.0.1.0/24", "10.0.1.1"
DNS_ADDRESS = "10.0.0.2"
POLL = 0.005           # seconds between two looks at the API and the host
TIMEOUT = 30.0         # a VPC not usable (or not gone) after this long is a failure
MEM_READINGS, MEM_GAP = 3, 2.0   # memory: 3 readings, 2 s apart, the median of each figure


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def sh(*cmd, cwd=ROOT, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, **kw).stdout.strip()
    except OSError:
        return "?"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    """Nearest rank: the smallest value with at least p% of the values at or below it (for
    100 values, p99 is the second largest). A failure counts as +inf."""
    v = sorted(x if x is not None else math.inf for x in values)
    if not v:
        return None
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def summary(values):
    ok = [x for x in values if x is not None]
    return {"n": len(values), "failed": len(values) - len(ok),
            "p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": pct(values, 100), "min": min(ok) if ok else None,
            "mean": statistics.fmean(ok) if ok else None}


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if x == math.inf:
        return "timeout"
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return "%.*f" % (digits, x)


# ---------------------------------------------------------------------------------------------
# What the host holds: no command is run, only /sys, /run/netns and /proc are read.

def link_exists(name):
    return os.path.exists("/sys/class/net/" + name)


def links_with_prefix(prefix):
    return sorted(n for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def netns_with_prefix(prefix):
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith(prefix))
    except FileNotFoundError:
        return []


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [w.decode(errors="replace") for w in f.read().rstrip(b"\0").split(b"\0") if w]
    except OSError:
        return []


def dnsmasq_pid(pid_file, conf):
    """The pid in `pid_file` if that process is alive and is a dnsmasq of `conf`."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    argv = cmdline(pid)
    if argv and argv[0].endswith("dnsmasq") and "--conf-file=" + conf in argv:
        return pid
    return None


def dnsmasqs_under(directory):
    """Every dnsmasq whose configuration file lies under `directory`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = cmdline(int(entry))
        if argv and argv[0].endswith("dnsmasq") and any(
                a.startswith("--conf-file=" + directory.rstrip("/") + "/") for a in argv):
            found.append(int(entry))
    return sorted(found)


def same_netns(pid, ns_path):
    try:
        a, b = os.stat("/proc/%d/ns/net" % pid), os.stat(ns_path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def holds_local_address(pid, address):
    """Whether the network namespace of `pid` has `address` as one of its own (its fib_trie
    lists it as a /32 LOCAL host route)."""
    try:
        with open("/proc/%d/net/fib_trie" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for i, line in enumerate(lines[:-1]):
        if line.strip() == "|-- " + address and "/32 host LOCAL" in lines[i + 1]:
            return True
    return False


def network_ready(bridge, ns_name, pid_file, conf, router):
    """A usable network on the host: the subnet's bridge, the namespace, a live dnsmasq of
    this configuration inside that namespace, and the router address in it."""
    if not link_exists(bridge):
        return False
    ns_path = "/run/netns/" + ns_name
    if not os.path.exists(ns_path):
        return False
    pid = dnsmasq_pid(pid_file, conf)
    return pid is not None and same_netns(pid, ns_path) and holds_local_address(pid, router)


def kill_checked(pid, prefix):
    """SIGTERM (then SIGKILL) to a dnsmasq whose configuration lies under `prefix`."""
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        argv = cmdline(pid)
        if not (argv and any(a.startswith("--conf-file=" + prefix) for a in argv)):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        until = time.time() + wait
        while time.time() < until and cmdline(pid):
            time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# Memory and CPU.

def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            out[key] = int(rest.split()[0])
    return out


def rollup(pid):
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    out[parts[0][:-1]] = int(parts[1])
    except OSError:
        return None
    return out


def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def builds_running():
    """Other compilers and test runs on the machine (they move MemAvailable by hundreds of MiB)."""
    names = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/comm" % entry) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in ("cargo", "rustc", "cc1", "ld", "cc", "pytest", "clippy-driver"):
            names.append(comm)
        elif comm.startswith("python"):
            argv = cmdline(int(entry))
            if any("pytest" in a for a in argv):
                names.append("pytest")
    return sorted(set(names))


def foreign(ours):
    """What others have on the host's network besides us: other gateways' namespaces and
    dnsmasqs (the other engineer's tests build VPCs too), whose kernel memory no reading can
    tell from ours. `ours`: path prefixes and name prefixes that are this run's."""
    netns = [n for n in netns_with_prefix("") if not n.startswith(tuple(ours))]
    dnsmasq = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = cmdline(int(entry))
            if argv and argv[0].endswith("dnsmasq") and not any(
                    a.startswith("--conf-file=" + o) for o in ours for a in argv):
                dnsmasq += 1
    return {"netns": len(netns), "dnsmasq": dnsmasq,
            "links": len([l for l in os.listdir("/sys/class/net") if not l.startswith(tuple(ours))])}


def wait_quiet(limit, ours):
    """Waits (at most `limit` s) until no build or test runs and no other gateway has a
    network on the host; returns the seconds waited and what was still there."""
    t0 = time.time()
    while True:
        busy, other = builds_running(), foreign(ours)
        if (not busy and not other["netns"] and not other["dnsmasq"]) or time.time() - t0 >= limit:
            return time.time() - t0, busy, other
        time.sleep(2)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


KEYS = ["MemAvailable", "MemFree", "Cached", "AnonPages", "Slab", "SUnreclaim", "SReclaimable",
        "PageTables", "KernelStack", "Percpu", "VmallocUsed"]
# What the kernel holds outside the page cache, in meminfo's own terms.
KERNEL_PARTS = ["Slab", "PageTables", "KernelStack", "Percpu", "VmallocUsed"]


def memory_reading(gateway_pid, data_dir, quiet_wait, ours):
    """The median of MEM_READINGS readings MEM_GAP s apart, after waiting (at most
    `quiet_wait` s) for other builds, tests and gateways' networks on the machine to go."""
    waited, _, _ = wait_quiet(quiet_wait, ours)
    readings = []
    for i in range(MEM_READINGS):
        if i:
            time.sleep(MEM_GAP)
        m = meminfo()
        r = {k: m.get(k, 0) for k in KEYS}
        pids = dnsmasqs_under(data_dir)
        rss = pss = pss_anon = 0
        for pid in pids:
            roll = rollup(pid) or {}
            rss += roll.get("Rss", 0)
            pss += roll.get("Pss", 0)
            pss_anon += roll.get("Pss_Anon", 0)
        gw_anon = status_kib(gateway_pid, "RssAnon") or 0
        r.update({"dnsmasq_count": len(pids), "dnsmasq_rss": rss, "dnsmasq_pss": pss,
                  "gateway_rss": status_kib(gateway_pid, "VmRSS") or 0,
                  # Anonymous memory of every other process on the machine (builds, tests).
                  "others_anon": r["AnonPages"] - pss_anon - gw_anon,
                  "builds": builds_running(), "foreign": foreign(ours)})
        readings.append(r)
    med = {k: statistics.median(r[k] for r in readings) for k in readings[0] if k not in ("builds", "foreign")}
    for k in ("netns", "dnsmasq", "links"):
        med["foreign_" + k] = max(r["foreign"][k] for r in readings)
    med["builds_during"] = sorted({b for r in readings for b in r["builds"]})
    med["waited_for_builds_s"] = waited
    med["raw"] = readings
    return med


# ---------------------------------------------------------------------------------------------
# The build.

def build(args, work):
    """The release binary, copied into `work` at once (another engineer may rebuild)."""
    commit = sh("git", "rev-parse", "--short", "HEAD")
    info = {"commit": commit}
    if args.binary:
        src = os.path.abspath(args.binary)
        info["source"] = "given binary %s" % src
        info["dirty"] = None
    elif args.build_from == "worktree":
        log("building the work tree: flock %s cargo build --release" % CARGO_LOCK)
        started = time.time()
        p = subprocess.run(["flock", CARGO_LOCK, "cargo", "build", "--release"], cwd=ROOT,
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr[-4000:])
            raise SystemExit("the work tree does not build; --build-from head builds a clean "
                             "export of HEAD instead")
        src = os.path.join(ROOT, "target", "release", "ec2gw")
        dirty = bool(sh("git", "status", "--porcelain", "--", "src"))
        info["source"] = "the shared work tree%s" % (
            " (with uncommitted changes under src/)" if dirty else "")
        info["dirty"] = dirty
        info["build_s"] = time.time() - started
    else:
        full = sh("git", "rev-parse", "HEAD")
        tree = args.build_dir or "/tmp/ec2gw-netbench-build-%s" % full[:12]
        srcdir = os.path.join(tree, "src")
        if not os.path.isdir(srcdir):
            os.makedirs(srcdir)
            archive = subprocess.Popen(["git", "archive", full], cwd=ROOT, stdout=subprocess.PIPE)
            subprocess.run(["tar", "-x", "-C", srcdir], stdin=archive.stdout, check=True)
            if archive.wait() != 0:
                raise SystemExit("git archive failed")
        log("building a clean export of HEAD %s in %s (flock %s cargo build --release)"
            % (commit, srcdir, CARGO_LOCK))
        started = time.time()
        # Seeded with the work tree's compiled dependencies (same Cargo.lock, registry paths):
        # only the gateway's own crate is compiled.
        seed = "" if os.path.isdir(os.path.join(srcdir, "target", "release")) else (
            "mkdir -p target && cp -a %s target/release && " % os.path.join(ROOT, "target", "release"))
        p = subprocess.run(["flock", CARGO_LOCK, "sh", "-c", seed + "cargo build --release"],
                           cwd=srcdir, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr[-4000:])
            raise SystemExit("HEAD does not build")
        src = os.path.join(srcdir, "target", "release", "ec2gw")
        info["source"] = "a clean export of HEAD (`git archive`), built in %s" % srcdir
        info["dirty"] = False
        info["build_s"] = time.time() - started
        info["build_dir"] = tree
    dest = os.path.join(work, "ec2gw")
    shutil.copy2(src, dest)
    info["built_at"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(src)))
    return dest, info


# ---------------------------------------------------------------------------------------------
# The ceiling: the same parts made by hand.

NS_RULESET = """table ip ec2gw {
	set mapped {
		type ipv4_addr
	}
	map public_private {
		type ipv4_addr : ipv4_addr
	}
	map private_public {
		type ipv4_addr : ipv4_addr
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname "up0" dnat to ip daddr map @public_private
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "up0" snat to ip saddr map @private_public
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "up0" ct state established,related accept
		iifname "up0" ct status dnat accept
		iifname "up0" drop
		oifname "up0" ip saddr != @mapped drop
		oifname "up0" ip daddr != POOL drop
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "up0" ct state established,related accept
		iifname "up0" drop
	}
}
"""

NS_SYSCTLS = ("echo 1 > /proc/sys/net/ipv4/ip_forward; "
              "for f in /proc/sys/net/ipv4/conf/*/arp_ignore; do echo 0 > \"$f\"; done; "
              "if [ -d /proc/sys/net/ipv6 ]; then echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; fi")


def dnsmasq_conf(d, inner):
    return "\n".join([
        "pid-file=%s/dnsmasq.pid" % d, "dhcp-leasefile=%s/leases" % d,
        "dhcp-hostsfile=%s/dhcp-hosts" % d, "addn-hosts=%s/hosts" % d,
        "no-resolv", "no-hosts", "domain-needed", "local=/ec2.internal/", "domain=ec2.internal",
        "bind-dynamic", "interface=lo", "no-dhcp-interface=lo", "dhcp-authoritative",
        "dhcp-ignore-names", "dhcp-lease-max=65536", "interface=%s" % inner,
        "dhcp-range=set:%s,10.0.1.0,static,255.255.255.0,3600" % inner,
        "dhcp-option=tag:%s,option:router,%s" % (inner, ROUTER),
        "dhcp-option=option:dns-server,%s" % DNS_ADDRESS, ""])


class ByHand:
    """One VPC with one subnet made without the gateway: a namespace, the subnet's bridge, the
    router's veth into it, the uplink veth, the namespace's sysctls and nftables table, lo's
    addresses, the router address, the uplink's routes inside the namespace, and a dnsmasq with
    the gateway's configuration. `steps`: one command per step from one sh script; `batched`:
    grouped as the gateway groups them (two `ip -batch`, one `sh` running nft in the
    namespace, one `ip -n NS -batch`, the dnsmasq). The root end of the uplink gets no pool
    address (nothing of the pool is routed by hand)."""

    def __init__(self, work, pool):
        self.tag = "%04x" % (os.getpid() & 0xffff)
        self.dir = os.path.join(work, "byhand")
        os.makedirs(self.dir, mode=0o755)
        os.chmod(self.dir, 0o755)
        self.pool = pool
        self.ruleset = os.path.join(self.dir, "ruleset.nft")
        with open(self.ruleset, "w") as f:
            f.write(NS_RULESET.replace("POOL", pool))
        os.chmod(self.ruleset, 0o644)
        self.n = 0
        self.ns_prefix = "ec2gwnb-%s-" % self.tag
        self.link_prefix = "nb%s" % self.tag
        self.ours = (self.ns_prefix, self.link_prefix, self.dir + "/")

    def names(self, i):
        return {"ns": "%s%03d" % (self.ns_prefix, i), "br": "%sb%03d" % (self.link_prefix, i),
                "vr": "%sr%03d" % (self.link_prefix, i), "up": "%su%03d" % (self.link_prefix, i),
                "vi": "s%03d" % i, "mac": "0e:00:00:00:%02x:%02x" % (i // 256, i % 256),
                "dir": os.path.join(self.dir, "vpc%03d" % i)}

    def script(self, n, mode):
        pool_host = self.pool.rsplit(".", 1)[0] + ".1"
        inside = ["link set lo up", "link set %(vi)s up" % n, "link set up0 up",
                  "addr add %s/32 dev lo" % DNS_ADDRESS, "addr add 169.254.169.253/32 dev lo",
                  "addr add 169.254.169.254/32 dev lo", "addr add %s/24 dev %s" % (ROUTER, n["vi"]),
                  "addr add 192.0.0.8/32 dev up0",
                  "route replace %s/32 dev up0 scope link" % pool_host,
                  "route replace %s via %s dev up0" % (self.pool, pool_host)]
        create = ["netns add %(ns)s" % n, "link add %(br)s type bridge stp_state 0" % n,
                  "link add %(vr)s type veth peer name %(vi)s address %(mac)s netns %(ns)s" % n,
                  "link add %(up)s type veth peer name up0 netns %(ns)s" % n]
        up = ["link set %(br)s up" % n, "link set %(vr)s master %(br)s up" % n, "link set %(up)s up" % n]
        v6 = "; ".join("echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % l
                       for l in (n["br"], n["vr"], n["up"]))
        dnsmasq = "ip netns exec %s %s --conf-file=%s/dnsmasq.conf" % (n["ns"], self.dnsmasq, n["dir"])
        if mode == "steps":
            lines = ["set -e"] + ["ip " + c for c in create]
            lines += ["ip netns exec %s sh -c '%s'" % (n["ns"], NS_SYSCTLS.replace("'", "")),
                      "ip netns exec %s nft -f %s" % (n["ns"], self.ruleset), v6]
            lines += ["ip " + c for c in up] + ["ip -n %s %s" % (n["ns"], c) for c in inside]
            lines.append(dnsmasq)
        else:
            lines = ["set -e", "ip -batch - <<EOF"] + create + ["EOF"]
            lines.append("ip netns exec %s sh -c 'set -e; %s; exec nft -f -' < %s"
                         % (n["ns"], NS_SYSCTLS, self.ruleset))
            lines += [v6, "ip -batch - <<EOF"] + up + ["EOF"]
            lines += ["ip -n %s -batch - <<EOF" % n["ns"]] + inside + ["EOF", dnsmasq]
        return "\n".join(lines) + "\n"

    @property
    def dnsmasq(self):
        return shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"

    def make(self, mode):
        """Makes one; returns (ms to usable, ms the script took, names)."""
        self.n += 1
        n = self.names(self.n)
        t0 = time.perf_counter()
        os.makedirs(n["dir"], mode=0o755)
        os.chmod(n["dir"], 0o755)
        for name, text in (("dnsmasq.conf", dnsmasq_conf(n["dir"], n["vi"])), ("hosts", ""),
                           ("dhcp-hosts", ""), ("leases", "")):
            with open(os.path.join(n["dir"], name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(n["dir"], name), 0o644)
        p = subprocess.run(["sh", "-c", self.script(n, mode)], capture_output=True, text=True)
        t_script = time.perf_counter()
        if p.returncode != 0:
            raise RuntimeError("by-hand %s failed: %s" % (mode, p.stderr.strip()))
        conf = "%s/dnsmasq.conf" % n["dir"]
        while not network_ready(n["br"], n["ns"], n["dir"] + "/dnsmasq.pid", conf, ROUTER):
            if time.perf_counter() - t0 > TIMEOUT:
                return None, (t_script - t0) * 1000, n
            time.sleep(POLL)
        return (time.perf_counter() - t0) * 1000, (t_script - t0) * 1000, n

    def remove(self, n):
        """Takes one down; returns the ms until nothing of it is left."""
        t0 = time.perf_counter()
        pid = dnsmasq_pid(n["dir"] + "/dnsmasq.pid", n["dir"] + "/dnsmasq.conf")
        if pid:
            kill_checked(pid, self.dir)
        links = [l for l in (n["vr"], n["up"], n["br"]) if link_exists(l)]
        batch = "".join("link del %s\n" % l for l in links)
        if os.path.exists("/run/netns/" + n["ns"]):
            batch += "netns del %s\n" % n["ns"]
        if batch:
            subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)
        while any(link_exists(l) for l in (n["vr"], n["up"], n["br"])) or \
                os.path.exists("/run/netns/" + n["ns"]):
            if time.perf_counter() - t0 > TIMEOUT:
                return None
            time.sleep(POLL)
        ms = (time.perf_counter() - t0) * 1000
        shutil.rmtree(n["dir"], ignore_errors=True)
        return ms

    def sweep(self):
        """Whatever is left of ours, whatever happened."""
        for pid in dnsmasqs_under(self.dir):
            kill_checked(pid, self.dir)
        batch = "".join("link del %s\n" % l for l in links_with_prefix(self.link_prefix))
        batch += "".join("netns del %s\n" % ns for ns in netns_with_prefix(self.ns_prefix))
        if batch:
            subprocess.run(["ip", "-force", "-batch", "-"], input=batch, text=True, capture_output=True)
        return links_with_prefix(self.link_prefix) + netns_with_prefix(self.ns_prefix)

    def run(self, mode, count):
        made, scripts, removed = [], [], []
        for _ in range(count):
            ms, script_ms, n = self.make(mode)
            made.append(ms)
            scripts.append(script_ms)
            removed.append(self.remove(n))
        return {"mode": mode, "usable_ms": made, "script_ms": scripts, "teardown_ms": removed}


def ceiling(byhand, count, label):
    """`count` of each mode, alternating, so that drift on the machine hits both alike."""
    out = {"steps": {"usable_ms": [], "script_ms": [], "teardown_ms": []},
           "batched": {"usable_ms": [], "script_ms": [], "teardown_ms": []}}
    for _ in range(count):
        for mode in ("steps", "batched"):
            r = byhand.run(mode, 1)
            for k in ("usable_ms", "script_ms", "teardown_ms"):
                out[mode][k] += r[k]
    for mode in out:
        s = summary(out[mode]["usable_ms"])
        log("  by hand, %-7s (%s): p50 %s ms, p90 %s, max %s; teardown p50 %s ms" % (
            mode, label, fmt(s["p50"]), fmt(s["p90"]), fmt(s["max"]),
            fmt(pct(out[mode]["teardown_ms"], 50))))
    return out


# ---------------------------------------------------------------------------------------------
# The gateway.

class Gateway:
    def __init__(self, binary, work, args):
        self.binary = binary
        self.data_dir = os.path.join(work, "data")
        os.makedirs(self.data_dir)
        os.chmod(self.data_dir, 0o711)  # dnsmasq reads its hosts files as nobody
        self.database = "sqlite://" + os.path.join(self.data_dir, "ec2gw.sqlite")
        self.port, self.metrics_port = free_port(), free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.config = os.path.join(work, "ec2gw.toml")
        with open(self.config, "w") as f:
            f.write("max_vpcs = %d\nreconcile_interval_ms = %d\nmetrics_listen = \"127.0.0.1:%d\"\n"
                    % (args.max_vpcs, args.interval_ms, self.metrics_port))
        self.stdout_path = os.path.join(work, "gateway.stdout")
        self.log_path = os.path.join(work, "gateway.log")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EC2GW_"))}
        self.env.update({"EC2GW_NETWORK": "linux", "EC2GW_PUBLIC_POOL": args.pool,
                         "EC2GW_LOG": "info"})
        self.proc = None
        self.dep = None
        account = self.admin("account", "create")["AccountId"]
        key = self.admin("key", "create", "--account", account)["AccessKey"]
        self.account, self.key = account, (key["AccessKeyId"], key["SecretAccessKey"])

    def admin(self, *args, as_json=True):
        argv = [self.binary, "admin", "--database", self.database, "--data-dir", self.data_dir]
        argv += (["--json"] if as_json else []) + list(args)
        p = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("ec2gw admin %s: %s" % (" ".join(args), p.stderr.strip()))
        return json.loads(p.stdout) if as_json else p.stdout.strip()

    def start(self):
        with open(self.stdout_path, "w") as out, open(self.log_path, "w") as err:
            self.proc = subprocess.Popen(
                [self.binary, "serve", "--config", self.config, "--database", self.database,
                 "--data-dir", self.data_dir, "--listen", "127.0.0.1:%d" % self.port,
                 "--libvirt-uri", "test:///default", "--domain-type", "test"],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ec2gw serve exited (%s); see %s" % (self.proc.returncode, self.log_path))
            with open(self.stdout_path) as f:
                text = f.read()
            m = re.search(r"Host network: VPCs built here \(deployment ([0-9a-z]{4})\)", text)
            if "Endpoint: " + self.endpoint in text and m:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    self.dep = m.group(1)
                    return
                except OSError:
                    pass
            if "Host network: off" in text:
                raise RuntimeError("the gateway started with its host network off")
            time.sleep(0.05)
        raise RuntimeError("ec2gw serve did not start; see %s" % self.log_path)

    def stop(self):
        """SIGTERM; returns the seconds it took to exit."""
        if not self.proc or self.proc.poll() is not None:
            return None
        t0 = time.perf_counter()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return time.perf_counter() - t0

    def metrics(self):
        try:
            text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                          timeout=5).read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            m = re.match(r"^(ec2gw_reconciler_\w+?)(?:\{\})? ([0-9.eE+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    # What this deployment has on the host.
    def bridge(self, subnet_id):
        return "e%sb%s" % (self.dep, subnet_id.split("-", 1)[1][:9])

    def veth(self, subnet_id):
        return "e%sr%s" % (self.dep, subnet_id.split("-", 1)[1][:9])

    def uplink(self, vpc_id):
        return "e%su%s" % (self.dep, vpc_id.split("-", 1)[1][:9])

    def ns(self, vpc_id):
        return "ec2gw-%s-%s" % (self.dep, vpc_id)

    def vpc_dir(self, vpc_id):
        return os.path.join(self.data_dir, "network", vpc_id)

    def ready(self, vpc_id, subnet_id, router=ROUTER):
        d = self.vpc_dir(vpc_id)
        return network_ready(self.bridge(subnet_id), self.ns(vpc_id), d + "/dnsmasq.pid",
                             d + "/dnsmasq.conf", router)

    def gone(self, vpc_id, subnet_id, dnsmasq):
        return not (link_exists(self.bridge(subnet_id)) or link_exists(self.veth(subnet_id))
                    or link_exists(self.uplink(vpc_id))
                    or os.path.exists("/run/netns/" + self.ns(vpc_id))
                    or (dnsmasq and cmdline(dnsmasq))
                    or os.path.exists(self.vpc_dir(vpc_id)))

    def host_state(self):
        """Everything of this deployment on the host."""
        tables = sh("nft", "list", "tables").split("\n")
        return {"netns": netns_with_prefix("ec2gw-%s-" % self.dep),
                "links": links_with_prefix("e%s" % self.dep),
                "dnsmasq": dnsmasqs_under(self.data_dir),
                "nft": [t.strip() for t in tables if t.strip().endswith(" ec2gw-%s" % self.dep)]}


def client(gw):
    import boto3
    from botocore.config import Config
    return boto3.client("ec2", endpoint_url=gw.endpoint, region_name="us-east-1",
                        aws_access_key_id=gw.key[0], aws_secret_access_key=gw.key[1],
                        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                                      read_timeout=60))


def subnet_state(ec2, subnet_id):
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["State"]


def create_one(gw, ec2):
    """CreateVpc, CreateSubnet, then a look every POLL s until the subnet is available and the
    host holds its network."""
    t0 = time.perf_counter()
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    t1 = time.perf_counter()
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
    t2 = time.perf_counter()
    host_at = available_at = None
    polls = 0
    while host_at is None or available_at is None:
        if available_at is None and subnet_state(ec2, subnet) == "available":
            available_at = time.perf_counter()
        if host_at is None and gw.ready(vpc, subnet):
            host_at = time.perf_counter()
        polls += 1
        if host_at is not None and available_at is not None:
            break
        if time.perf_counter() - t0 > TIMEOUT:
            break
        time.sleep(POLL)
    ms = lambda t: None if t is None else (t - t0) * 1000
    usable = None if host_at is None or available_at is None else max(ms(host_at), ms(available_at))
    d = gw.vpc_dir(vpc)
    return {"vpc": vpc, "subnet": subnet, "create_vpc_ms": (t1 - t0) * 1000,
            "create_subnet_ms": (t2 - t1) * 1000, "api_ms": (t2 - t0) * 1000,
            "host_ready_ms": ms(host_at), "available_ms": ms(available_at), "usable_ms": usable,
            "build_ms": None if usable is None else usable - (t2 - t0) * 1000, "polls": polls,
            "dnsmasq": dnsmasq_pid(d + "/dnsmasq.pid", d + "/dnsmasq.conf"),
            "wall": time.time()}


def delete_one(gw, ec2, v):
    t0 = time.perf_counter()
    ec2.delete_subnet(SubnetId=v["subnet"])
    t1 = time.perf_counter()
    ec2.delete_vpc(VpcId=v["vpc"])
    t2 = time.perf_counter()
    while not gw.gone(v["vpc"], v["subnet"], v["dnsmasq"]):
        if time.perf_counter() - t0 > TIMEOUT:
            return {"delete_subnet_ms": (t1 - t0) * 1000, "delete_vpc_ms": (t2 - t1) * 1000,
                    "gone_ms": None}
        time.sleep(POLL)
    return {"delete_subnet_ms": (t1 - t0) * 1000, "delete_vpc_ms": (t2 - t1) * 1000,
            "gone_ms": (time.perf_counter() - t0) * 1000}


def delete_default_vpc(ec2, vpc_id):
    """The account's default network, through the API: its subnets, its internet gateway, the
    VPC (its main route table and default group go with it)."""
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    for g in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
    ec2.delete_vpc(VpcId=vpc_id)


LOG_APPLIED = re.compile(r"^(\S+Z)\s+INFO .*host network of the VPC applied vpc=(vpc-[0-9a-f]+) "
                         r"fresh=(\w+) known=(\w+) elapsed_ms=(\d+)")
LOG_REMOVED = re.compile(r"^(\S+Z)\s+INFO .*host network of the VPC removed vpc=\"?(vpc-[0-9a-f]+)\"? "
                         r"elapsed_ms=(\d+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def epoch(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def parse_log(path):
    applied, removed, problems = {}, {}, []
    with open(path, errors="replace") as f:
        for raw in f:
            line = ANSI.sub("", raw.rstrip("\n"))
            m = LOG_APPLIED.match(line)
            if m:
                applied.setdefault(m.group(2), []).append(
                    {"t": epoch(m.group(1)), "fresh": m.group(3) == "true",
                     "known": m.group(4) == "true", "ms": int(m.group(5))})
                continue
            m = LOG_REMOVED.match(line)
            if m:
                removed.setdefault(m.group(2), []).append(int(m.group(3)))
                continue
            if re.match(r"^\S+Z\s+(WARN|ERROR)", line):
                problems.append(line[:400])
    return applied, removed, problems


def run_gateway(gw, args, results, byhand):
    gw.ours = ("ec2gw-%s-" % gw.dep, "e%s" % gw.dep, gw.data_dir + "/") + byhand.ours
    ec2 = client(gw)
    # The account's default network (172.31.0.0/16, a subnet per zone) is made by its first
    # network call, and built like any VPC: it is there before the first reading.
    default = [v for v in ec2.describe_vpcs()["Vpcs"] if v.get("IsDefault")]
    default_vpc = default[0]["VpcId"] if default else None
    results["default_vpc"] = default_vpc
    if default_vpc:
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"]
        results["default_subnets"] = len(subnets)
        until = time.time() + TIMEOUT
        while not all(gw.ready(default_vpc, s["SubnetId"], router=_plus_one(s["CidrBlock"])) for s in subnets):
            if time.time() > until:
                raise RuntimeError("the default VPC's network was not built in %d s" % TIMEOUT)
            time.sleep(0.05)
    time.sleep(2)
    log("memory before the first VPC (deployment %s)" % gw.dep)
    results["memory"]["before"] = memory_reading(gw.proc.pid, gw.data_dir, args.quiet_wait, gw.ours)
    results["gateway"]["hwm_before_kib"] = status_kib(gw.proc.pid, "VmHWM")

    created = results["created"]
    for i in range(args.vpcs):
        before_m, before_cpu = gw.metrics(), cpu_seconds(gw.proc.pid)
        v = create_one(gw, ec2)
        after_m, after_cpu = gw.metrics(), cpu_seconds(gw.proc.pid)
        v["index"] = i + 1
        v["passes"] = after_m.get(PASS_COUNT, 0) - before_m.get(PASS_COUNT, 0)
        v["pass_ms"] = (after_m.get(PASS_SUM, 0) - before_m.get(PASS_SUM, 0)) * 1000
        v["cpu_ms"] = None if None in (before_cpu, after_cpu) else (after_cpu - before_cpu) * 1000
        created.append(v)
        if v["usable_ms"] is None:
            log("  VPC %d (%s) not usable after %d s" % (i + 1, v["vpc"], TIMEOUT))
        if i == 0 or (i + 1) % 10 == 0:
            log("  %3d VPCs: this one usable after %s ms (API %.1f ms)" % (
                i + 1, fmt(v["usable_ms"]), v["api_ms"]))
        if i == 0:
            time.sleep(2)
            results["memory"]["after_1"] = memory_reading(gw.proc.pid, gw.data_dir, args.quiet_wait, gw.ours)
    results["phases"]["create"] = {
        "seconds": sum(v["usable_ms"] or TIMEOUT * 1000 for v in created) / 1000,
        "passes": sum(v["passes"] for v in created),
        "pass_s": sum(v["pass_ms"] for v in created) / 1000,
        "cpu_ms_per_vpc": statistics.fmean(v["cpu_ms"] for v in created if v["cpu_ms"] is not None)}
    time.sleep(2)
    log("memory after %d VPCs" % args.vpcs)
    results["memory"]["after_n"] = memory_reading(gw.proc.pid, gw.data_dir, args.quiet_wait, gw.ours)
    results["gateway"]["hwm_after_kib"] = status_kib(gw.proc.pid, "VmHWM")

    # Idle with every VPC in place: the reconciler's passes over them.
    m0, cpu0, w0 = gw.metrics(), cpu_seconds(gw.proc.pid), time.perf_counter()
    time.sleep(args.idle_seconds)
    m1, cpu1, w1 = gw.metrics(), cpu_seconds(gw.proc.pid), time.perf_counter()
    results["phases"]["idle"] = phase(m0, m1, cpu0, cpu1, w1 - w0, None)

    log("the ceiling again, beside %d VPCs (%d of each)" % (args.vpcs, args.ceiling_runs))
    results["ceiling"]["beside"] = ceiling(byhand, args.ceiling_runs, "beside the VPCs")

    log("deleting the %d VPCs" % args.vpcs)
    results["delete_started"] = time.time()
    m0, cpu0, w0 = gw.metrics(), cpu_seconds(gw.proc.pid), time.perf_counter()
    for v in created:
        v.update(delete_one(gw, ec2, v))
    m1, cpu1, w1 = gw.metrics(), cpu_seconds(gw.proc.pid), time.perf_counter()
    results["phases"]["delete"] = phase(m0, m1, cpu0, cpu1, w1 - w0, args.vpcs)
    state = gw.host_state()
    default_parts = set()
    if default_vpc:
        default_parts = {gw.ns(default_vpc), gw.uplink(default_vpc)}
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"]:
            default_parts |= {gw.bridge(s["SubnetId"]), gw.veth(s["SubnetId"])}
    results["host_after_delete"] = {
        "netns_left": [n for n in state["netns"] if n not in default_parts],
        "links_left": [l for l in state["links"] if l not in default_parts],
        "dnsmasq": len(state["dnsmasq"]), "nft": state["nft"], "default_parts": sorted(default_parts)}

    if default_vpc:
        log("deleting the default VPC")
        t0 = time.perf_counter()
        try:
            delete_default_vpc(ec2, default_vpc)
            until = time.time() + TIMEOUT
            while any(gw.host_state().values()) and time.time() < until:
                time.sleep(POLL)
            results["default_deleted_ms"] = (time.perf_counter() - t0) * 1000
        except Exception as e:  # reported; the purge below still sweeps it away
            results["default_delete_error"] = repr(e)
    results["host_after_api_delete"] = gw.host_state()
    results["gateway"]["rss_end_kib"] = status_kib(gw.proc.pid, "VmRSS")


def _plus_one(cidr):
    a, b, c, d = (int(x) for x in cidr.split("/")[0].split("."))
    return "%d.%d.%d.%d" % (a, b, c, d + 1)


PASS_COUNT = "ec2gw_reconciler_pass_duration_seconds_count"
PASS_SUM = "ec2gw_reconciler_pass_duration_seconds_sum"


def phase(m0, m1, cpu0, cpu1, seconds, count):
    passes = m1.get(PASS_COUNT, 0) - m0.get(PASS_COUNT, 0)
    pass_s = m1.get(PASS_SUM, 0) - m0.get(PASS_SUM, 0)
    errors = m1.get("ec2gw_reconciler_errors_total", 0) - m0.get("ec2gw_reconciler_errors_total", 0)
    cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    return {"seconds": seconds, "passes": passes, "pass_mean_ms": pass_s / passes * 1000 if passes else None,
            "pass_busy_share": pass_s / seconds if seconds else None, "reconciler_errors": errors,
            "gateway_cpu_s": cpu, "cpu_share": cpu / seconds if cpu is not None and seconds else None,
            "cpu_ms_per_vpc": cpu / count * 1000 if cpu is not None and count else None}


# ---------------------------------------------------------------------------------------------
# The report.

def mib(kib):
    return None if kib is None else kib / 1024.0


def write_report(results, args, stamp, started, load_before, base):
    c = results["created"]
    usable = summary([v["usable_ms"] for v in c])
    L = []
    add = L.append
    b = results["build"]
    add("# ec2gw host network benchmark, %s" % stamp)
    add("")
    add("Made by `bench/network.py` (see bench/README.md, \"Host network\"). Every VPC's raw "
        "figures: [%s.json](%s.json)." % (os.path.basename(base), os.path.basename(base)))
    add("")
    if results.get("failure"):
        add("**The run failed**: %s (the figures below are what was measured before)." % results["failure"])
        add("")
    add("## Setup")
    add("")
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    add("- Machine: %d CPUs (%s), %d MiB RAM, Linux %s, %s, %s, dnsmasq %s; shared with other "
        "builds and tests (load average %s before, %s after; compilers or test runs seen during "
        "the memory readings: %s)." % (
            os.cpu_count(), cpu, meminfo()["MemTotal"] // 1024, os.uname().release,
            sh("ip", "-V").replace("ip utility, ", ""), sh("nft", "-V").split("\n")[0],
            (re.findall(r"version (\S+)", sh("dnsmasq", "--version")) or ["?"])[0],
            load_before, loadavg(),
            ", ".join(sorted({x for r in results["memory"].values() for x in r.get("builds_during", [])}))
            or "none"))
    add("- Gateway: release build of commit %s from %s (built %s), copied before it ran; "
        "`ec2gw serve` with its own data directory and SQLite database, libvirt test driver, "
        "`EC2GW_NETWORK=linux`, `EC2GW_PUBLIC_POOL=%s`, `EC2GW_LOG=info` (to a file); config "
        "`max_vpcs = %d`, `reconcile_interval_ms = %d` (the reconciler is also woken by every "
        "change), `metrics_listen` on loopback (reconciler pass counts and durations). "
        "Deployment `%s`." % (
            b["commit"], b["source"], b["built_at"], args.pool, args.max_vpcs, args.interval_ms,
            results["deployment"]))
    add("- Client: boto3 %s, one client, sequential; per VPC: t0, CreateVpc %s, CreateSubnet %s "
        "(every VPC the same CIDRs: they are isolated), then a look every %d ms (DescribeSubnets, "
        "and the host: /sys, /run/netns, /proc only, no command run) until **usable**: the subnet "
        "`available` and, on the host, its bridge `e%sb<9 digits>`, the VPC's namespace "
        "`ec2gw-%s-<vpc>` with a live dnsmasq of `DATA_DIR/network/<vpc>/dnsmasq.conf` inside it "
        "(its pid file, its command line, its `/proc/PID/ns/net` the namespace's) and the router "
        "address %s in that namespace (a LOCAL /32 in the dnsmasq's `/proc/PID/net/fib_trie`). A "
        "look costs one DescribeSubnets (~1-3 ms through boto3) until the subnet is available; "
        "times are resolved to about %d ms." % (
            results.get("boto3", "?"), VPC_CIDR, SUBNET_CIDR, POLL * 1000, results["deployment"],
            results["deployment"], ROUTER, POLL * 1000 + 3))
    add("- Before the first VPC: the account's default network (172.31.0.0/16 with %s subnets, "
        "made by the first call and built like any VPC) is already on the host, so \"before\" "
        "holds one VPC of the deployment; the %d timed VPCs come after it." % (
            results.get("default_subnets", "?"), args.vpcs))
    add("- Percentiles: nearest rank over the %d VPCs (of 100, p99 is the second largest). "
        "Whole run: %.1f minutes." % (args.vpcs, (time.time() - started) / 60))
    add("")

    add("## CreateVpc + CreateSubnet to a usable network")
    add("")
    add("| | n | p50 ms | p90 ms | p99 ms | max ms | min ms | mean ms |")
    add("|---|---|---|---|---|---|---|---|")

    def row(title, values):
        s = summary(values)
        add("| %s | %d%s | %s | %s | %s | %s | %s | %s |" % (
            title, s["n"], " (%d failed)" % s["failed"] if s["failed"] else "", fmt(s["p50"]),
            fmt(s["p90"]), fmt(s["p99"]), fmt(s["max"]), fmt(s["min"]), fmt(s["mean"])))
        return s

    row("**ec2gw**: CreateVpc to usable", [v["usable_ms"] for v in c])
    ceil = results["ceiling"]
    for where, label in (("empty", "empty host"), ("beside", "beside the %d VPCs" % args.vpcs)):
        for mode in ("batched", "steps"):
            if ceil.get(where, {}).get(mode):
                row("by hand, %s, %s" % (mode, label), ceil[where][mode]["usable_ms"])
    add("")
    add("By hand (the ceiling): the same parts for one VPC with one subnet, made from one `sh` "
        "script with `ip`, `nft` and dnsmasq and timed the same way (t0 before the script; the "
        "same look at the host every %d ms; the dnsmasq files written after t0): a namespace, the "
        "subnet's bridge (IPv6 off), the router's veth into the namespace on the bridge, the "
        "uplink veth, the namespace's sysctls and its nftables table (the gateway's ruleset, "
        "no NAT elements), lo's three addresses, the router address, the uplink's two routes "
        "inside the namespace, a dnsmasq with the gateway's configuration. **batched** groups the "
        "commands as the gateway does (`ip -batch` in the root namespace, `sh` running `nft -f` "
        "in the namespace, `ip -batch` again, `ip -n NS -batch`, `ip netns exec ... dnsmasq`: "
        "8 processes); **steps** runs one command per step (25 processes). Not made by hand: "
        "the pool address on the uplink's root end and the deployment's root nftables table. "
        "%d of each, alternating, on the empty host before the gateway started, and %d more "
        "beside the %d VPCs." % (POLL * 1000, args.ceiling_runs, args.ceiling_runs, args.vpcs))
    add("")
    cb = summary(ceil.get("empty", {}).get("batched", {}).get("usable_ms", []))
    cs = summary(ceil.get("empty", {}).get("steps", {}).get("usable_ms", []))
    cbb = summary(ceil.get("beside", {}).get("batched", {}).get("usable_ms", []))
    ratio_lines = []
    for name, s in (("by hand, batched, empty host", cb), ("by hand, batched, beside the VPCs", cbb),
                    ("by hand, steps, empty host", cs)):
        if s["p50"] and usable["p50"] and usable["p50"] != math.inf:
            ratio_lines.append("| ec2gw / %s | %.2fx | %s |" % (
                name, usable["p50"] / s["p50"],
                "%.2fx" % (usable["p99"] / s["p99"]) if usable["p99"] != math.inf and s["p99"] not in (None, math.inf) else "n/a"))
    if ratio_lines:
        add("| ratio | p50 | p99 |")
        add("|---|---|---|")
        L.extend(ratio_lines)
        add("")

    add("### Where the time goes (ec2gw)")
    add("")
    applied, removed, problems = results["log"]["applied"], results["log"]["removed"], results["log"]["problems"]
    # A VPC's applies while the VPCs were made; those after are its DeleteSubnet's.
    split = results.get("delete_started", math.inf)
    making = {vpc: [x for x in a if x["t"] < split] for vpc, a in applied.items()}
    unmaking = {vpc: [x for x in a if x["t"] >= split] for vpc, a in applied.items()}
    first_apply, second_apply, extra_apply, applies_n = [], [], [], []
    for v in c:
        a = making.get(v["vpc"], [])
        applies_n.append(len(a))
        if a:
            first_apply.append(a[0]["ms"])
        if len(a) > 1:
            second_apply.append(a[1]["ms"])
        extra_apply.append(sum(x["ms"] for x in a))
    add("| step | p50 ms | p90 ms | p99 ms | max ms | mean ms |")
    add("|---|---|---|---|---|---|")

    def srow(title, values):
        s = summary(values)
        add("| %s | %s | %s | %s | %s | %s |" % (title, fmt(s["p50"], 2), fmt(s["p90"], 2),
                                                 fmt(s["p99"], 2), fmt(s["max"], 2), fmt(s["mean"], 2)))

    srow("CreateVpc answer (client)", [v["create_vpc_ms"] for v in c])
    srow("CreateSubnet answer (client)", [v["create_subnet_ms"] for v in c])
    srow("CreateSubnet answer to usable", [v["build_ms"] for v in c])
    srow("t0 to host ready (bridge, namespace, router address, dnsmasq)", [v["host_ready_ms"] for v in c])
    srow("t0 to DescribeSubnets `available`", [v["available_ms"] for v in c])
    srow("gateway log: first host apply of the VPC (elapsed_ms)", first_apply)
    srow("gateway log: second host apply of the VPC", second_apply)
    srow("gateway log: all host applies of the VPC, summed", extra_apply)
    add("")
    counts = {}
    for n in applies_n:
        counts[n] = counts.get(n, 0) + 1
    kinds = {}
    for v in c:
        for x in making.get(v["vpc"], []):
            k = "fresh" if x["fresh"] else ("known" if x["known"] else "listed")
            kinds[k] = kinds.get(k, 0) + 1
    ph = results["phases"]
    cr = ph.get("create", {})
    passes_n = {}
    for v in c:
        passes_n[int(v.get("passes", 0))] = passes_n.get(int(v.get("passes", 0)), 0) + 1
    add("Host applies per VPC while it was made (the gateway logs one for each VPC a pass changed): %s; by kind: %s "
        "(fresh: the namespace is new; known: from the record of the last apply). Reconciler passes "
        "from t0 to usable (from its metrics, read before and after each VPC): %s; %s passes over the "
        "%d VPCs, %s ms of passes a VPC (mean %s ms a pass), against %s ms a VPC from t0 to usable; "
        "gateway CPU %s ms a VPC (user+system, its waited-for children `ip`, `sh`, `nft` included; "
        "the daemonised dnsmasqs not)." % (
            ", ".join("%d VPCs had %d" % (v, k) for k, v in sorted(counts.items())),
            ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
            ", ".join("%d VPCs had %d" % (v, k) for k, v in sorted(passes_n.items())),
            fmt(cr.get("passes"), 0), args.vpcs,
            fmt(cr["pass_s"] * 1000 / args.vpcs) if cr.get("passes") else "n/a",
            fmt(cr["pass_s"] * 1000 / cr["passes"]) if cr.get("passes") else "n/a",
            fmt(cr["seconds"] * 1000 / args.vpcs) if cr.get("seconds") else "n/a",
            fmt(cr.get("cpu_ms_per_vpc"))))
    add("")
    add("By position (does it grow with the number of VPCs already there?):")
    add("")
    add("| VPCs | p50 ms to usable | max ms | p50 first apply ms | p50 API ms |")
    add("|---|---|---|---|---|")
    step = max(1, args.vpcs // 5)
    for lo in range(0, args.vpcs, step):
        chunk = c[lo:lo + step]
        fa = [making[v["vpc"]][0]["ms"] for v in chunk if making.get(v["vpc"])]
        add("| %d-%d | %s | %s | %s | %s |" % (
            lo + 1, lo + len(chunk), fmt(pct([v["usable_ms"] for v in chunk], 50)),
            fmt(pct([v["usable_ms"] for v in chunk], 100)), fmt(pct(fa, 50)),
            fmt(pct([v["api_ms"] for v in chunk], 50), 2)))
    add("")
    idle = ph.get("idle", {})
    add("Idle with the %d VPCs (and the default one) in place, %.0f s: %s reconciler passes, mean "
        "%s ms a pass; gateway CPU %s of a core." % (
            args.vpcs, idle.get("seconds", 0), fmt(idle.get("passes"), 0), fmt(idle.get("pass_mean_ms"), 2),
            "n/a" if idle.get("cpu_share") is None else "%.1f%%" % (idle["cpu_share"] * 100)))
    add("")

    add("## Host memory")
    add("")
    mem = results["memory"]
    add("Each column the median of %d readings %g s apart (no cache dropped). MemAvailable falls "
        "as memory is used; the rest rise. dnsmasq: the processes whose configuration is under "
        "this gateway's data directory, RSS and PSS summed from `/proc/PID/smaps_rollup`." % (
            MEM_READINGS, MEM_GAP))
    add("")
    add("| KiB | before the first VPC | after 1 VPC | after %d VPCs | per VPC beyond the first: (after %d - after 1) / %d |"
        % (args.vpcs, args.vpcs, args.vpcs - 1))
    add("|---|---|---|---|---|")
    per = {}
    for k, title in (("MemAvailable", "MemAvailable"), ("MemFree", "MemFree"), ("Cached", "Cached"),
                     ("AnonPages", "AnonPages"), ("others_anon", "of it other processes' (not the gateway's or its dnsmasqs')"),
                     ("Slab", "Slab"), ("SUnreclaim", "of it unreclaimable"),
                     ("PageTables", "PageTables"), ("KernelStack", "KernelStack"), ("Percpu", "Percpu"),
                     ("VmallocUsed", "VmallocUsed"), ("dnsmasq_count", "dnsmasq processes"),
                     ("foreign_netns", "not ours: network namespaces of other gateways or tests"),
                     ("foreign_dnsmasq", "not ours: dnsmasq processes"), ("dnsmasq_rss", "dnsmasq RSS, summed"),
                     ("dnsmasq_pss", "dnsmasq PSS, summed"), ("gateway_rss", "gateway RSS")):
        vals = [mem.get(p, {}).get(k) for p in ("before", "after_1", "after_n")]
        if None in vals[1:]:
            continue
        d = (vals[2] - vals[1]) / (args.vpcs - 1)
        if k == "MemAvailable":
            d = -d
        per[k] = d
        if k.startswith("foreign_"):
            last = "%+d in all" % (vals[2] - vals[1])
        elif k == "dnsmasq_count":
            last = "%.2f" % d
        else:
            last = fmt(d, 1)
        add("| %s | %s | %s | %s | %s |" % (title, *(fmt(x, 0) for x in vals), last))
    add("")
    kernel = sum(per.get(k, 0) for k in KERNEL_PARTS)
    parts = kernel + per.get("dnsmasq_pss", 0) + per.get("gateway_rss", 0)
    if per:
        add("Per VPC beyond the first: **%.2f MiB** by MemAvailable (%.2f MiB once the other processes' "
            "change of anonymous memory is taken out); %.2f MiB as the sum of the parts (Slab + "
            "PageTables + KernelStack + Percpu + VmallocUsed + dnsmasq PSS + gateway RSS), of which "
            "dnsmasq PSS %.2f MiB and the kernel %.2f MiB. Gateway RSS: %s MiB before, %s MiB after "
            "%d VPCs, peak (VmHWM) %s MiB." % (
                per.get("MemAvailable", 0) / 1024,
                (per.get("MemAvailable", 0) - per.get("others_anon", 0)) / 1024,
                parts / 1024, per.get("dnsmasq_pss", 0) / 1024, kernel / 1024,
                fmt(mib(mem.get("before", {}).get("gateway_rss"))), fmt(mib(mem.get("after_n", {}).get("gateway_rss"))),
                args.vpcs, fmt(mib(results["gateway"].get("hwm_after_kib")))))
        add("")

    a1, an = mem.get("after_1", {}), mem.get("after_n", {})
    noisy = []
    if a1 and an:
        if (a1.get("foreign_netns"), a1.get("foreign_dnsmasq")) != (an.get("foreign_netns"), an.get("foreign_dnsmasq")):
            noisy.append("other gateways' namespaces went from %d to %d and their dnsmasqs from %d to %d "
                         "(their kernel memory is in MemAvailable and Slab alike)" % (
                             a1["foreign_netns"], an["foreign_netns"], a1["foreign_dnsmasq"], an["foreign_dnsmasq"]))
        if abs(an.get("others_anon", 0) - a1.get("others_anon", 0)) > 10 * 1024:
            noisy.append("other processes' anonymous memory changed by %+.0f MiB" % (
                (an["others_anon"] - a1["others_anon"]) / 1024))
        if a1.get("builds_during") or an.get("builds_during"):
            noisy.append("builds or tests ran during the readings (%s)" % ", ".join(
                sorted(set(a1.get("builds_during", []) + an.get("builds_during", [])))))
    results["memory_noisy"] = noisy
    if noisy:
        add("**The machine was not quiet between the readings after 1 VPC and after %d VPCs**: %s. "
            "The MemAvailable figure is the least trustworthy of the three here." % (args.vpcs, "; ".join(noisy)))
        add("")
    add("## Deletion")
    add("")
    add("Per VPC, in creation order: DeleteSubnet, DeleteVpc, then a look every %d ms until the "
        "host holds nothing of it (bridge, router veth, uplink, namespace, its dnsmasq, its state "
        "folder)." % (POLL * 1000))
    add("")
    add("| | p50 ms | p90 ms | p99 ms | max ms | mean ms |")
    add("|---|---|---|---|---|---|")
    srow("DeleteSubnet answer", [v.get("delete_subnet_ms") for v in c])
    srow("DeleteVpc answer", [v.get("delete_vpc_ms") for v in c])
    srow("**DeleteSubnet to nothing left**", [v.get("gone_ms") for v in c])
    srow("gateway log: DeleteSubnet's apply (subnet's links and the dnsmasq removed)",
         [x["ms"] for v in c for x in unmaking.get(v["vpc"], [])])
    srow("gateway log: DeleteVpc's removal of the VPC (elapsed_ms)", [x for v in c for x in removed.get(v["vpc"], [])])
    for where in ("empty", "beside"):
        if ceil.get(where, {}).get("batched"):
            srow("by hand, batched (%s): teardown (kill dnsmasq, one `ip -batch`)" % where,
                 ceil[where]["batched"]["teardown_ms"])
    dl = ph.get("delete", {})
    add("")
    add("All %d deleted in %.1f s; %s reconciler passes, mean %s ms; gateway CPU %s ms a VPC." % (
        args.vpcs, dl.get("seconds", 0), fmt(dl.get("passes"), 0), fmt(dl.get("pass_mean_ms")),
        fmt(dl.get("cpu_ms_per_vpc"))))
    add("")

    add("## The host afterwards")
    add("")
    had = results.get("host_after_delete", {})
    add("- After the %d deletions: %s of theirs left (the default VPC's %d parts stay: its namespace, "
        "uplink, %s bridges and router veths; %d dnsmasq; root nftables: %s)." % (
            args.vpcs, "nothing" if not (had.get("netns_left") or had.get("links_left"))
            else "%s" % (had.get("netns_left", []) + had.get("links_left", [])),
            len(had.get("default_parts", [])), results.get("default_subnets", "?"), had.get("dnsmasq", 0),
            ", ".join(had.get("nft", [])) or "none"))
    hapi = results.get("host_after_api_delete", {})
    if results.get("default_delete_error"):
        add("- Deleting the default VPC through the API failed: %s." % results["default_delete_error"])
    add("- After deleting the default VPC too (its subnets, DetachInternetGateway, "
        "DeleteInternetGateway, DeleteVpc%s): %s." % (
            ", %s ms to an empty host" % fmt(results["default_deleted_ms"]) if results.get("default_deleted_ms") else "",
            describe_host(hapi)))
    add("- The gateway stopped in %s s (SIGTERM); then `ec2gw admin network purge`: %s. Left on the "
        "host after the purge: %s. By-hand leftovers: %s." % (
            fmt(results.get("stop_s"), 2), results.get("purge", "not run"), describe_host(results.get("host_final", {})),
            ", ".join(results.get("byhand_left", [])) or "none"))
    if problems:
        add("- The gateway logged %d warnings or errors; the first: `%s`" % (len(problems), problems[0].replace("`", "'")))
    else:
        add("- The gateway logged no warning or error.")
    add("")

    add("## Targets")
    add("")
    add("| target | measured | |")
    add("|---|---|---|")
    if usable["p50"] is not None:
        add("| CreateVpc + CreateSubnet to a usable network, p50 < 200 ms (%d VPCs, one host) | p50 %s ms, p99 %s ms | %s |" % (
            args.vpcs, fmt(usable["p50"]), fmt(usable["p99"]), verdict(usable["p50"] < 200)))
    if "MemAvailable" in per:
        corrected = per["MemAvailable"] - per.get("others_anon", 0)
        add("| host memory per VPC beyond the first < 2 MiB | %.2f MiB by MemAvailable (%.2f MiB without the other processes' anonymous memory), %.2f MiB as the sum of the parts%s | %s |" % (
            per["MemAvailable"] / 1024, corrected / 1024, parts / 1024,
            "; the machine was not quiet (see Host memory)" if noisy else "",
            verdict(corrected < 2048 and parts < 2048)))
    add("")
    with open(base + ".md", "w") as f:
        f.write("\n".join(L))


def describe_host(state):
    if not state:
        return "not looked at"
    left = [x for k in ("netns", "links", "nft") for x in state.get(k, [])]
    if state.get("dnsmasq"):
        left.append("%d dnsmasq" % len(state["dnsmasq"]))
    return "nothing of the deployment (no namespace, link, dnsmasq or nftables table)" if not left \
        else "**left: %s**" % ", ".join(map(str, left))


def verdict(ok):
    return "met" if ok else "**missed**"


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vpcs", type=int, default=100)
    parser.add_argument("--ceiling-runs", type=int, default=20)
    parser.add_argument("--interval-ms", type=int, default=1000, help="reconcile_interval_ms")
    parser.add_argument("--max-vpcs", type=int, default=1000)
    parser.add_argument("--pool", default="198.19.200.0/24", help="EC2GW_PUBLIC_POOL (a pool of its own)")
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--quiet-wait", type=float, default=600.0,
                        help="seconds to wait, at the start and before each memory reading, for "
                             "other builds, tests and gateways' networks to go")
    parser.add_argument("--build-from", choices=["worktree", "head"], default="worktree",
                        help="worktree: cargo build --release in the repository; head: a clean "
                             "export of HEAD, when the shared work tree is mid-edit")
    parser.add_argument("--build-dir", help="with --build-from head: where (default /tmp/ec2gw-netbench-build-COMMIT)")
    parser.add_argument("--keep-build", action="store_true", help="with --build-from head: keep the build directory")
    parser.add_argument("--binary", help="an ec2gw binary to run instead of building one")
    parser.add_argument("--keep-work", action="store_true", help="keep the data directory and the gateway's log")
    parser.add_argument("--reports", default=REPORTS, help="where the report goes (default bench/reports)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: it makes network namespaces, bridges and nftables tables")
    if args.vpcs < 2:
        raise SystemExit("--vpcs must be at least 2")

    started = time.time()
    load_before = loadavg()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H-%M-%S")
    work = tempfile.mkdtemp(prefix="ec2gw-netbench-")
    os.chmod(work, 0o711)
    results = {"stamp": stamp, "settings": vars(args), "created": [], "memory": {}, "ceiling": {},
               "phases": {}, "gateway": {}, "log": {"applied": {}, "removed": {}, "problems": []}}
    try:
        import boto3
        results["boto3"] = boto3.__version__
    except ImportError:
        raise SystemExit("boto3 is missing: run with /work/main/.venv/bin/python")
    gw = None
    byhand = None
    binary, build_info = None, None
    try:
        binary, build_info = build(args, work)
        results["build"] = build_info
        byhand = ByHand(work, args.pool)
        waited, busy, other = wait_quiet(args.quiet_wait, byhand.ours)
        results["quiet_start"] = {"waited_s": waited, "builds": busy, "foreign": other}
        if waited >= 2:
            log("waited %.0f s for a quiet machine (still there: %s, %s)" % (waited, busy, other))
        log("the ceiling, by hand, on the empty host (%d of each)" % args.ceiling_runs)
        results["ceiling"]["empty"] = ceiling(byhand, args.ceiling_runs, "empty host")

        gw = Gateway(binary, work, args)
        gw.start()
        results["deployment"] = gw.dep
        log("gateway up: %s, deployment %s, pid %d" % (gw.endpoint, gw.dep, gw.proc.pid))
        run_gateway(gw, args, results, byhand)
    except BaseException as e:  # KeyboardInterrupt too: clean up, then report what there is
        results["failure"] = repr(e)
        log("FAILED: %r" % e)
    finally:
        if gw is not None:
            results["stop_s"] = gw.stop()
            try:
                gw.admin("network", "purge", as_json=False)
                results["purge"] = "ran"
            except Exception as e:
                results["purge"] = "failed: %r" % e
            if gw.dep:
                results["host_final"] = gw.host_state()
            for pid in dnsmasqs_under(gw.data_dir):  # a last resort; the purge should have
                kill_checked(pid, gw.data_dir)
            try:
                a, r, p = parse_log(gw.log_path)
                results["log"] = {"applied": a, "removed": r, "problems": p}
            except OSError:
                pass
        if byhand is not None:
            results["byhand_left"] = byhand.sweep()
        if build_info and build_info.get("build_dir") and not args.keep_build:
            shutil.rmtree(build_info["build_dir"], ignore_errors=True)
        if args.keep_work:
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if "build" not in results or "deployment" not in results:
        log("no report: the run ended before the gateway ran (%s)" % results.get("failure"))
        return 1
    base = os.path.join(args.reports, "%s-network" % stamp)
    with open(base + ".json", "w") as f:
        json.dump(results, f, indent=1, sort_keys=True, default=str)
    write_report(results, args, stamp, started, load_before, base)
    log("report: %s.md after %.1f minutes" % (base, (time.time() - started) / 60))
    return 1 if results.get("failure") else 0


if __name__ == "__main__":
    sys.exit(main())
