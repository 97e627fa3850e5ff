#!/usr/bin/env python3
"""Filtered DescribeImages / DescribeTags over a big catalogue.

Fills a fresh database with N images (default 100,000), each with two tags, then times
filtered first pages through boto3 against `ec2gw serve`, and reports medians.
Rows are inserted with SQL for speed (the API would take minutes to create 100,000 images);
what is measured is the gateway answering over them.

    .venv/bin/python bench/catalogue_scale.py [--rows 100000] [--database postgres://...]
"""
import argparse
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin(binary, database, *args):
    out = subprocess.run([binary, "admin", "--database", database, "--json", *args],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def rows(n, owner):
    for i in range(n):
        image_id = "ami-%017x" % random.getrandbits(68)
        yield (image_id, owner, "image-%06d" % i, "", "available",
               "x86_64" if i % 4 else "arm64", i % 10 == 0, "/dev/xvda", 8,
               "/nonexistent/%s.qcow2" % image_id, "qcow2", 1, "0" * 64,
               "2026-01-01T00:00:00.000Z")


def fill_sqlite(path, n, owner):
    db = sqlite3.connect(path)
    with db:
        images = list(rows(n, owner))
        db.executemany("INSERT INTO images VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", images)
        db.executemany("INSERT INTO tags VALUES (?,?,?,?,?)",
                       [(owner, r[0], "Name", "web-%06d" % i, "image") for i, r in enumerate(images)])
        db.executemany("INSERT INTO tags VALUES (?,?,?,?,?)",
                       [(owner, r[0], "team", "team-%d" % (i % 100), "image") for i, r in enumerate(images)])
    db.close()


def fill_postgres(url, n, owner):
    images = list(rows(n, owner))
    lines = ["BEGIN;"]
    def q(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return "'" + v.replace("'", "''") + "'"
    for chunk in range(0, n, 1000):
        part = images[chunk:chunk + 1000]
        lines.append("INSERT INTO images VALUES " + ",".join("(" + ",".join(q(v) for v in r) + ")" for r in part) + ";")
        lines.append("INSERT INTO tags VALUES " + ",".join(
            "(%s,%s,'Name',%s,'image'),(%s,%s,'team',%s,'image')" % (
                q(owner), q(r[0]), q("web-%06d" % (chunk + j)), q(owner), q(r[0]), q("team-%d" % ((chunk + j) % 100)))
            for j, r in enumerate(part)) + ";")
    lines.append("COMMIT; ANALYZE;")
    subprocess.run(["psql", "-q", url], input="\n".join(lines), text=True, check=True, capture_output=True)


def timed(call, repeat):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples), max(samples), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", help="a fresh postgres:// database (default: SQLite in a temp dir)")
    parser.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "ec2gw"))
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="ec2gw-bench-")
    database = args.database or "sqlite://" + os.path.join(work, "ec2gw.sqlite")
    account = admin(args.binary, database, "account", "create")["AccountId"]
    key = admin(args.binary, database, "key", "create", "--account", account)["AccessKey"]
    started = time.perf_counter()
    if args.database:
        fill_postgres(args.database, args.rows, account)
    else:
        fill_sqlite(database[len("sqlite://"):], args.rows, account)
    print("filled %d images and %d tags in %.1f s" % (args.rows, 2 * args.rows, time.perf_counter() - started))

    port = free_port()
    log_path = os.path.join(work, "gateway.log")
    log = open(log_path, "w")
    server = subprocess.Popen([args.binary, "serve", "--database", database, "--data-dir", work,
                               "--listen", "127.0.0.1:%d" % port],
                              stdout=subprocess.PIPE, stderr=log, text=True,
                              env={**os.environ, "EC2GW_LOG": "info", "EC2GW_NETWORK": "off"})
    try:
        for line in server.stdout:
            if line.startswith("Endpoint:"):
                break
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url="http://127.0.0.1:%d" % port,
                           aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                           config=Config(retries={"max_attempts": 1}))
        ec2.describe_regions()
        cases = [
            ("DescribeImages tag:Name=web-054321 (exact)",
             lambda: len(ec2.describe_images(Filters=[{"Name": "tag:Name", "Values": ["web-054321"]}])["Images"])),
            ("DescribeImages tag:Name=web-0543* (wildcard), MaxResults=50",
             lambda: len(ec2.describe_images(Filters=[{"Name": "tag:Name", "Values": ["web-0543*"]}], MaxResults=50)["Images"])),
            ("DescribeImages name=image-07777?, architecture=arm64",
             lambda: len(ec2.describe_images(Filters=[{"Name": "name", "Values": ["image-07777?"]},
                                                      {"Name": "architecture", "Values": ["arm64"]}])["Images"])),
            ("DescribeImages first page, MaxResults=1000",
             lambda: len(ec2.describe_images(MaxResults=1000)["Images"])),
            ("DescribeTags key=team value=team-42, MaxResults=1000",
             lambda: len(ec2.describe_tags(Filters=[{"Name": "key", "Values": ["team"]},
                                                    {"Name": "value", "Values": ["team-42"]}], MaxResults=1000)["Tags"])),
            ("DescribeTags resource-type=image, MaxResults=100",
             lambda: len(ec2.describe_tags(Filters=[{"Name": "resource-type", "Values": ["image"]}], MaxResults=100)["Tags"])),
        ]
        backend = "PostgreSQL" if args.database else "SQLite"
        print("\n%d images, %s, %d calls each. Client: boto3 on loopback, including its signing and its "
              "XML parsing; gateway: the time the gateway logs from request to answer.\n"
              % (args.rows, backend, args.repeat))
        print("| call | items | client median ms | client min ms | gateway median ms | gateway max ms |")
        print("|---|---|---|---|---|---|")
        for name, call in cases:
            log.flush()
            seen = os.path.getsize(log_path)
            median, low, _, items = timed(call, args.repeat)
            time.sleep(0.2)
            with open(log_path) as f:
                f.seek(seen)
                server_ms = [int(m.group(1)) / 1000 for m in re.finditer(r"latency_us=(\d+)", f.read())]
            print("| %s | %d | %.1f | %.1f | %.1f | %.1f |" % (
                name, items, median, low, statistics.median(server_ms), max(server_ms)))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    sys.exit(main())
