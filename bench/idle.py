#!/usr/bin/env python3
"""Idle CPU of a gateway holding 100,000 stopped instances.

Seeds a fresh database exactly as bench.py's 100,000-instance suite does (its `fleet` and
`fill`: SQL inserts, then ANALYZE), starts `ec2gw serve` on the libvirt test driver, waits for
its start-up pass to end, then reads /proc/PID/stat over a window of idleness (no request is
sent) and prints the share of a core it used. The gateway's CPU only: PostgreSQL's backends are
shown beside it.

    python3 bench/idle.py [--backend sqlite,postgres] [--seconds 30] [--instances 100000]
                          [--binary target/release/ec2gw] [--scrapes 20]

With --scrapes N (a gateway that has `metrics_listen`), it then times N scrapes of /metrics,
each of which counts the instances by state, and prints their median.

Needs the release binary (`cargo build --release --bin ec2gw`), `qemu-img`, and for PostgreSQL
`psql` and scripts/postgres. Exits non-zero only if something breaks, never on a figure.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (bench.py's seeding, servers and /proc readers, unchanged)


def postgres_backends_cpu(dbname):
    """CPU seconds of the PostgreSQL backends serving `dbname` (their titles name it)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                title = f.read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and dbname in title:
            total += bench.cpu_seconds(int(pid)) or 0.0
    return total


def measure(backend, args, work, pg_admin_url):
    short = "sqlite" if backend == bench.SQLITE else "pg"
    gw = bench.Gateway(backend, work, pg_admin_url, short + "-idle")
    try:
        started = time.time()
        bench.fill(gw.database, bench.fleet(gw.account, gw.image))
        bench.log("%s: %d instances filled by SQL in %.1f s" % (backend, bench.BIG, time.time() - started))
        metrics_port = None
        if args.scrapes:
            metrics_port = bench.free_port()
            with open(gw.config, "a") as f:
                f.write('metrics_listen = "127.0.0.1:%d"\n' % metrics_port)
        server = gw.start()
        bench.settle_cpu(server.pid)
        cpu0, db0, t0 = bench.cpu_seconds(server.pid), postgres_backends_cpu(gw.dbname or "-"), time.time()
        time.sleep(args.seconds)
        elapsed = time.time() - t0
        cpu = (bench.cpu_seconds(server.pid) - cpu0) / elapsed
        db = (postgres_backends_cpu(gw.dbname or "-") - db0) / elapsed if gw.dbname else None
        bench.log("%s: %d stopped instances, idle %.0f s: gateway %.2f%% of a core%s, RSS %s KiB" % (
            backend, bench.BIG, elapsed, cpu * 100,
            "" if db is None else ", PostgreSQL backends %.2f%%" % (db * 100),
            bench.rss_kib(server.pid)))
        if metrics_port:
            took = []
            for _ in range(args.scrapes):
                t = time.perf_counter()
                with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=30) as r:
                    r.read()
                took.append((time.perf_counter() - t) * 1000)
            bench.log("%s: /metrics over %d instances: median %.1f ms, max %.1f ms (%d scrapes)" % (
                backend, bench.BIG, statistics.median(took), max(took), len(took)))
        return cpu
    finally:
        gw.stop()
        gw.drop(pg_admin_url)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--instances", type=int, default=bench.BIG)
    parser.add_argument("--binary", default=bench.GATEWAY, help="the ec2gw binary to measure")
    parser.add_argument("--scrapes", type=int, default=0, help="then time this many scrapes of /metrics")
    args = parser.parse_args()
    bench.BIG = args.instances
    bench.GATEWAY = os.path.abspath(args.binary)
    backends = [{"sqlite": bench.SQLITE, "postgres": bench.POSTGRES}[b] for b in args.backend.split(",")]

    work = tempfile.mkdtemp(prefix="ec2gw-idle-")
    os.chmod(work, 0o711)
    try:
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", os.path.join(work, "disk.qcow2"), "64M"],
                       check=True)
        pg_admin_url = None
        if bench.POSTGRES in backends:
            pg_admin_url = subprocess.run([os.path.join(bench.ROOT, "scripts", "postgres")], check=True,
                                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
        for backend in backends:
            measure(backend, args, work, pg_admin_url)
    finally:
        for server in bench.STARTED:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
