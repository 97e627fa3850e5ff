#!/usr/bin/env python3
"""Launch times on real guests: `ec2gw serve` on qemu:///system (TCG here), the test image of
scripts/build-test-image, through boto3.

Measures
  - RunInstances answer latency (MaxCount=1; each instance terminated, and gone, before the next
    call, so every call meets an idle gateway), median of --calls (default 20);
  - seconds from sending RunInstances to the instance showing `running` in DescribeInstances,
    and to EC2GW-TEST-GUEST-BOOTED in GetConsoleOutput (polled every 0.1 s), median of --boots
    (default 5), one guest at a time;
and prints a Markdown table.

Reuses the harness of conformance/test_real_guest.py (gateway, host lock, cleanup of every
domain it made). Needs root and scripts/libvirt.

    .venv/bin/python bench/launch_time.py [--calls 20] [--boots 5] [--binary target/debug/ec2gw]
"""
import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "conformance"))

from test_real_guest import (  # noqa: E402
    BOOTED,
    INSTANCE_TYPE,
    TINY_MIB,
    TINY_VCPUS,
    build_test_image,
    console,
    prepare_host,
    real_gateway,
    state_of,
    wait_state,
)


def terminate(ec2, instance_id):
    ec2.terminate_instances(InstanceIds=[instance_id])
    wait_state(ec2, [instance_id], "terminated", timeout=60)


def row(name, values, unit, scale=1.0, digits=2):
    values = [v * scale for v in values]
    fmt = f"{{:.{digits}f}}"
    return (f"| {name} | {fmt.format(statistics.median(values))} {unit} | {fmt.format(min(values))} {unit} | "
            f"{fmt.format(max(values))} {unit} | {len(values)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--binary", default=str(ROOT / "target" / "debug" / "ec2gw"))
    args = parser.parse_args()

    prepare_host()
    image = build_test_image()
    latencies, to_running, to_booted = [], [], []
    with real_gateway(Path(args.binary), image, "ec2gw-bench-launch-") as gw:
        ec2 = gw.client()
        ec2.describe_instances()  # warm the connection and the signer

        for _ in range(args.calls):
            t0 = time.perf_counter()
            [instance] = gw.run(ec2)
            latencies.append(time.perf_counter() - t0)
            terminate(ec2, instance["InstanceId"])

        for _ in range(args.boots):
            t0 = time.perf_counter()
            [instance] = gw.run(ec2)
            iid = instance["InstanceId"]
            running = None
            while time.perf_counter() - t0 < 120:
                if running is None and state_of(ec2, iid) == "running":
                    running = time.perf_counter() - t0
                if BOOTED in console(ec2, iid):
                    to_booted.append(time.perf_counter() - t0)
                    break
                time.sleep(0.1)
            else:
                raise SystemExit(f"{iid}: no {BOOTED} within 120 s")
            to_running.append(running if running is not None else to_booted[-1])
            terminate(ec2, iid)

    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"ec2gw on qemu:///system, domain type qemu (TCG); {INSTANCE_TYPE} as {TINY_VCPUS} vCPU / {TINY_MIB} MiB; "
          f"{cores} cores, {platform.release()}, {qemu}; SQLite; reconcile interval 200 ms\n")
    print("| measure | median | min | max | n |")
    print("|---|---|---|---|---|")
    print(row("RunInstances answer (MaxCount=1)", latencies, "ms", 1000, 1))
    print(row("RunInstances -> `running`", to_running, "s"))
    print(row(f"RunInstances -> {BOOTED} in GetConsoleOutput", to_booted, "s"))


if __name__ == "__main__":
    main()
