"""Real guests: ec2gw on qemu:///system (TCG, `--domain-type qemu`) booting the test image of
scripts/build-test-image, driven through boto3 only; libvirt is looked at (and, for the drift
tests, poked behind the gateway's back) with `virsh`.

The gateway here is this module's own `ec2gw serve` (not conftest's test-driver one): its own
SQLite database, data dir (under a 0711 directory in /tmp, so QEMU's libvirt-qemu user can reach
the disks) and config file (a short reconcile interval; t3.nano resized to 1 vCPU / 256 MiB so
guests are cheap, and named as a real type so every answer still passes the ec2-spec check).

The harness (`RealGateway`, `virsh`, console helpers, the domain cleanup) is shared with
test_crash.py and bench/launch_time.py.

Needs root (qemu:///system) and scripts/libvirt; the module is skipped only when QEMU itself
cannot start a TCG machine here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import (
    GATEWAY_KEY,
    REPO,
    Account,
    Gateway,
    admin_json,
    clean_env,
    create_account,
    network_env,
    purge_network,
    free_port,
    make_client,
    stop,
    tail,
    wait_ready,
)

URI = "qemu:///system"
BOOTED = "EC2GW-TEST-GUEST-BOOTED"
READY = "EC2GW-TEST-GUEST-READY"
POWEROFF = "EC2GW-TEST-GUEST-POWEROFF"
KERNEL_BANNER = "] Linux version "  # the first line the guest's kernel prints, once a boot
# Resized in the config file to 1 vCPU / 256 MiB: a real type name keeps answers valid for
# the ec2-spec check (instanceType is an enum in the botocore model).
INSTANCE_TYPE = "t3.nano"
TINY_VCPUS = 1
TINY_MIB = 256
RECONCILE_MS = 200
BOOT_TIMEOUT = 60.0  # boot marker; ~4 s on an idle 2-core machine under TCG
STATE_TIMEOUT = 45.0
# Every gateway's orphan sweep removes the domains of every other gateway (with another
# database) on the same libvirt host (see test_crash.py::test_two_gateways_on_one_host_...), so
# the modules (and bench/launch_time.py) that run gateways on qemu:///system take turns.
HOST_LOCK = Path("/tmp/ec2gw-qemu-system.lock")
HOST_LOCK_WAIT = 900.0


# --------------------------------------------------------------------------- virsh


def virsh(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["virsh", "-c", URI, *args], capture_output=True, text=True, timeout=timeout)


def domain_names() -> set[str]:
    proc = virsh("list", "--all", "--name")
    assert proc.returncode == 0, f"virsh list failed: {proc.stderr}"
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


def domain_state(name: str) -> str | None:
    """`virsh domstate` ("running", "shut off", ...), or None when there is no such domain."""
    proc = virsh("domstate", name)
    if proc.returncode != 0:
        assert "failed to get domain" in proc.stderr or "Domain not found" in proc.stderr, proc.stderr
        return None
    return proc.stdout.strip()


def remove_domain(name: str) -> None:
    """destroy + undefine, ignoring 'not running' / 'not found'."""
    virsh("destroy", name)
    virsh("undefine", name, "--managed-save", "--snapshots-metadata")


def domains_under(path: Path) -> set[str]:
    """i- domains whose definition mentions `path` (their disk or console lives under it)."""
    found = set()
    for name in domain_names():
        if not name.startswith("i-"):
            continue
        xml = virsh("dumpxml", "--inactive", name)
        if xml.returncode == 0 and str(path) in xml.stdout:
            found.add(name)
    return found


# --------------------------------------------------------------------------- environment


def prepare_host() -> None:
    """scripts/libvirt (installs and starts what is missing); skips when QEMU cannot even start a
    TCG machine here, fails when QEMU works but libvirt does not."""
    proc = subprocess.run([str(REPO / "scripts" / "libvirt")], capture_output=True, text=True, timeout=900)
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        pytest.skip(f"qemu-system-x86_64 is not installed and scripts/libvirt could not install it:\n{proc.stderr[-2000:]}")
    probe = subprocess.run(
        [qemu, "-accel", "tcg", "-machine", "pc", "-m", "32", "-display", "none", "-nodefaults",
         "-S", "-monitor", "stdio"],
        input="quit\n", capture_output=True, text=True, timeout=60,
    )
    if probe.returncode != 0:
        pytest.skip(f"QEMU cannot start a TCG (no /dev/kvm) machine on this host: {probe.stderr.strip()[-1000:]}")
    if proc.returncode != 0:
        pytest.fail(f"scripts/libvirt failed (QEMU itself works):\n{proc.stderr[-3000:]}", pytrace=False)


@contextlib.contextmanager
def host_lock(wait: float = HOST_LOCK_WAIT):
    """Holds HOST_LOCK (flock) for the block: one ec2gw-on-qemu:///system user at a time."""
    with open(HOST_LOCK, "a") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{HOST_LOCK} still held by another run after {wait} s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_test_image() -> Path:
    proc = subprocess.run([str(REPO / "scripts" / "build-test-image")], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"scripts/build-test-image failed:\n{proc.stderr[-3000:]}", pytrace=False)
    return Path(proc.stdout.strip().splitlines()[-1])


def searchable_workdir(prefix: str) -> Path:
    """A fresh directory under /tmp, 0711 like every component above it, so libvirt-qemu can
    reach the disks (pytest's own tmp dirs are 0700)."""
    work = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(work, 0o711)
    return work


# --------------------------------------------------------------------------- the gateway


@dataclass
class RealGateway:
    """`ec2gw serve` on qemu:///system with its own database, data dir and config; it can be
    killed (SIGKILL) and started again on the same database, data dir and port."""

    binary: Path
    work: Path
    reconcile_ms: int = RECONCILE_MS
    stop_timeout_seconds: int = 30
    # Short, so a guest that ignores a reboot is reset within the test; long enough for an ACPI
    # power-off of the test guest (~1.5 s) on a loaded machine.
    reboot_timeout_seconds: int = 8
    port: int = field(default_factory=free_port)
    starts: int = 0
    current: Gateway | None = None
    account: Account | None = None
    image_id: str | None = None
    instance_ids: set[str] = field(default_factory=set)
    # Its own block of public addresses (see conftest.network_env).
    public_pool: str = "198.19.2.0/24"

    def __post_init__(self):
        self.data_dir = self.work / "data"
        self.data_dir.mkdir(mode=0o711, exist_ok=True)
        os.chmod(self.data_dir, 0o711)
        self.database_url = f"sqlite://{self.data_dir / 'ec2gw.sqlite'}"
        self.config_path = self.work / "ec2gw.toml"
        self.config_path.write_text(
            f"reconcile_interval_ms = {self.reconcile_ms}\n"
            f"stop_timeout_seconds = {self.stop_timeout_seconds}\n"
            f"reboot_timeout_seconds = {self.reboot_timeout_seconds}\n"
            "\n[[instance_types]]\n"
            f'name = "{INSTANCE_TYPE}"\nvcpus = {TINY_VCPUS}\nmemory_mib = {TINY_MIB}\n'
        )
        self.account = create_account(self.binary, self.database_url, self.data_dir)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def process(self) -> subprocess.Popen | None:
        return self.current.process if self.current else None

    def start(self) -> Gateway:
        assert self.process is None or self.process.poll() is not None, "the gateway is already running"
        self.starts += 1
        n = self.starts
        stdout_path, stderr_path = self.work / f"stdout.{n}.log", self.work / f"stderr.{n}.log"
        cmd = [str(self.binary), "--config", str(self.config_path), "serve",
               "--listen", f"127.0.0.1:{self.port}", "--database", self.database_url,
               "--data-dir", str(self.data_dir), "--libvirt-uri", URI, "--domain-type", "qemu"]
        env = network_env(self.public_pool)
        env["EC2GW_LOG"] = "info"
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        self.current = Gateway(
            binary=self.binary, endpoint=self.endpoint, host="127.0.0.1", port=self.port,
            database_url=self.database_url, data_dir=self.data_dir, stdout_path=stdout_path,
            stderr_path=stderr_path, account=self.account, process=process,
        )
        wait_ready(self.current)
        return self.current

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # SIGKILL
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **overrides):
        """A fresh boto3 client (a killed gateway leaves dead pooled connections behind)."""
        return make_client(self.current, self.account, **overrides)

    def import_image(self, path: Path, name: str = "ec2gw-test-guest") -> str:
        out = admin_json(self.binary, self.database_url, self.data_dir, "image", "import",
                         str(path), "--name", name, "--account", self.account.account_id)
        self.image_id = out["ImageId"]
        return self.image_id

    def instance_dir(self, instance_id: str) -> Path:
        return self.data_dir / "instances" / instance_id

    def stderr_all(self, lines: int = 60) -> str:
        parts = []
        for n in range(1, self.starts + 1):
            parts.append(f"--- serve #{n} stderr (last {lines} lines) ---\n" + tail(self.work / f"stderr.{n}.log", lines))
        return "\n".join(parts)

    def run(self, ec2, count: int = 1, **kwargs) -> list[dict]:
        """RunInstances of the tiny type on the test image; remembers the ids for the cleanup."""
        answer = ec2.run_instances(ImageId=self.image_id, InstanceType=INSTANCE_TYPE, MinCount=count,
                                   MaxCount=count, **kwargs)
        self.instance_ids.update(i["InstanceId"] for i in answer["Instances"])
        return answer["Instances"]

    def cleanup(self) -> list[str]:
        """Stops the gateway, then destroys and undefines every domain of this gateway (by the
        ids it handed out and by the paths under its data dir). Returns what it removed."""
        self.kill9()
        leftovers = sorted((self.instance_ids & domain_names()) | domains_under(self.data_dir))
        for name in leftovers:
            remove_domain(name)
        purge_network(self.binary, self.database_url, self.data_dir)
        return leftovers


# --------------------------------------------------------------------------- guest helpers


def describe(ec2, instance_id: str) -> dict:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]


def state_of(ec2, instance_id: str) -> str:
    return describe(ec2, instance_id)["State"]["Name"]


def console(ec2, instance_id: str) -> str:
    return ec2.get_console_output(InstanceId=instance_id).get("Output", "") or ""


def marker_count(text: str, marker: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() == marker)


def seen(log: Path, marker: str) -> int:
    """How many times the guest printed `marker` in its console log file (which, unlike
    GetConsoleOutput, is not cut to the last 64 KiB)."""
    return marker_count(log.read_text(errors="replace"), marker) if log.exists() else 0


def wait_for_marker(ec2, instance_id: str, marker: str, count: int = 1, timeout: float = BOOT_TIMEOUT) -> float:
    """Polls GetConsoleOutput until `marker` has appeared `count` times; returns the seconds waited."""
    t0 = time.monotonic()
    text = ""
    while time.monotonic() - t0 < timeout:
        text = console(ec2, instance_id)
        if marker_count(text, marker) >= count:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(
        f"{instance_id}: {marker} x{count} not in GetConsoleOutput within {timeout} s "
        f"(seen x{marker_count(text, marker)}; state {state_of(ec2, instance_id)}, domain {domain_state(instance_id)!r}); "
        f"console tail:\n{text[-1500:]}"
    )


def wait_state(ec2, instance_ids: list[str], wanted: str, timeout: float = STATE_TIMEOUT) -> None:
    """Polls DescribeInstances until every instance is `wanted` (no failure on other states on the way)."""
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        found = ec2.describe_instances(InstanceIds=instance_ids)
        states = {i["InstanceId"]: i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"]}
        if all(states.get(i) == wanted for i in instance_ids):
            return
        time.sleep(0.2)
    raise AssertionError(f"not all {wanted} within {timeout} s: {states}; domains: "
                         f"{ {i: domain_state(i) for i in instance_ids} }")


def wait_until(what: str, cond, timeout: float = STATE_TIMEOUT, pause: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(pause)


def waiter(ec2, name: str, instance_ids: list[str], timeout: float = STATE_TIMEOUT) -> None:
    """boto3's own waiter (its acceptors: e.g. instance_running fails on shutting-down), polling
    every 0.5 s instead of 15."""
    ec2.get_waiter(name).wait(InstanceIds=instance_ids,
                              WaiterConfig={"Delay": 0.5, "MaxAttempts": int(timeout * 2)})


def show(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[ec2gw] {text}", flush=True)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def host():
    prepare_host()


@pytest.fixture(scope="module")
def test_image(host) -> Path:
    return build_test_image()


@contextlib.contextmanager
def real_gateway(binary: Path, image: Path, prefix: str, request=None):
    """A started RealGateway with `image` imported, under the host lock; on the way out
    (whatever happened) the gateway is killed and all its domains destroyed and undefined.
    Its work dir is removed unless a test failed meanwhile (then its path is printed)."""
    failed_before = request.session.testsfailed if request else 0
    previous = request.config.stash.get(GATEWAY_KEY, None) if request else None
    with host_lock():
        work = searchable_workdir(prefix)
        gw = None
        try:
            gw = RealGateway(binary, work)
            gw.import_image(image)
            gw.start()
            if request:  # failure reports show this gateway's stderr (conftest's hook)
                request.config.stash[GATEWAY_KEY] = gw.current
            yield gw
        finally:
            removed = gw.cleanup() if gw else []
            if request:
                if previous is not None:
                    request.config.stash[GATEWAY_KEY] = previous
                elif GATEWAY_KEY in request.config.stash:
                    del request.config.stash[GATEWAY_KEY]
            if removed:
                print(f"cleanup removed domains left behind: {removed}")
            if request and request.session.testsfailed > failed_before:
                print(f"kept {work} (gateway logs stderr.N.log, data dir) for the failure(s)")
            else:
                shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def real(ec2gw_bin, test_image, request):
    """This module's gateway on qemu:///system, with the test image imported."""
    with real_gateway(ec2gw_bin, test_image, "ec2gw-real-", request) as gw:
        yield gw
        assert gw.alive(), f"ec2gw serve died during the module\n{gw.stderr_all()}"


@pytest.fixture(scope="module")
def ec2(real):
    return real.client()


# --------------------------------------------------------------------------- tests


def test_run_stop_start_terminate_a_real_guest(real, ec2, capsys):
    t0 = time.monotonic()
    [instance] = real.run(ec2)
    answered = time.monotonic() - t0
    iid = instance["InstanceId"]
    assert instance["State"] == {"Code": 0, "Name": "pending"}
    assert instance["InstanceType"] == INSTANCE_TYPE

    waiter(ec2, "instance_running", [iid])
    running_after = time.monotonic() - t0
    assert domain_state(iid) == "running"
    wait_for_marker(ec2, iid, BOOTED)
    booted_after = time.monotonic() - t0
    wait_for_marker(ec2, iid, READY)
    ready_after = time.monotonic() - t0
    show(capsys, f"{iid}: RunInstances answered in {answered * 1000:.0f} ms; running after {running_after:.2f} s; "
                 f"{BOOTED} after {booted_after:.2f} s; {READY} after {ready_after:.2f} s")

    overlay = real.instance_dir(iid) / "disk.qcow2"
    assert overlay.is_file()
    info = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(overlay)], capture_output=True, text=True)
    assert real.image_id in info.stdout, f"overlay not backed by the image: {info.stdout}"

    # Stop: ACPI power button; the guest's acpid powers it off (no destroy).
    t1 = time.monotonic()
    stopped = ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"][0]
    assert stopped["PreviousState"]["Name"] == "running"
    assert stopped["CurrentState"]["Name"] == "stopping"
    waiter(ec2, "instance_stopped", [iid])
    stop_took = time.monotonic() - t1
    assert domain_state(iid) == "shut off"
    # (The gateway repeats the ACPI press while the guest is going down: one or more lines.)
    assert marker_count(console(ec2, iid), POWEROFF) >= 1, "stopped without an ACPI power-off in the guest"
    desc = describe(ec2, iid)
    assert desc["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    assert desc["StateTransitionReason"].startswith("User initiated (")
    assert overlay.is_file(), "the stopped instance's disk is gone"

    # Start again: a second boot, appended to the same console log.
    t2 = time.monotonic()
    started = ec2.start_instances(InstanceIds=[iid])["StartingInstances"][0]
    assert (started["PreviousState"]["Name"], started["CurrentState"]["Name"]) == ("stopped", "pending")
    waiter(ec2, "instance_running", [iid])
    wait_for_marker(ec2, iid, BOOTED, count=2)
    second_boot = time.monotonic() - t2
    wait_for_marker(ec2, iid, READY, count=2)
    text = console(ec2, iid)
    assert marker_count(text, BOOTED) == 2 and marker_count(text, POWEROFF) >= 1
    assert domain_state(iid) == "running"
    show(capsys, f"{iid}: stopped (ACPI) {stop_took:.2f} s after StopInstances; "
                 f"{BOOTED} again {second_boot:.2f} s after StartInstances")

    # Terminate: the guest is shut down (ACPI), as EC2 does, then the domain and the
    # instance's files go. The log is read through a handle opened before, as its file is
    # deleted with the instance.
    log = real.instance_dir(iid) / "console.log"
    with log.open(errors="replace") as handle:
        before = marker_count(log.read_text(errors="replace"), POWEROFF)
        term = ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"][0]
        assert term["CurrentState"]["Name"] in ("shutting-down", "terminated")
        waiter(ec2, "instance_terminated", [iid])
        assert marker_count(handle.read(), POWEROFF) > before, "terminated without an ACPI power-off in the guest"
    assert domain_state(iid) is None
    assert iid not in domain_names()
    assert not real.instance_dir(iid).exists(), list(real.instance_dir(iid).iterdir())
    assert state_of(ec2, iid) == "terminated"  # still describable


def test_guest_shutdown_behind_the_gateways_back(real, ec2):
    """A guest powering itself off (here: `virsh shutdown`, an ACPI press the gateway did not
    send): InstanceInitiatedShutdown; stopped, or terminated with
    InstanceInitiatedShutdownBehavior=terminate. Both guests boot side by side."""
    [keeps] = real.run(ec2)
    [goes] = real.run(ec2, InstanceInitiatedShutdownBehavior="terminate")
    keeps, goes = keeps["InstanceId"], goes["InstanceId"]
    waiter(ec2, "instance_running", [keeps, goes])
    for iid in (keeps, goes):
        wait_for_marker(ec2, iid, READY)
        proc = virsh("shutdown", iid)
        assert proc.returncode == 0, proc.stderr

    waiter(ec2, "instance_stopped", [keeps])
    desc = describe(ec2, keeps)
    assert desc["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown", desc["StateReason"]
    assert domain_state(keeps) == "shut off", "a stopped instance keeps its (shut off) domain"
    assert (real.instance_dir(keeps) / "disk.qcow2").is_file()

    waiter(ec2, "instance_terminated", [goes])
    desc = describe(ec2, goes)
    assert desc["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown", desc["StateReason"]
    assert domain_state(goes) is None
    assert not real.instance_dir(goes).exists()

    time.sleep(3 * RECONCILE_MS / 1000)
    assert state_of(ec2, keeps) == "stopped" and domain_state(keeps) == "shut off", "the reconciler restarted it"
    ec2.terminate_instances(InstanceIds=[keeps])
    waiter(ec2, "instance_terminated", [keeps])
    assert domain_state(keeps) is None and not real.instance_dir(keeps).exists()


def test_domain_undefined_and_destroyed_behind_the_gateways_back_comes_back(real, ec2):
    [instance] = real.run(ec2)
    iid = instance["InstanceId"]
    waiter(ec2, "instance_running", [iid])
    wait_for_marker(ec2, iid, BOOTED)

    assert virsh("undefine", iid).returncode == 0  # running: becomes transient
    assert virsh("destroy", iid).returncode == 0   # and now it is gone altogether
    # The reconciler defines it again from the row and starts it on the same overlay.
    wait_until(f"{iid} redefined and running", lambda: domain_state(iid) == "running", timeout=15)
    wait_for_marker(ec2, iid, BOOTED, count=2)
    assert state_of(ec2, iid) == "running"
    persistent = virsh("dominfo", iid)
    assert "Persistent:     yes" in persistent.stdout, persistent.stdout

    # SkipOsShutdown: the guest, listening for the power button, is not asked. (The first boot
    # may have been destroyed before its READY: look at the second boot's lines only.)
    log = real.instance_dir(iid) / "console.log"
    wait_until(f"{iid}: second boot ready", lambda: marker_count(
        log.read_text(errors="replace").split(KERNEL_BANNER)[-1], READY) == 1, timeout=BOOT_TIMEOUT)
    with log.open(errors="replace") as handle:
        ec2.terminate_instances(InstanceIds=[iid], SkipOsShutdown=True)
        waiter(ec2, "instance_terminated", [iid])
        assert marker_count(handle.read(), POWEROFF) == 0, "SkipOsShutdown, yet the guest was shut down"
    assert domain_state(iid) is None and not real.instance_dir(iid).exists()


def test_stop_before_the_guest_listens_for_acpi_is_retried(real, ec2):
    """StopInstances as soon as the instance is running: the guest's acpid is not up yet (the
    first ACPI press is lost); the gateway must ask again, not wait for the stop timeout
    (30 s here) and destroy it."""
    [instance] = real.run(ec2)
    iid = instance["InstanceId"]
    waiter(ec2, "instance_running", [iid])
    early = marker_count(console(ec2, iid), READY)
    t0 = time.monotonic()
    ec2.stop_instances(InstanceIds=[iid])
    waiter(ec2, "instance_stopped", [iid], timeout=40)
    took = time.monotonic() - t0
    text = console(ec2, iid)
    assert marker_count(text, POWEROFF) >= 1, (
        f"stopped after {took:.1f} s without an ACPI power-off (READY seen before the stop: {early})")
    assert took < real.stop_timeout_seconds, took
    ec2.terminate_instances(InstanceIds=[iid])
    waiter(ec2, "instance_terminated", [iid])


def test_reboot_force_stop_and_the_console_across_boots(real, ec2):
    [instance] = real.run(ec2)
    iid = instance["InstanceId"]
    log = real.instance_dir(iid) / "console.log"
    waiter(ec2, "instance_running", [iid])
    wait_for_marker(ec2, iid, READY)

    # RebootInstances (twice): ACPI power-off in the guest, the gateway boots it again; it stays
    # running throughout. From the third boot on the log outgrows GetConsoleOutput's 64 KiB,
    # so lines are counted in the log file itself.
    for n in (2, 3):
        ec2.reboot_instances(InstanceIds=[iid])
        wait_until(f"boot {n} ready", lambda: seen(log, READY) == n, timeout=BOOT_TIMEOUT)
        assert seen(log, BOOTED) == n and seen(log, POWEROFF) == n - 1
        assert state_of(ec2, iid) == "running" and domain_state(iid) == "running"

    # Forced stop: powered off at once, the guest never sees a power-button press.
    t0 = time.monotonic()
    ec2.stop_instances(InstanceIds=[iid], Force=True)
    waiter(ec2, "instance_stopped", [iid])
    took = time.monotonic() - t0
    assert domain_state(iid) == "shut off"
    assert seen(log, POWEROFF) == 2, "a forced stop went through ACPI"
    assert took < 5, took

    # A forced stop does not stick: the next stop is a clean (ACPI) one again.
    ec2.start_instances(InstanceIds=[iid])
    waiter(ec2, "instance_running", [iid])
    wait_until("boot 4 ready", lambda: seen(log, READY) == 4, timeout=BOOT_TIMEOUT)
    ec2.stop_instances(InstanceIds=[iid])
    waiter(ec2, "instance_stopped", [iid])
    on_disk = log.read_text(errors="replace")
    assert marker_count(on_disk, POWEROFF) >= 3, "the stop after a forced stop was forced too"

    # GetConsoleOutput after four boots (~22 KB of log each, so over 64 KiB): AWS keeps "only the
    # most recent 64 KB of console output", so the last boot and its power-off must show, by
    # default and with Latest=true (a gateway that returned the first 64 KiB would fail here).
    size = log.stat().st_size
    default = console(ec2, iid)
    latest = ec2.get_console_output(InstanceId=iid, Latest=True).get("Output", "")
    ec2.terminate_instances(InstanceIds=[iid])
    waiter(ec2, "instance_terminated", [iid])
    assert domain_state(iid) is None and not real.instance_dir(iid).exists()

    assert size > 64 * 1024, f"console log only {size} bytes: the 64 KiB check below proves nothing"
    # The log ends with the last power-off (and the kernel's two lines after it).
    assert POWEROFF in on_disk[-400:], on_disk[-400:]
    assert POWEROFF in latest[-400:], f"Latest=true does not end with the last power-off: {latest[-400:]!r}"
    assert len(default.encode()) <= 64 * 1024
    assert POWEROFF in default[-400:] and marker_count(default, READY) >= 1, (
        f"GetConsoleOutput (default) after 4 boots ({size} bytes of log) shows the FIRST 64 KiB: "
        f"READY x{marker_count(default, READY)}, POWEROFF x{marker_count(default, POWEROFF)} of 4 and 3; "
        f"it ends with {default[-120:]!r}"
    )


def test_a_guest_that_ignores_the_reboot_is_reset(real, ec2):
    """RebootInstances while the guest is still in its firmware (it listens for the power button
    only once READY): the ACPI request is lost, and after reboot_timeout_seconds the gateway resets
    the domain, as EC2 hard-reboots a guest that does not shut down. It boots a second time
    without ever having powered off."""
    [instance] = real.run(ec2)
    iid = instance["InstanceId"]
    log = real.instance_dir(iid) / "console.log"
    wait_state(ec2, [iid], "running")
    t0 = time.monotonic()
    ec2.reboot_instances(InstanceIds=[iid])

    assert seen(log, READY) == 0, "the guest was READY before the reboot was asked: this proves nothing"

    # Boots are counted by the kernel's banner: on a loaded machine the first boot may not have
    # reached its marker when the reset comes.
    def second_boot_booted() -> bool:
        text = log.read_text(errors="replace") if log.exists() else ""
        boots = text.split(KERNEL_BANNER)
        return len(boots) == 3 and marker_count(boots[-1], BOOTED) == 1

    wait_until("second boot", second_boot_booted, timeout=BOOT_TIMEOUT + real.reboot_timeout_seconds)
    took = time.monotonic() - t0
    assert seen(log, POWEROFF) == 0, "the guest powered off cleanly: the reboot was not ignored"
    assert took >= real.reboot_timeout_seconds, took
    assert "guest ignored the reboot; resetting it" in real.current.stderr_path.read_text(errors="replace")
    assert state_of(ec2, iid) == "running" and domain_state(iid) == "running"
    ec2.terminate_instances(InstanceIds=[iid])
    waiter(ec2, "instance_terminated", [iid])


def test_hibernate_and_resume_a_real_guest(real, ec2):
    """StopInstances Hibernate: the guest's memory is saved (libvirt managed save) and the
    domain is off; StartInstances resumes it where it was: no second boot, and the resumed
    guest still answers the power button."""
    [instance] = real.run(ec2, HibernationOptions={"Configured": True})
    iid = instance["InstanceId"]
    log = real.instance_dir(iid) / "console.log"
    waiter(ec2, "instance_running", [iid])
    wait_for_marker(ec2, iid, READY)

    ec2.stop_instances(InstanceIds=[iid], Hibernate=True)
    waiter(ec2, "instance_stopped", [iid])
    assert describe(ec2, iid)["StateReason"]["Code"] == "Client.UserInitiatedHibernate"
    assert domain_state(iid) == "shut off"
    assert "Managed save:   yes" in virsh("dominfo", iid).stdout
    assert seen(log, POWEROFF) == 0, "the guest was shut down, not hibernated"

    ec2.start_instances(InstanceIds=[iid])
    waiter(ec2, "instance_running", [iid])
    time.sleep(2)
    assert seen(log, BOOTED) == 1 and seen(log, READY) == 1, "the guest booted again instead of resuming"
    assert "Managed save:   no" in virsh("dominfo", iid).stdout
    # Resumed and alive: an ordinary stop goes through its acpid.
    ec2.stop_instances(InstanceIds=[iid])
    waiter(ec2, "instance_stopped", [iid])
    # (The gateway repeats the ACPI press while the guest is going down: one or more lines.)
    assert seen(log, POWEROFF) >= 1, "the resumed guest did not hear the power button"
    ec2.terminate_instances(InstanceIds=[iid])
    waiter(ec2, "instance_terminated", [iid])
    assert domain_state(iid) is None


# --------------------------------------------------------------------------- out of QEMU's reach


def test_a_data_dir_qemu_cannot_reach_is_refused_at_start(ec2gw_bin, tmp_path):
    """A clone under /root (0700) with its data dir beside it: QEMU (libvirt-qemu) could not
    reach a single disk, and every launch would fail after a minute. `serve` refuses to start
    and says which directory keeps QEMU out and what to do (pytest's tmp_path is 0700 too)."""
    home = tmp_path / "root"
    home.mkdir(mode=0o700)
    data = home / "ec2gw" / "data"
    data.mkdir(parents=True)
    proc = subprocess.run(
        [str(ec2gw_bin), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data),
         "--database", f"sqlite://{data / 'ec2gw.sqlite'}", "--libvirt-uri", URI, "--domain-type", "qemu"],
        capture_output=True, text=True, timeout=30, env=clean_env(), stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc
    # The first directory from / down that others may not enter: pytest's own, or `home`.
    closed = next(d for d in [*reversed(home.resolve().parents), home.resolve()]
                  if os.stat(d).st_mode & 0o001 == 0)
    assert f"ec2gw: the data directory {data} is out of QEMU's reach" in proc.stderr, proc.stderr
    assert f"which may not enter {closed} (mode 0700" in proc.stderr, proc.stderr
    assert proc.stderr.rstrip().endswith(f"chmod o+x {closed}"), proc.stderr
    assert "Endpoint:" not in proc.stdout


def test_a_disk_qemu_cannot_reach_ends_the_launch_at_once(real, ec2):
    """What a data dir out of QEMU's reach did before the start-up check: the launch failed with
    "Permission denied" and was retried for launch_timeout_seconds (60 s, this gateway's too)
    before the instance ended terminated. A lasting failure now ends it at once."""
    os.chmod(real.work, 0o700)
    try:
        t0 = time.monotonic()
        [instance] = real.run(ec2)
        iid = instance["InstanceId"]
        wait_state(ec2, [iid], "terminated", timeout=20)
        took = time.monotonic() - t0
    finally:
        os.chmod(real.work, 0o711)
    reason = describe(ec2, iid)["StateReason"]
    assert reason["Code"] == "Server.InternalError", reason
    assert reason["Message"].startswith(f"Server.InternalError: libvirt: start {iid}: "), reason
    assert reason["Message"].endswith("Permission denied"), reason
    assert took < 20, took
    assert domain_state(iid) is None
    assert not real.instance_dir(iid).exists()
