#!/usr/bin/env python3
"""ec2gw side by side with moto_server and a bare hyper server: one run, one report.

Run through bench/run (it builds the gateway and the bench tools and installs moto into
bench/.venv first). Every figure comes from `ec2gw-bench load` / `burst` (Rust, hyper, every
request SigV4-signed with aws-sigv4); this script only prepares the servers, fills databases,
runs the workloads and writes bench/reports/<timestamp>.md, .json and .png.

    bench/.venv/bin/python bench/bench.py [--runs 3] [--duration 10] [--only sqlite,postgres,moto,hyper]
"""
import argparse
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
GATEWAY = os.path.join(ROOT, "target", "release", "ec2gw")
TOOL = os.path.join(BENCH, "target", "release", "ec2gw-bench")
VENV = os.path.join(BENCH, ".venv")
REPORTS = os.path.join(BENCH, "reports")
VERSION = "Version=2016-11-15"

# Server names, in the order of the tables and the chart.
SQLITE, POSTGRES, MOTO, HYPER = "ec2gw SQLite", "ec2gw PostgreSQL", "moto_server", "bare hyper"
SERVERS = [SQLITE, POSTGRES, MOTO, HYPER]

IMAGES = 10_000          # DescribeImages catalogue, per server
BIG = 100_000            # instances behind the filtered DescribeInstances
RUN_REQUESTS = 100       # RunInstances per run of the answer-latency workload
BURST = 100              # RunInstances at once in the burst

# key -> (title, connections, form body). {image} is filled per server.
WORKLOADS = {
    "regions": ("DescribeRegions", 64, "Action=DescribeRegions&" + VERSION),
    "di100": ("DescribeInstances, 100 instances", 16, "Action=DescribeInstances&" + VERSION),
    "di1000": ("DescribeInstances, 1,000 instances", 2, "Action=DescribeInstances&" + VERSION),
    "di100k": ("DescribeInstances tag:env=env-3, MaxResults=1000, over 100,000 instances", 8,
               "Action=DescribeInstances&" + VERSION +
               "&Filter.1.Name=tag%3Aenv&Filter.1.Value.1=env-3&MaxResults=1000"),
    "di100k_quiet": ("the same, diagnostic: reconciler every hour instead of every second "
                     "(reconcile_interval_ms = 3600000)", 8,
                     "Action=DescribeInstances&" + VERSION +
                     "&Filter.1.Name=tag%3Aenv&Filter.1.Value.1=env-3&MaxResults=1000"),
    "images": ("DescribeImages Owner=self, name=image-012*, architecture=arm64 (25 of 10,000 images)", 16,
               "Action=DescribeImages&" + VERSION + "&Owner.1=self"
               "&Filter.1.Name=name&Filter.1.Value.1=image-012%2A"
               "&Filter.2.Name=architecture&Filter.2.Value.1=arm64"),
    "run": ("RunInstances MaxCount=1 (answer latency, 1 connection, %d calls a run)" % RUN_REQUESTS, 1,
            "Action=RunInstances&" + VERSION + "&ImageId={image}&InstanceType=t3.nano&MinCount=1&MaxCount=1"),
}
# Short names for the chart's x axis.
CHART_NAMES = {
    "regions": "DescribeRegions\n64 conn",
    "di100": "DescribeInstances\n100 inst, 16 conn",
    "di1000": "DescribeInstances\n1,000 inst, 2 conn",
    "di100k": "DescribeInstances tag filter\n100k inst, 8 conn",
    "di100k_quiet": "same, reconciler\nevery hour (diagnostic)",
    "images": "DescribeImages 2 filters\n10k images, 16 conn",
    "run": "RunInstances\n1 conn",
}


def log(message):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), message), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid, key="VmRSS"):
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
    return sum(int(x) for x in fields[11:15]) / 100.0


STARTED = []


class Server:
    """A server process, its endpoint, the key to sign with, and its log."""

    def __init__(self, name, argv, env=None, log_path=None, ready_line="Endpoint:", port=None):
        self.name = name
        self.log_path = log_path
        logf = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE if ready_line else logf,
                                     stderr=logf, text=True, env={**os.environ, **(env or {})})
        self.endpoint = None
        if ready_line:
            for line in self.proc.stdout:
                if line.startswith(ready_line):
                    self.endpoint = line.split()[-1].strip()
                    break
            if not self.endpoint:
                raise RuntimeError("%s did not start; see %s" % (name, log_path))
        else:
            self.endpoint = "http://127.0.0.1:%d" % port
            deadline = time.time() + 60
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("%s exited; see %s" % (name, log_path))
                    time.sleep(0.2)
        self.pid = self.proc.pid
        STARTED.append(self)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tool(*args):
    out = subprocess.run([TOOL, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def load(server, key, workload, args, image="", db_match=None, settle=False):
    _, connections, body = WORKLOADS[workload]
    argv = ["load", "--endpoint", server.endpoint, "--access-key", key[0], "--secret", key[1],
            "--body", body.replace("{image}", image), "--connections", str(connections),
            "--pid", str(server.pid), "--threads", str(args.client_threads), "--label", workload]
    if workload == "run":
        argv += ["--requests", str(RUN_REQUESTS)]
    else:
        argv += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    if db_match:
        argv += ["--db-match", db_match]
    runs = []
    for i in range(args.runs):
        if settle:
            # A slow server may still be working on requests the last window dropped.
            settle_cpu(server.pid, threshold=0.2, limit=90)
        result = tool(*argv)
        runs.append(result)
        log("  %-8s %-18s run %d: %8.1f req/s  p50 %7.2f ms  p99 %8.2f ms  errors %d" % (
            workload, server.name, i + 1, result["rps"], result["p50_ms"], result["p99_ms"],
            result["error_count"]))
        time.sleep(0.5)
    return runs


def burst(server, key, run_id, image):
    tag = ("&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=bench-burst"
           "&TagSpecification.1.Tag.1.Value=" + run_id)
    result = tool("burst", "--endpoint", server.endpoint, "--access-key", key[0], "--secret", key[1],
                  "--count", str(BURST), "--pid", str(server.pid),
                  "--run-body", "Action=RunInstances&%s&ImageId=%s&InstanceType=t3.nano&MinCount=1&MaxCount=1%s"
                  % (VERSION, image, tag),
                  "--poll-body", "Action=DescribeInstances&%s&Filter.1.Name=tag%%3Abench-burst&Filter.1.Value.1=%s"
                  % (VERSION, run_id))
    log("  burst    %-18s %s: all %d running after %s s (answers p99 %.1f ms, errors %s)" % (
        server.name, run_id, result["answered_ok"], result["seconds_to_all_running"],
        result["answer_p99_ms"], result["errors"] or "none"))
    return result


def boto_client(server, key):
    import boto3
    from botocore.config import Config
    return boto3.client("ec2", region_name="us-east-1", endpoint_url=server.endpoint,
                        aws_access_key_id=key[0], aws_secret_access_key=key[1],
                        config=Config(retries={"max_attempts": 3}))


def launch_and_wait(ec2, image, count, label):
    """RunInstances (boto3) in calls of at most 100, then waits until every instance runs."""
    started = time.time()
    made = 0
    while made < count:
        n = min(100, count - made)
        ec2.run_instances(ImageId=image, InstanceType="t3.nano", MinCount=n, MaxCount=n,
                          TagSpecifications=[{"ResourceType": "instance",
                                              "Tags": [{"Key": "Name", "Value": label}]}])
        made += n
    deadline = time.time() + 600
    while time.time() < deadline:
        states = {}
        for page in ec2.get_paginator("describe_instances").paginate():
            for r in page["Reservations"]:
                for i in r["Instances"]:
                    states[i["State"]["Name"]] = states.get(i["State"]["Name"], 0) + 1
        if states.get("running", 0) >= count and set(states) <= {"running"}:
            return time.time() - started
        time.sleep(0.3)
    raise RuntimeError("instances did not all run: %s" % states)


# ---------------------------------------------------------------------------------------------
# Rows made with SQL, matching diesel/{sqlite,postgres}/*/up.sql.

IMAGE_COLUMNS = ("image_id", "owner_id", "name", "description", "state", "architecture", "is_public",
                 "root_device_name", "size_gib", "disk_path", "disk_format", "disk_bytes", "sha256",
                 "created_at")
INSTANCE_COLUMNS = ("instance_id", "account_id", "reservation_id", "launch_index", "image_id",
                    "instance_type", "vcpus", "memory_mib", "key_name", "availability_zone", "state",
                    "state_reason_code", "state_reason_message", "transition_reason", "launch_time",
                    "state_changed_at", "user_data", "disable_api_termination", "disable_api_stop",
                    "shutdown_behavior", "subnet_id", "root_volume_id",
                    "root_size_gib", "root_delete_on_termination", "ebs_optimized", "monitoring",
                    "cpu_credits", "client_token", "reboot_requested_at", "hibernation_configured",
                    "stop_mode")
VOLUME_COLUMNS = ("volume_id", "account_id", "availability_zone", "size_gib", "state", "created_at",
                  "state_changed_at", "instance_id", "device", "attach_time", "delete_on_termination")
GROUP_COLUMNS = ("instance_id", "position", "group_ref")
TAG_COLUMNS = ("account_id", "resource_id", "tag_key", "tag_value", "resource_type")
RESERVATION_COLUMNS = ("reservation_id", "account_id", "client_token", "request_hash", "created_at")


def image_name(i):
    return "image-%05d" % i


def catalogue(owner):
    """10,000 images, as bench/catalogue_scale.py makes them but without tags: moto_server gets
    the same images, and tags make its start-up quadratic (2,000 tagged images: 5 s; 10,000:
    minutes)."""
    images = []
    for i in range(IMAGES):
        image_id = "ami-%017x" % random.getrandbits(68)
        images.append((image_id, owner, image_name(i), "", "available", "x86_64" if i % 4 else "arm64",
                       False, "/dev/xvda", 8, "/nonexistent/%s.qcow2" % image_id, "qcow2", 1, "0" * 64,
                       "2026-01-01T00:00:00.000Z"))
    return {"images": (IMAGE_COLUMNS, images)}


def default_network_id(prefix, account_id, what):
    """The id src/engine/network.rs derives for the account's default VPC, subnets and group."""
    digest = hashlib.sha256(f"ec2gw default network\0{account_id}\0{what}".encode()).hexdigest()
    return f"{prefix}-{digest[:17]}"


def fleet(owner, image_id):
    """100,000 stopped instances in 1,000 reservations, each tagged Name and env (10 values).

    Stopped, because the libvirt test driver forgets its domains when the gateway restarts and
    the reconciler would relaunch every `running` row; a stopped row is left alone."""
    now = "2026-01-01T00:00:00.000Z"
    reservations, instances, volumes, tags, groups = [], [], [], [], []
    reservation = None
    subnet = default_network_id("subnet", owner, "us-east-1a")
    group = default_network_id("sg", owner, "default group")
    for i in range(BIG):
        if i % 100 == 0:
            reservation = "r-%017x" % random.getrandbits(68)
            reservations.append((reservation, owner, None, "0" * 64, now))
        instance_id = "i-%017x" % random.getrandbits(68)
        volume_id = "vol-%017x" % random.getrandbits(68)
        instances.append((instance_id, owner, reservation, i % 100, image_id, "t3.nano", 2, 512, None,
                          "us-east-1a", "stopped", "Client.UserInitiatedShutdown",
                          "Client.UserInitiatedShutdown: User initiated shutdown",
                          "User initiated (2026-01-01 00:00:00 GMT)", now, now, "", False, False, "stop",
                          subnet, volume_id, 8, True, False, False,
                          "unlimited", "", None, False, "shutdown"))
        volumes.append((volume_id, owner, "us-east-1a", 8, "in-use", now, now, instance_id, "/dev/xvda", now,
                        True))
        groups.append((instance_id, 0, group))
        tags.append((owner, instance_id, "Name", "node-%06d" % i, "instance"))
        tags.append((owner, instance_id, "env", "env-%d" % (i % 10), "instance"))
    return {"reservations": (RESERVATION_COLUMNS, reservations),
            "instances": (INSTANCE_COLUMNS, instances), "volumes": (VOLUME_COLUMNS, volumes),
            "tags": (TAG_COLUMNS, tags), "instance_security_groups": (GROUP_COLUMNS, groups)}


def fill(database, tables):
    if database.startswith("sqlite://"):
        db = sqlite3.connect(database[len("sqlite://"):])
        with db:
            for table, (columns, rows) in tables.items():
                db.executemany("INSERT INTO %s (%s) VALUES (%s)" % (
                    table, ",".join(columns), ",".join("?" * len(columns))), rows)
        db.execute("ANALYZE")
        db.close()
        return

    def text(v):
        if v is None:
            return "\\N"
        if isinstance(v, bool):
            return "t" if v else "f"
        return str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    script = ["BEGIN;"]
    for table, (columns, rows) in tables.items():
        script.append("COPY %s (%s) FROM STDIN;" % (table, ",".join(columns)))
        script.extend("\t".join(text(v) for v in row) for row in rows)
        script.append("\\.")
    script.append("COMMIT;")
    script.append("ANALYZE;")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", database], input="\n".join(script) + "\n",
                   text=True, check=True, capture_output=True)


# ---------------------------------------------------------------------------------------------
# The servers.

class Gateway:
    """A fresh ec2gw (its own data directory and database), an account, a key and an image."""

    def __init__(self, backend, work, pg_admin_url, tag):
        self.backend = backend
        self.dir = tempfile.mkdtemp(prefix="ec2gw-%s-" % tag, dir=work)
        os.chmod(self.dir, 0o711)  # as a real data directory: else every launch logs a warning
        self.dbname = None
        if backend == SQLITE:
            self.database = "sqlite://" + os.path.join(self.dir, "ec2gw.sqlite")
        else:
            self.dbname = "ec2gw_bench_%d_%s" % (os.getpid(), tag.replace("-", "_"))
            psql(pg_admin_url, "DROP DATABASE IF EXISTS %s" % self.dbname)
            psql(pg_admin_url, "CREATE DATABASE %s" % self.dbname)
            self.database = pg_admin_url.rsplit("/", 1)[0] + "/" + self.dbname
        self.account = self.admin("account", "create")["AccountId"]
        access = self.admin("key", "create", "--account", self.account)["AccessKey"]
        self.key = (access["AccessKeyId"], access["SecretAccessKey"])
        self.image = self.admin("image", "import", os.path.join(work, "disk.qcow2"), "--name", "bench-disk",
                                "--account", self.account)["ImageId"]
        self.config = os.path.join(self.dir, "ec2gw.toml")
        with open(self.config, "w") as f:
            # Room for thousands of t3.nano on the test driver; VPCs recorded only (the API's
            # cost is measured here, the host network's by bench/network.py).
            f.write("host_vcpus = 10000000\nhost_memory_mib = 10000000000\nnetwork = \"off\"\n")
        self.server = None

    def admin(self, *args):
        out = subprocess.run([GATEWAY, "admin", "--database", self.database, "--data-dir", self.dir,
                              "--json", *args], check=True, capture_output=True, text=True).stdout
        return json.loads(out)

    def start(self):
        port = free_port()
        self.server = Server(self.backend, [
            GATEWAY, "serve", "--config", self.config, "--database", self.database, "--data-dir", self.dir,
            "--listen", "127.0.0.1:%d" % port, "--libvirt-uri", "test:///default", "--domain-type", "test",
        ], env={"EC2GW_LOG": "info"}, log_path=os.path.join(self.dir, "gateway.log"))
        return self.server

    def stop(self):
        if self.server:
            self.server.stop()
            self.server = None

    def drop(self, pg_admin_url):
        """Drops a PostgreSQL database once its gateway has stopped (SQLite files go with the
        work directory)."""
        if self.dbname:
            psql(pg_admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.dbname)


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   capture_output=True, text=True)


def gateway_suite(backend, args, work, pg_admin_url, results):
    short = "sqlite" if backend == SQLITE else "pg"
    db_match = None

    # 1. Everything but the 100,000-instance filter and the burst, on one gateway.
    gw = Gateway(backend, work, pg_admin_url, short + "-main")
    db_match = gw.dbname
    started = time.time()
    fill(gw.database, catalogue(gw.account))
    log("%s: %d images filled by SQL in %.1f s" % (backend, IMAGES, time.time() - started))
    server = gw.start()
    time.sleep(2)
    results["memory"][backend] = {"idle_rss_kib": rss_kib(server.pid)}
    log("%s: idle RSS %s KiB" % (backend, results["memory"][backend]["idle_rss_kib"]))
    ec2 = boto_client(server, gw.key)
    results["runs"]["regions"][backend] = load(server, gw.key, "regions", args, db_match=db_match)
    took = launch_and_wait(ec2, gw.image, 100, "bench")
    log("%s: 100 instances running after %.1f s (boto3 RunInstances, then polled)" % (backend, took))
    results["runs"]["di100"][backend] = load(server, gw.key, "di100", args, db_match=db_match)
    took = launch_and_wait(ec2, gw.image, 1000, "bench")
    log("%s: 1,000 instances running after %.1f s" % (backend, took))
    results["runs"]["di1000"][backend] = load(server, gw.key, "di1000", args, db_match=db_match)
    results["runs"]["images"][backend] = load(server, gw.key, "images", args, db_match=db_match)
    results["runs"]["run"][backend] = load(server, gw.key, "run", args, image=gw.image, db_match=db_match)
    results["memory"][backend]["main_hwm_kib"] = rss_kib(server.pid, "VmHWM")
    gw.stop()
    gw.drop(pg_admin_url)

    # 2. The burst: a fresh gateway each time, so that nothing else is in the database.
    results["bursts"][backend] = []
    for i in range(args.runs):
        b = Gateway(backend, work, pg_admin_url, "%s-burst%d" % (short, i))
        s = b.start()
        time.sleep(1)
        results["bursts"][backend].append(burst(s, b.key, "%s-%d" % (short, i), b.image))
        b.stop()
        b.drop(pg_admin_url)

    # 3. 100,000 instances, made by SQL, then the filtered first page.
    big = Gateway(backend, work, pg_admin_url, short + "-100k")
    started = time.time()
    fill(big.database, fleet(big.account, big.image))
    log("%s: %d instances, %d tags and %d reservations filled by SQL in %.1f s" % (
        backend, BIG, 2 * BIG, BIG // 100, time.time() - started))
    server = big.start()
    time.sleep(3)
    cpu0, t0 = cpu_seconds(server.pid), time.time()
    time.sleep(5)
    idle_cpu = (cpu_seconds(server.pid) - cpu0) / (time.time() - t0)
    results["memory"][backend]["big_idle_rss_kib"] = rss_kib(server.pid)
    results["memory"][backend]["big_idle_cpu"] = idle_cpu
    log("%s: with %d instances, idle RSS %s KiB, idle CPU %.1f%% of a core" % (
        backend, BIG, rss_kib(server.pid), idle_cpu * 100))
    results["runs"]["di100k"][backend] = load(server, big.key, "di100k", args, db_match=big.dbname)
    results["memory"][backend]["big_hwm_kib"] = rss_kib(server.pid, "VmHWM")
    big.stop()

    # 4. Diagnostic: the same database, the reconciler's periodic pass made hourly, to tell the
    # query's cost from the reconciler's (it reads every live instance each pass).
    with open(big.config, "a") as f:
        f.write("reconcile_interval_ms = 3600000\n")
    server = big.start()
    settle_cpu(server.pid)
    results["runs"]["di100k_quiet"][backend] = load(server, big.key, "di100k_quiet", args, db_match=big.dbname)
    results["memory"][backend]["quiet_hwm_kib"] = rss_kib(server.pid, "VmHWM")
    big.stop()
    big.drop(pg_admin_url)


def settle_cpu(pid, threshold=0.05, limit=60):
    """Waits until the process uses under `threshold` of a core over half a second (its
    start-up pass is over, or its backlog), at most `limit` seconds."""
    deadline = time.time() + limit
    while time.time() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.5)
        if (cpu_seconds(pid) - c0) / 0.5 < threshold:
            return


def moto_suite(args, work, results):
    # The same 10,000-image catalogue, loaded at start-up from a file (MOTO_AMIS_PATH), owned by
    # moto's default account so that Owner=self finds them.
    amis = []
    for i in range(IMAGES):
        amis.append({"ami_id": "ami-%017x" % random.getrandbits(68), "name": image_name(i), "description": "",
                     "owner_id": "123456789012", "public": False, "virtualization_type": "hvm",
                     "architecture": "x86_64" if i % 4 else "arm64", "state": "available",
                     "creation_date": "2026-01-01T00:00:00.000Z", "hypervisor": "xen",
                     "root_device_type": "ebs", "root_device_name": "/dev/xvda"})
    path = os.path.join(work, "moto-amis.json")
    with open(path, "w") as f:
        json.dump(amis, f)
    image = amis[0]["ami_id"]
    port = free_port()
    server = Server(MOTO, [os.path.join(VENV, "bin", "moto_server"), "-p", str(port)],
                    env={"MOTO_AMIS_PATH": path}, log_path=os.path.join(work, "moto.log"),
                    ready_line=None, port=port)
    try:
        key = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")  # moto takes any
        ec2 = boto_client(server, key)
        ec2.describe_regions()
        ec2.describe_images(Owners=["self"], MaxResults=5)  # loads the catalogue
        time.sleep(1)
        results["memory"][MOTO] = {"idle_rss_kib": rss_kib(server.pid)}
        log("moto: idle RSS %s KiB (10,000 images loaded)" % results["memory"][MOTO]["idle_rss_kib"])
        results["runs"]["regions"][MOTO] = load(server, key, "regions", args, settle=True)
        launch_and_wait(ec2, image, 100, "bench")
        results["runs"]["di100"][MOTO] = load(server, key, "di100", args, settle=True)
        launch_and_wait(ec2, image, 1000, "bench")
        results["runs"]["di1000"][MOTO] = load(server, key, "di1000", args, settle=True)
        results["runs"]["images"][MOTO] = load(server, key, "images", args, settle=True)
        results["runs"]["run"][MOTO] = load(server, key, "run", args, image=image, settle=True)
        results["bursts"][MOTO] = []
        for i in range(args.runs):
            settle_cpu(server.pid, threshold=0.2, limit=90)
            results["bursts"][MOTO].append(burst(server, key, "moto-%d" % i, image))
        results["memory"][MOTO]["main_hwm_kib"] = rss_kib(server.pid, "VmHWM")
    finally:
        server.stop()


def hyper_suite(args, results):
    server = Server(HYPER, [TOOL, "hello", "--listen", "127.0.0.1:0"])
    try:
        time.sleep(0.5)
        results["memory"][HYPER] = {"idle_rss_kib": rss_kib(server.pid)}
        results["runs"]["regions"][HYPER] = load(server, ("AKIAIOSFODNN7EXAMPLE", "secret"), "regions", args)
        results["memory"][HYPER]["main_hwm_kib"] = rss_kib(server.pid, "VmHWM")
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# The report.

def median(runs, field):
    values = [r[field] for r in runs if r.get(field) is not None]
    return statistics.median(values) if values else None


def summarise(results):
    out = {}
    for workload, by_server in results["runs"].items():
        out[workload] = {}
        for server, runs in by_server.items():
            errors = {}
            for r in runs:
                for code, n in r["errors"].items():
                    errors[code] = errors.get(code, 0) + n
            answered = [r for r in runs if r["ok"] > 0]
            out[workload][server] = {
                "rps": median(runs, "rps"), "p50_ms": median(answered, "p50_ms"),
                "p90_ms": median(answered, "p90_ms"), "p99_ms": median(answered, "p99_ms"),
                "max_ms": max([r["max_ms"] for r in answered] or [None], key=lambda v: v or 0),
                "ok": sum(r["ok"] for r in runs), "errors": errors,
                "cpu_per_1000": median(runs, "server_cpu_s_per_1000"),
                "db_cpu_per_1000": median(runs, "db_cpu_s_per_1000"),
                "client_cpu_per_1000": median(runs, "client_cpu_s_per_1000"),
                "hwm_kib": max(r["server_hwm_kib"] or 0 for r in runs),
                "bytes": median(runs, "bytes_per_answer"),
                "connections_opened": median(runs, "connections_opened"),
            }
    return out


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float) and abs(v) >= 1000:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def mib(kib):
    return None if kib is None else kib / 1024.0


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def write_report(results, args, stamp, started, load_before):
    summary = summarise(results)
    os.makedirs(REPORTS, exist_ok=True)
    base = os.path.join(REPORTS, stamp)
    with open(base + ".json", "w") as f:
        json.dump({"results": results, "summary": summary}, f, indent=1, sort_keys=True)

    chart = {"title": "ec2gw vs moto_server vs bare hyper, %s (median of %d runs)" % (stamp, args.runs),
             "servers": [s for s in SERVERS if any(s in summary.get(w, {}) for w in WORKLOADS)],
             "workloads": []}
    for w in WORKLOADS:
        if summary.get(w):
            chart["workloads"].append({"name": CHART_NAMES[w], "results": {
                s: {"rps": v["rps"], "p99_ms": v["p99_ms"]} for s, v in summary[w].items()}})
    with open(base + ".chart.json", "w") as f:
        json.dump(chart, f, indent=1)
    subprocess.run([TOOL, "chart", "--input", base + ".chart.json", "--output", base + ".png"], check=True)
    os.remove(base + ".chart.json")

    L = []
    add = L.append
    add("# ec2gw benchmark, %s" % stamp)
    add("")
    add("Made by `bench/run` (see bench/README.md). Chart: [%s.png](%s.png); every run's raw figures: "
        "[%s.json](%s.json)." % (stamp, stamp, stamp, stamp))
    add("")
    if results["failures"]:
        add("**Failed suites** (their figures are missing): " + "; ".join(results["failures"]))
        add("")
    add("## Setup")
    add("")
    for line in machine_facts(args, started, load_before):
        add("- " + line)
    add("")
    add("## Figures")
    add("")
    add("Medians of %d runs (max: the largest of the runs). req/s counts successful answers. CPU is "
        "the server process's user+system time (children included) per 1,000 successful requests; "
        "for PostgreSQL the database backends' CPU is shown separately (\"+ db\"). RSS: the server's "
        "VmHWM (peak) at the end of the workload's runs." % args.runs)
    add("")
    add("| workload | server | conn | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | server CPU s / 1k req | peak RSS MiB | answer bytes |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for w, (title, conns, _) in WORKLOADS.items():
        for s in SERVERS:
            v = summary.get(w, {}).get(s)
            if not v:
                continue
            cpu = fmt(v["cpu_per_1000"], 3)
            if v["db_cpu_per_1000"] is not None:
                cpu += " + db %s" % fmt(v["db_cpu_per_1000"], 3)
            errors = ", ".join("%s: %d" % kv for kv in sorted(v["errors"].items())) or "0"
            if v["ok"] == 0:
                errors += " (no answer inside any %g s window)" % args.duration
            add("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                title, s, conns, fmt(v["rps"]), fmt(v["p50_ms"], 2), fmt(v["p90_ms"], 2), fmt(v["p99_ms"], 2),
                fmt(v["max_ms"], 1), errors, cpu, fmt(mib(v["hwm_kib"])), fmt(v["bytes"], 0)))
    add("")
    add("Workloads not run on a server: moto_server has no 100,000-instance run (it keeps everything "
        "in Python objects and would need 100,000 RunInstances through its API first); the bare hyper "
        "server answers the same 300 bytes to anything, so it only stands in for DescribeRegions.")
    add("")
    add("### Ratios (medians)")
    add("")
    add("| workload | ec2gw SQLite / moto req/s | ec2gw PostgreSQL / moto req/s | ec2gw SQLite / bare hyper req/s | ec2gw PostgreSQL / bare hyper req/s | moto / ec2gw SQLite p99 |")
    add("|---|---|---|---|---|---|")
    for w, (title, _, _) in WORKLOADS.items():
        v = summary.get(w, {})
        g = lambda s, f: (v.get(s) or {}).get(f)
        cells = [ratio(g(SQLITE, "rps"), g(MOTO, "rps")), ratio(g(POSTGRES, "rps"), g(MOTO, "rps")),
                 ratio(g(SQLITE, "rps"), g(HYPER, "rps")), ratio(g(POSTGRES, "rps"), g(HYPER, "rps")),
                 ratio(g(MOTO, "p99_ms"), g(SQLITE, "p99_ms"))]
        add("| %s | %s |" % (title, " | ".join("n/a" if c is None else ("%.2fx" % c if c < 10 else "%.0fx" % c)
                                                for c in cells)))
    add("")
    add("### Burst: %d RunInstances at once (MaxCount=1 each, one connection each), until all are running" % BURST)
    add("")
    add("ec2gw: a fresh gateway and database per run, libvirt test driver (`test:///default`); "
        "DescribeInstances polled every 50 ms. moto: one server, instances are `running` at once.")
    add("")
    add("| server | runs: seconds to all running | median s | answers p50 ms | answers p99 ms | errors | server CPU s |")
    add("|---|---|---|---|---|---|---|")
    burst_median = {}
    for s in SERVERS:
        runs = results["bursts"].get(s)
        if not runs:
            continue
        times = [r["seconds_to_all_running"] for r in runs]
        ok_times = [t for t in times if t is not None]
        burst_median[s] = statistics.median(ok_times) if len(ok_times) == len(times) else None
        errors = {}
        for r in runs:
            for code, n in r["errors"].items():
                errors[code] = errors.get(code, 0) + n
        add("| %s | %s | %s | %s | %s | %s | %s |" % (
            s, ", ".join("n/a" if t is None else "%.2f" % t for t in times), fmt(burst_median[s], 2),
            fmt(median(runs, "answer_p50_ms"), 1), fmt(median(runs, "answer_p99_ms"), 1),
            ", ".join("%s: %d" % kv for kv in errors.items()) or "0", fmt(median(runs, "server_cpu_s"), 2)))
    add("")
    add("RunInstances to a real guest's boot marker on `qemu:///system` is measured by "
        "`bench/launch_time.py`, not here.")
    add("")
    add("### Memory")
    add("")
    add("| server | idle RSS MiB | peak RSS MiB, main workloads | 100,000 instances: idle RSS MiB | idle CPU (reconciler) | peak RSS MiB under the filtered load | same, reconciler hourly |")
    add("|---|---|---|---|---|---|---|")
    for s in SERVERS:
        m = results["memory"].get(s)
        if not m:
            continue
        add("| %s | %s | %s | %s | %s | %s | %s |" % (
            s, fmt(mib(m.get("idle_rss_kib"))), fmt(mib(m.get("main_hwm_kib"))), fmt(mib(m.get("big_idle_rss_kib"))),
            "n/a" if m.get("big_idle_cpu") is None else "%.0f%% of a core" % (m["big_idle_cpu"] * 100),
            fmt(mib(m.get("big_hwm_kib"))), fmt(mib(m.get("quiet_hwm_kib")))))
    add("")
    add("## Targets")
    add("")
    add("| target | backend | measured | |")
    add("|---|---|---|---|")
    hyper_rps = (summary.get("regions", {}).get(HYPER) or {}).get("rps")
    moto_di = (summary.get("di100", {}).get(MOTO) or {}).get("rps")
    for s in (SQLITE, POSTGRES):
        r = summary.get("regions", {}).get(s)
        if r:
            half = hyper_rps and r["rps"] >= hyper_rps / 2
            add("| DescribeRegions >= 1/2 of bare hyper's req/s at 64 connections | %s | %s vs %s req/s (%s) | %s |" % (
                s, fmt(r["rps"]), fmt(hyper_rps), "n/a" if not hyper_rps else "%.2fx" % (r["rps"] / hyper_rps),
                verdict(half)))
            add("| DescribeRegions p99 < 5 ms at 64 connections | %s | %s ms | %s |" % (
                s, fmt(r["p99_ms"], 2), verdict(r["p99_ms"] < 5)))
        d = summary.get("di100", {}).get(s)
        if d:
            add("| DescribeInstances (100) >= 100x moto_server's req/s | %s | %s vs %s req/s (%s) | %s |" % (
                s, fmt(d["rps"]), fmt(moto_di), "n/a" if not moto_di else "%.0fx" % (d["rps"] / moto_di),
                verdict(moto_di and d["rps"] >= 100 * moto_di)))
        b = summary.get("di100k", {}).get(s)
        if b:
            add("| filtered DescribeInstances over 100,000 p50 < 20 ms | %s | %s ms | %s |" % (
                s, fmt(b["p50_ms"], 2), verdict(b["p50_ms"] < 20)))
        if s in burst_median:
            t = burst_median[s]
            add("| 100 RunInstances on the test driver all running < 2 s | %s | %s s | %s |" % (
                s, fmt(t, 2), verdict(t is not None and t < 2)))
        m = results["memory"].get(s, {})
        if m.get("idle_rss_kib"):
            add("| RSS idle < 50 MB | %s | %s MiB | %s |" % (
                s, fmt(mib(m["idle_rss_kib"])), verdict(m["idle_rss_kib"] * 1024 < 50e6)))
        if m.get("big_hwm_kib"):
            add("| RSS < 200 MB with 100,000 instances under load | %s | %s MiB (peak) | %s |" % (
                s, fmt(mib(m["big_hwm_kib"])), verdict(m["big_hwm_kib"] * 1024 < 200e6)))
    add("")
    with open(base + ".md", "w") as f:
        f.write("\n".join(L))
    return base


def verdict(ok):
    return "met" if ok else "**missed**"


def machine_facts(args, started, load_before):
    def sh(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        except OSError:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    moto_version = sh(os.path.join(VENV, "bin", "python"), "-c", "import moto; print(moto.__version__)")
    return [
        "Machine: %d CPUs (%s), %d MiB RAM, Linux %s; shared with other builds and tests while this "
        "ran (load average %s before, %s after), so treat differences under ~20%% as noise."
        % (os.cpu_count(), cpu, mem, os.uname().release, load_before, load_after),
        "Gateway: `target/release/ec2gw` (release build, %s) at commit %s%s, `EC2GW_LOG=info` (one log "
        "line per request, to a file), libvirt test driver, SQLite in WAL mode on local disk; PostgreSQL %s "
        "on the same machine, a fresh database per gateway." % (
            time.strftime("built %Y-%m-%d %H:%M", time.localtime(os.path.getmtime(GATEWAY))),
            sh("git", "rev-parse", "--short", "HEAD") or "?",
            " (the work tree had uncommitted changes under src/)"
            if sh("git", "status", "--porcelain", "--", "src") else "",
            (re.findall(r"\d+\.\d+", sh("psql", "--version")) or ["?"])[0]),
        "Peer: moto_server %s (`bench/.venv`), `moto_server -p PORT`, its 10,000 images loaded with "
        "`MOTO_AMIS_PATH`, instances made with RunInstances." % moto_version,
        "Ceiling: `ec2gw-bench hello`, bare hyper 1 + tokio (2 worker threads, as the gateway), a fixed "
        "300-byte XML body.",
        "Client: `ec2gw-bench load`, hyper 1 HTTP/1.1, one connection per worker, every request "
        "signed afresh by aws-sigv4 (`POST /`, form body), %d tokio worker thread(s); it shares the "
        "2 CPUs with the server (its CPU per request is in the JSON)." % args.client_threads,
        "Each timed workload: %d runs of %g s after %g s of warm-up; RunInstances latency: %d runs of "
        "%d sequential calls; burst: %d runs. Whole run: %.1f minutes." % (
            args.runs, args.duration, args.warmup, args.runs, RUN_REQUESTS, args.runs,
            (time.time() - started) / 60),
        "Data: 10,000 images (no tags: moto's start-up is quadratic in tagged images) and, for the filtered DescribeInstances, 100,000 "
        "instances in 1,000 reservations (two tags each: Name and env, 10 env values, so the filter "
        "matches 10,000 and the first page is 1,000) are inserted with SQL straight into the "
        "images/tags and reservations/instances/tags tables of diesel/{sqlite,postgres}/*/up.sql, as "
        "bench/catalogue_scale.py does; the 100,000 are `stopped` (a `running` row without a domain "
        "would be relaunched by the reconciler). The 100 and 1,000 instances of the other "
        "DescribeInstances workloads are made with RunInstances (boto3) and are `running` on the "
        "test driver.",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--client-threads", type=int, default=1)
    parser.add_argument("--only", default="hyper,sqlite,postgres,moto",
                        help="comma-separated: hyper, sqlite, postgres, moto")
    parser.add_argument("--keep-work", action="store_true", help="keep data directories and logs")
    args = parser.parse_args()
    only = set(args.only.split(","))

    started = time.time()
    with open("/proc/loadavg") as f:
        load_before = " ".join(f.read().split()[:3])
    stamp = datetime.datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    work = tempfile.mkdtemp(prefix="ec2gw-bench-")
    os.chmod(work, 0o711)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", os.path.join(work, "disk.qcow2"), "64M"],
                   check=True)
    results = {"runs": {w: {} for w in WORKLOADS}, "bursts": {}, "memory": {}, "failures": [],
               "settings": vars(args), "stamp": stamp}
    pg_admin_url = None
    if "postgres" in only:
        pg_admin_url = subprocess.run([os.path.join(ROOT, "scripts", "postgres")], check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1]
    suites = [
        ("hyper", "bare hyper", lambda: hyper_suite(args, results)),
        ("sqlite", "ec2gw on SQLite", lambda: gateway_suite(SQLITE, args, work, pg_admin_url, results)),
        ("postgres", "ec2gw on PostgreSQL", lambda: gateway_suite(POSTGRES, args, work, pg_admin_url, results)),
        ("moto", "moto_server", lambda: moto_suite(args, work, results)),
    ]
    try:
        for key, title, suite in suites:
            if key not in only:
                continue
            log(title)
            try:
                suite()
            except Exception as e:  # one failed suite must not lose the others' figures
                log("%s FAILED: %r" % (title, e))
                results["failures"].append("%s: %r" % (title, e))
            finally:
                for server in STARTED:
                    server.stop()
    finally:
        if pg_admin_url:
            out = subprocess.run(["psql", "-X", "-qAt", pg_admin_url, "-c",
                                  "SELECT datname FROM pg_database WHERE datname LIKE 'ec2gw_bench_%d_%%'"
                                  % os.getpid()], capture_output=True, text=True).stdout.split()
            for name in out:
                subprocess.run(["psql", "-X", "-q", pg_admin_url, "-c",
                                "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name], capture_output=True)
        if args.keep_work:
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    base = write_report(results, args, stamp, started, load_before)
    log("report: %s.md (chart %s.png) after %.1f minutes" % (base, base, (time.time() - started) / 60))


if __name__ == "__main__":
    sys.exit(main())
