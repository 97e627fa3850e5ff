"""Crash repair: `kill -9` the gateway in the middle of launches and terminations, start it
again on the same database and data dir, and check that the reconciler finishes the job with
nothing lost and nothing left over (DESIGN.md: "Intent is written to the database before
libvirt is touched, so a crash between the two is repaired by the reconciler: no orphan
domain, no lost instance").

It needs qemu:///system: libvirt's test driver keeps its domains inside the gateway's process,
so a killed gateway takes them along and there would be nothing to repair. Tiny real guests
(1 vCPU / 256 MiB, the test image) on the harness of test_real_guest.py.

The kill delays are random; the seed is printed and EC2GW_CRASH_SEED=N replays a run.
"""

from __future__ import annotations

import datetime
import os
import random
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest

from test_real_guest import (
    BOOTED,
    RealGateway,
    build_test_image,
    domain_names,
    domain_state,
    domains_under,
    marker_count,
    prepare_host,
    real_gateway,
    searchable_workdir,
    show,
    virsh,
    wait_state,
    wait_until,
)

COUNT = 3
REPAIR_TIMEOUT = 30.0
SWEEP_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def test_image() -> Path:
    prepare_host()
    return build_test_image()


@pytest.fixture(scope="module")
def rng():
    seed = int(os.environ.get("EC2GW_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"EC2GW_CRASH_SEED={seed}")
    return seed, random.Random(seed)


@pytest.fixture(scope="module")
def gw(ec2gw_bin, test_image, request):
    """The gateway every test here kills and restarts (holding the host lock throughout)."""
    with real_gateway(ec2gw_bin, test_image, "ec2gw-crash-", request) as gateway:
        yield gateway


def restart(gw: RealGateway):
    """kill -9 (if still alive), start again on the same database, data dir and port; a new client."""
    gw.kill9()
    gw.start()
    return gw.client()


def live_ids(ec2) -> set[str]:
    found = ec2.describe_instances()
    return {i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] != "terminated"}


def instance_files(gw: RealGateway) -> dict[str, set[str]]:
    root = gw.data_dir / "instances"
    if not root.exists():
        return {}
    return {d.name: {f.name for f in d.iterdir()} for d in root.iterdir()}


def stray_files(gw: RealGateway) -> list[str]:
    """Half-made overlays (`*.partial`) and anything but a directory under instances/."""
    root = gw.data_dir / "instances"
    out = []
    for p in root.rglob("*") if root.exists() else []:
        if p.name.endswith(".partial") or (p.parent == root and not p.is_dir()):
            out.append(str(p.relative_to(gw.data_dir)))
    return out


def assert_repaired_running(gw: RealGateway, ec2, ids: list[str], context: str) -> None:
    wait_state(ec2, ids, "running", timeout=REPAIR_TIMEOUT)
    assert live_ids(ec2) == set(ids), f"{context}: DescribeInstances shows other live instances"
    ours = domains_under(gw.data_dir)
    assert ours == set(ids), f"{context}: domains {sorted(ours)} for instances {sorted(ids)}"
    states = {i: domain_state(i) for i in ids}
    assert all(s == "running" for s in states.values()), f"{context}: {states}"
    files = instance_files(gw)
    assert set(files) == set(ids), f"{context}: instance dirs {sorted(files)}"
    for iid, names in files.items():
        assert names <= {"disk.qcow2", "console.log"} and "disk.qcow2" in names, f"{context}: {iid}: {names}"
    assert stray_files(gw) == [], f"{context}: stray files {stray_files(gw)}"


def assert_all_gone(gw: RealGateway, ec2, ids: list[str], context: str) -> None:
    wait_state(ec2, ids, "terminated", timeout=REPAIR_TIMEOUT)
    left = domains_under(gw.data_dir) | (set(ids) & domain_names())
    assert not left, f"{context}: domains left: {sorted(left)}"
    files = instance_files(gw)
    assert not files, f"{context}: instance dirs left: {files}"


def test_kill_during_launch_and_termination_is_repaired(gw, rng, capsys):
    seed, r = rng
    ec2 = gw.client()
    # Early (overlays being made, domains being defined), middle (QEMU starting), late.
    delays = [r.uniform(0.0, 0.15), r.uniform(0.15, 0.6), r.uniform(0.6, 1.5)]
    r.shuffle(delays)
    term_delays = [r.uniform(0.0, 0.3) for _ in delays]
    for cycle, (delay, term_delay) in enumerate(zip(delays, term_delays), 1):
        context = f"cycle {cycle} (seed {seed}, kill {delay:.2f} s after RunInstances)"
        token = f"crash-{uuid.uuid4()}"
        t0 = time.monotonic()
        instances = gw.run(ec2, count=COUNT, ClientToken=token)
        ids = sorted(i["InstanceId"] for i in instances)
        time.sleep(max(0.0, delay - (time.monotonic() - t0)))
        gw.kill9()
        killed_at = time.monotonic() - t0
        before = {i: domain_state(i) for i in ids}
        # And once more during the repair (the first reconciler pass after the restart).
        ec2 = restart(gw)
        second = r.uniform(0.0, 0.4)
        time.sleep(second)
        ec2 = restart(gw)
        show(capsys, f"{context}: killed at {killed_at:.2f} s with domains {before}; "
                     f"killed again {second:.2f} s into the repair")

        # The client retries the call it never saw answered (same ClientToken): same instances.
        again = gw.run(ec2, count=COUNT, ClientToken=token)
        assert sorted(i["InstanceId"] for i in again) == ids, f"{context}: ClientToken retry made new instances"

        assert_repaired_running(gw, ec2, ids, context)
        # Each guest booted once: nothing was started twice or restarted by the repair.
        logs = {i: gw.instance_dir(i) / "console.log" for i in ids}
        wait_until(f"{context}: every guest booted",
                   lambda: all(p.exists() and marker_count(p.read_text(errors="replace"), BOOTED) >= 1
                               for p in logs.values()), timeout=60)
        boots = {i: marker_count(p.read_text(errors="replace"), BOOTED) for i, p in logs.items()}
        assert all(n == 1 for n in boots.values()), f"{context}: boots per guest {boots}"

        # Terminate (the guests are being shut down), and kill -9 right after the answer.
        ec2.terminate_instances(InstanceIds=ids)
        time.sleep(term_delay)
        gw.kill9()
        ec2 = restart(gw)
        assert_all_gone(gw, ec2, ids, f"{context}, then kill {term_delay:.2f} s after TerminateInstances")
    assert gw.alive()


def volume_states(ec2, volume_ids: list[str]) -> dict[str, str]:
    found = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": volume_ids}])["Volumes"]
    return {v["VolumeId"]: v["State"] for v in found}


def test_kill_while_kept_volumes_are_released_and_deleted(gw, rng, capsys):
    """DeleteOnTermination=false: kill -9 right after TerminateInstances (disks being moved to
    volumes/), then right after DeleteVolume (disks being removed): every volume ends
    `available` with its disk, then gone with its disk."""
    seed, r = rng
    ec2 = gw.client()
    instances = gw.run(ec2, count=COUNT, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}}])
    ids = sorted(i["InstanceId"] for i in instances)
    volumes = sorted(i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] for i in instances)
    wait_state(ec2, ids, "running", timeout=REPAIR_TIMEOUT)
    disks = {v: gw.data_dir / "volumes" / f"{v}.qcow2" for v in volumes}

    delay = r.uniform(0.0, 0.3)
    ec2.terminate_instances(InstanceIds=ids, SkipOsShutdown=True)
    time.sleep(delay)
    gw.kill9()
    ec2 = restart(gw)
    context = f"seed {seed}, kill {delay:.2f} s after TerminateInstances"
    assert_all_gone(gw, ec2, ids, context)
    wait_until(f"{context}: volumes available",
               lambda: volume_states(ec2, volumes) == dict.fromkeys(volumes, "available"), timeout=REPAIR_TIMEOUT)
    assert all(p.is_file() for p in disks.values()), f"{context}: disks {disks}"

    delay = r.uniform(0.0, 0.2)
    for v in volumes:
        ec2.delete_volume(VolumeId=v)
    time.sleep(delay)
    gw.kill9()
    ec2 = restart(gw)
    context = f"seed {seed}, kill {delay:.2f} s after DeleteVolume"
    wait_until(f"{context}: volumes gone", lambda: volume_states(ec2, volumes) == {}, timeout=REPAIR_TIMEOUT)
    assert not any(p.exists() for p in disks.values()), f"{context}: disks left"
    show(capsys, f"kept volumes: released and deleted across kills (seed {seed})")


def test_kill_during_stop_is_repaired(gw, rng, capsys):
    seed, r = rng
    ec2 = gw.client()
    [instance] = gw.run(ec2)
    iid = instance["InstanceId"]
    wait_state(ec2, [iid], "running")
    log = gw.instance_dir(iid) / "console.log"
    wait_until("guest ready", lambda: log.exists() and "EC2GW-TEST-GUEST-READY" in log.read_text(errors="replace"),
               timeout=60)
    ec2.stop_instances(InstanceIds=[iid])
    delay = r.uniform(0.0, 1.0)
    time.sleep(delay)
    gw.kill9()
    ec2 = restart(gw)
    wait_state(ec2, [iid], "stopped", timeout=REPAIR_TIMEOUT)
    show(capsys, f"stop: killed {delay:.2f} s after StopInstances (seed {seed}); stopped after the restart")
    assert domain_state(iid) == "shut off", f"seed {seed}, kill {delay:.2f} s after StopInstances"
    assert (gw.instance_dir(iid) / "disk.qcow2").is_file()

    ec2.start_instances(InstanceIds=[iid])
    wait_state(ec2, [iid], "running")
    assert domain_state(iid) == "running"
    ec2.terminate_instances(InstanceIds=[iid], SkipOsShutdown=True)
    assert_all_gone(gw, ec2, [iid], "after the stop/start")


def test_orphan_domain_of_a_terminated_instance_is_swept(gw, capsys):
    ec2 = gw.client()
    [instance] = gw.run(ec2)
    iid = instance["InstanceId"]
    wait_state(ec2, [iid], "running")
    dumped = virsh("dumpxml", "--inactive", iid)
    assert dumped.returncode == 0, dumped.stderr
    assert "https://ec2gw.dev/xmlns/instance/1" in dumped.stdout, "the domain carries no ec2gw metadata"
    xml = gw.work / f"{iid}.xml"
    xml.write_text(dumped.stdout)
    ec2.terminate_instances(InstanceIds=[iid], SkipOsShutdown=True)
    assert_all_gone(gw, ec2, [iid], "terminate")

    # Behind a stopped gateway: the domain of a terminated instance comes back.
    gw.kill9()
    assert virsh("define", str(xml)).returncode == 0
    assert domain_state(iid) == "shut off"
    t0 = time.monotonic()
    ec2 = restart(gw)
    wait_until(f"orphan {iid} removed after the restart", lambda: domain_state(iid) is None, timeout=SWEEP_TIMEOUT)
    after_restart = time.monotonic() - t0

    # And while the gateway runs (the sweep runs every tenth pass).
    assert virsh("define", str(xml)).returncode == 0
    t0 = time.monotonic()
    wait_until(f"orphan {iid} removed while running", lambda: domain_state(iid) is None, timeout=SWEEP_TIMEOUT)
    while_running = time.monotonic() - t0
    show(capsys, f"orphan domain swept {after_restart:.2f} s after a restart, {while_running:.2f} s while running")
    assert state_of_terminated(ec2, iid)
    assert not gw.instance_dir(iid).exists()


def state_of_terminated(ec2, iid: str) -> bool:
    found = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    return found["State"]["Name"] == "terminated"


def test_kill_during_the_run_instances_call(gw, rng, capsys):
    """kill -9 while RunInstances is in flight (from the moment botocore sends it; the gateway
    takes a few ms to answer), so the client may or may not get its answer; its retry with the
    same ClientToken after the restart ends with exactly the asked-for instances, all running."""
    seed, r = rng
    for attempt, delay in enumerate([0.0, r.uniform(0.0005, 0.003), r.uniform(0.003, 0.015)], 1):
        context = f"attempt {attempt} (seed {seed}, kill {delay * 1000:.1f} ms after the request is sent)"
        token = f"crash-call-{uuid.uuid4()}"
        caller = gw.client()
        timers = []

        def kill_soon(**_):
            timer = threading.Timer(delay, gw.kill9)
            timers.append(timer)
            timer.start()

        caller.meta.events.register("before-send.ec2.RunInstances", kill_soon)
        try:
            first = sorted(i["InstanceId"] for i in gw.run(caller, count=2, ClientToken=token))
            outcome = "answered"
        except Exception as e:  # the connection dies with the gateway
            first, outcome = None, f"{type(e).__name__}"
        for timer in timers:
            timer.join(10)
        restarted = datetime.datetime.now(datetime.timezone.utc)
        ec2 = restart(gw)
        again = gw.run(ec2, count=2, ClientToken=token)
        ids = sorted(i["InstanceId"] for i in again)
        committed = all(i["LaunchTime"] < restarted for i in again)
        show(capsys, f"{context}: first call {outcome}; "
                     f"{'its instances were committed' if committed else 'nothing was committed'} before the kill")
        if first is not None:
            assert ids == first, f"{context}: the retry made new instances"
        assert_repaired_running(gw, ec2, ids, context)
        ec2.terminate_instances(InstanceIds=ids, SkipOsShutdown=True)
        assert_all_gone(gw, ec2, ids, context)


def test_two_gateways_on_one_host_leave_each_others_domains_alone(gw, ec2gw_bin, test_image, capsys):
    """Two gateways with their own databases on one libvirt host (a developer's gateway and a
    test run, or two test runs): each one's orphan sweep must not take the other's domains
    for orphans of its own."""
    other = RealGateway(ec2gw_bin, searchable_workdir("ec2gw-crash-other-"), public_pool="198.19.3.0/24")
    try:
        other.import_image(test_image)
        other.start()
        mine, theirs = gw.client(), other.client()
        [a] = gw.run(mine)
        [b] = other.run(theirs)
        a, b = a["InstanceId"], b["InstanceId"]
        wait_state(mine, [a], "running")
        wait_state(theirs, [b], "running")
        # Several sweep periods (every 10th pass, 200 ms apart) of both gateways.
        time.sleep(4)
        seen = {a: (state_of(mine, a), domain_state(a)), b: (state_of(theirs, b), domain_state(b))}
        swept = [line.split("WARN ", 1)[-1].strip() for g in (gw, other)
                 for line in g.current.stderr_path.read_text(errors="replace").splitlines()
                 if "removing a domain" in line]
        assert seen == {a: ("running", "running"), b: ("running", "running")}, (
            f"(instance state, domain state): {seen}; the sweeps said: {swept}")
        mine.terminate_instances(InstanceIds=[a], SkipOsShutdown=True)
        theirs.terminate_instances(InstanceIds=[b], SkipOsShutdown=True)
        wait_state(mine, [a], "terminated")
        wait_state(theirs, [b], "terminated")
    finally:
        other.cleanup()
        shutil.rmtree(other.work, ignore_errors=True)


def state_of(ec2, iid: str) -> str:
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["State"]["Name"]
