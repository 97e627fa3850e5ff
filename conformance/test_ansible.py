"""Ansible: the amazon.aws collection (bundled with the `ansible` package of requirements.txt)
against the session's gateway, through `ansible-playbook` from the same venv as pytest.

ec2_lifecycle.yml (next to this file) declares two imported key pairs (rsa and ed25519, made by
ssh-keygen), an image found by name (ec2_ami_info), one t3.micro launched from it with a key,
a Name tag and two more tags, and no subnet, network interface or security group: ec2_instance
then looks up the account's default VPC and its first default-for-az subnet and launches into
it. ec2_instance_info lists the instance by tag and by id. The playbook is applied with

    instance_state  running   stopped   running   absent
    key_state       present   present   present   absent

in that order (the tests run in file order and share `STATE`), each state twice:
- the first application makes the change (Ansible's changed flags, the mutating calls it
  sends, and what boto3 then sees);
- the second changes nothing: changed=0 in the recap and no mutating call on the wire, except
  ec2_key's fingerprint probe (it imports the same material under a temporary name
  `ansible-<uuid4>` to let EC2 compute the fingerprint, compares it with DescribeKeyPairs', and
  deletes the temporary key).

Every EC2 request the modules send and every answer they get is recorded by a sitecustomize.py
put on the modules' PYTHONPATH (WIRETAP below); the answers are checked against the botocore
model with the session's others (spec_capture).

The runs are hermetic: HOME, ANSIBLE_HOME, ANSIBLE_LOCAL_TEMP/REMOTE_TEMP and the collections
path are in a temp dir (amazon.aws comes from the venv's site-packages, never from
~/.ansible/collections or /usr/share/ansible), an empty ansible.cfg, no AWS_*/EC2GW_*/ANSIBLE_*
variables of the person running the suite; endpoint, keys and region reach the modules through
module_defaults (group/amazon.aws.aws) from an extra-vars file. The stdout callback is
ansible.posix.json (bundled), so results are read per task rather than scraped from the recap.

ec2_instance's waiters poll every 15 s (WaiterConfig Delay=15 is hard-coded in the module; only
MaxAttempts follows wait_timeout): the stop, whose first poll sees `stopping`, costs 15 s; the
module takes about a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import spec_capture
from assertions import api_error, uid

HERE = Path(__file__).resolve().parent
PLAYBOOK = HERE / "ec2_lifecycle.yml"
REGION = "us-east-1"
RUN_TIMEOUT = 300
SETTLE_TIMEOUT = 20.0
INSTANCE_TASK = "The instance"
KEYS_TASK = "Import the key pairs"
DELETE_KEYS_TASK = "Delete the key pairs"
INSTANCE_TAGS = {"Environment": "conformance", "ManagedBy": "ansible"}
KEY_TAGS = {"Purpose": "ansible-conformance"}
# ec2_key's temporary key for its fingerprint probe (get_key_fingerprint in ec2_key.py).
PROBE_KEY = re.compile(r"^ansible-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MUTATING = {
    "RunInstances", "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances",
    "ModifyInstanceAttribute", "ModifyInstanceMetadataOptions", "CreateTags", "DeleteTags",
    "ImportKeyPair", "CreateKeyPair", "DeleteKeyPair",
}

STATE: dict = {}

WIRETAP = '''\
"""ec2gw conformance (test_ansible.py): when EC2GW_WIRE_LOG names a file, every EC2 request a
botocore client of this process sends (its form parameters) and every answer it gets (status,
raw body) is appended to it as one JSON line."""
import json
import os

_path = os.environ.get("EC2GW_WIRE_LOG")
if _path:
    try:
        from urllib.parse import parse_qsl

        import botocore.session
    except ImportError:
        botocore = None

    def _write(entry):
        entry["pid"] = os.getpid()
        with open(_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\\n")

    def _before_send(request, **_):
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        params = dict(parse_qsl(body or "", keep_blank_values=True))
        params.pop("Version", None)
        _write({"kind": "request", "action": params.pop("Action", ""), "params": params})

    def _before_parse(operation_model, response_dict, **_):
        body = response_dict.get("body")
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        _write({"kind": "answer", "action": operation_model.name,
                "status": response_dict.get("status_code", 0), "body": body or ""})

    if botocore is not None:
        _create_client = botocore.session.Session.create_client

        def _tapped_create_client(self, service_name, *args, **kwargs):
            client = _create_client(self, service_name, *args, **kwargs)
            if client.meta.service_model.service_name == "ec2":
                client.meta.events.register("before-send.ec2", _before_send, unique_id="ec2gw-wire-send")
                client.meta.events.register("before-parse.ec2", _before_parse, unique_id="ec2gw-wire-parse")
            return client

        botocore.session.Session.create_client = _tapped_create_client
'''


# =========================================================================== helpers


@dataclass
class Run:
    """One ansible-playbook run: its exit status, the json callback's document, stderr, and the
    EC2 requests the modules sent (action, form parameters), in order."""

    rc: int
    doc: dict
    stdout: str
    stderr: str
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"Run(rc={self.rc}, stats={self.doc.get('stats', {}).get('localhost')})"

    def describe(self) -> str:
        """Each task's outcome (and message), the EC2 calls, stderr: enough to see what failed."""
        lines = [f"ansible-playbook exited {self.rc}; recap {self.doc.get('stats', {}).get('localhost')}"]
        for name, r in (self.results.items() if self.doc.get("plays") else []):
            flags = [k for k in ("changed", "failed", "skipped") if r.get(k)] or ["ok"]
            lines.append(f"  {name}: {','.join(flags)}" + (f" - {r['msg']}" if r.get("msg") else ""))
            for item in r.get("results") or []:
                if item.get("failed"):
                    lines.append(f"    {item.get('item', {}).get('name', '?')}: failed - {item.get('msg')}")
            if r.get("failed") and r.get("exception"):
                lines.append("    " + r["exception"].strip().splitlines()[-1])
        lines.append("EC2 calls: " + ", ".join(action for action, _ in self.requests))
        lines.append(f"stderr:\n{self.stderr[-3000:]}")
        return "\n".join(lines)

    @property
    def stats(self) -> dict:
        return self.doc["stats"]["localhost"]

    @property
    def results(self) -> dict[str, dict]:
        """Task name -> the host's result."""
        return {t["task"]["name"]: t["hosts"]["localhost"] for t in self.doc["plays"][0]["tasks"]}

    def changed_tasks(self) -> set[str]:
        return {name for name, r in self.results.items() if r.get("changed")}

    def warnings(self) -> list[str]:
        found = []
        for r in self.results.values():
            found += r.get("warnings") or []
            for item in r.get("results") or []:
                found += item.get("warnings") or []
        return found

    def mutations(self) -> list[tuple[str, dict[str, str]]]:
        """The mutating calls, ec2_key's fingerprint probe (ImportKeyPair + DeleteKeyPair of a
        temporary `ansible-<uuid>` key) left out."""
        return [
            (action, params)
            for action, params in self.requests
            if action in MUTATING and not PROBE_KEY.match(params.get("KeyName", ""))
        ]

    def mutating_actions(self) -> list[str]:
        return [action for action, _ in self.mutations()]

    def calls(self, action: str) -> list[dict[str, str]]:
        return [params for a, params in self.requests if a == action]


class Play:
    """ec2_lifecycle.yml for one account, applied with hermetic settings."""

    def __init__(self, playbook: Path, work: Path, extra_vars: dict):
        self.playbook = playbook
        self.work = work
        self.extra_vars = extra_vars
        self.count = 0
        tap = work / "wiretap"
        tap.mkdir()
        (tap / "sitecustomize.py").write_text(WIRETAP)
        self.config = work / "ansible.cfg"
        self.config.write_text("")
        for d in ("home", "local-tmp", "remote-tmp", "collections"):
            (work / d).mkdir()

    def env(self, wire_log: Path) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "EC2GW_", "ANSIBLE_", "PYTHON", "BOTO_"))
        }
        home = self.work / "home"
        env.update(
            HOME=str(home),
            LANG="C.UTF-8",
            LC_ALL="C.UTF-8",
            ANSIBLE_CONFIG=str(self.config),
            ANSIBLE_HOME=str(home / ".ansible"),
            ANSIBLE_LOCAL_TEMP=str(self.work / "local-tmp"),
            ANSIBLE_REMOTE_TEMP=str(self.work / "remote-tmp"),
            ANSIBLE_COLLECTIONS_PATH=str(self.work / "collections"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="false",
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            AWS_CONFIG_FILE=str(home / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
            AWS_EC2_METADATA_DISABLED="true",
            PYTHONPATH=str(self.work / "wiretap"),
            EC2GW_WIRE_LOG=str(wire_log),
        )
        return env

    def apply(self, instance_state: str, key_state: str) -> Run:
        self.count += 1
        run_dir = self.work / f"run-{self.count}-{instance_state}"
        run_dir.mkdir()
        vars_file = run_dir / "vars.json"
        vars_file.write_text(json.dumps({**self.extra_vars, "instance_state": instance_state, "key_state": key_state}))
        wire_log = run_dir / "wire.jsonl"
        proc = subprocess.run(
            [str(ansible_playbook_path()), "-i", "localhost,", str(self.playbook), "-e", f"@{vars_file}"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, env=self.env(wire_log), cwd=run_dir,
        )
        (run_dir / "stdout.json").write_text(proc.stdout)
        (run_dir / "stderr.txt").write_text(proc.stderr)
        try:
            doc = json.loads(proc.stdout)
        except json.JSONDecodeError:
            doc = {}
        run = Run(proc.returncode, doc, proc.stdout, proc.stderr, read_wire(wire_log))
        assert doc, f"no JSON from the json callback\n{run.describe()}"
        return run


def ansible_playbook_path() -> Path:
    return Path(sys.executable).parent / "ansible-playbook"


def read_wire(path: Path) -> list[tuple[str, dict[str, str]]]:
    """The requests of a run; its answers go to spec_capture, checked at the end of the session."""
    requests = []
    if not path.exists():
        return requests
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry["kind"] == "request":
            requests.append((entry["action"], entry["params"]))
        else:
            spec_capture.record(entry["action"], entry["status"], entry["body"], "ansible")
    return requests


def succeeded(run: Run) -> Run:
    assert run.rc == 0 and run.stats["failures"] == 0 and run.stats["unreachable"] == 0, run.describe()
    assert run.warnings() == [], run.describe()
    return run


def idempotent(run: Run) -> None:
    """The second application: nothing changed, nothing mutating sent."""
    succeeded(run)
    assert run.stats["changed"] == 0, run.describe()
    assert run.changed_tasks() == set(), run.describe()
    assert run.mutations() == [], run.describe()


def tag_dict(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def instance_of(client, instance_id: str) -> dict:
    [reservation] = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [instance] = reservation["Instances"]
    return instance


def wait_state(client, instance_id: str, wanted: str) -> dict:
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        instance = instance_of(client, instance_id)
        if instance["State"]["Name"] == wanted or time.monotonic() > deadline:
            return instance
        time.sleep(0.2)


def default_network(client) -> dict:
    """The account's default VPC and the subnet ec2_instance picks: the default-for-az subnet of
    the first zone by name (get_default_subnet in ec2_instance.py), found here with the filter
    names EC2 documents (Ansible sends `isDefault`; `is-default` is the documented one)."""
    [vpc] = client.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    subnets = client.describe_subnets(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
            {"Name": "default-for-az", "Values": ["true"]},
        ]
    )["Subnets"]
    zones = [z["ZoneName"] for z in client.describe_availability_zones()["AvailabilityZones"]]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(zones), subnets
    first = min(subnets, key=lambda s: s["AvailabilityZone"])
    return {"vpc": vpc, "subnet": first}


def ssh_keygen(directory: Path, kind: str) -> Path:
    path = directory / f"id_{kind}"
    extra = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", f"ansible@{kind}", "-f", str(path)],
        check=True, capture_output=True, timeout=60,
    )
    return path.with_suffix(".pub")


def ssh_sha256(public_key: Path) -> str:
    """The base64 part of `ssh-keygen -l -E sha256` (EC2's ed25519 fingerprint, less its `=`)."""
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(public_key)],
                         check=True, capture_output=True, text=True, timeout=60).stdout
    return out.split()[1].removeprefix("SHA256:")


# =========================================================================== fixtures


@pytest.fixture(scope="module")
def play(gateway, client_for, import_image, tmp_path_factory):
    """ec2_lifecycle.yml in an account of its own (so its default VPC and listings are its own),
    with an imported image and two ssh-keygen keys. Whatever a failed test leaves running is
    terminated afterwards, so host capacity stays free."""
    if not ansible_playbook_path().exists():
        pytest.fail(f"no ansible-playbook next to {sys.executable}: scripts/venv installs "
                    "conformance/requirements.txt (ansible)", pytrace=False)
    if shutil.which("ssh-keygen") is None:
        pytest.fail("ssh-keygen is not installed (openssh-client)", pytrace=False)
    account = gateway.create_account()
    client = client_for(account)
    image_name = uid("ansible-ami")
    image_id = import_image(image_name, account)["ImageId"]
    key_dir = tmp_path_factory.mktemp("ansible-ssh")
    public = {kind: ssh_keygen(key_dir, kind) for kind in ("rsa", "ed25519")}
    key_names = {kind: uid(f"ansible-{kind}") for kind in public}
    instance_name = uid("ansible-web")
    extra_vars = {
        "ec2gw_endpoint": gateway.endpoint,
        "ec2gw_access_key": account.access_key,
        "ec2gw_secret_key": account.secret_key,
        "ec2gw_region": REGION,
        "key_pairs": [{"name": key_names[k], "public_key": public[k].read_text().strip()} for k in ("rsa", "ed25519")],
        "instance_key": key_names["ed25519"],
        "image_name": image_name,
        "instance_name": instance_name,
    }
    STATE.clear()
    yield {
        "play": Play(PLAYBOOK, tmp_path_factory.mktemp("ansible"), extra_vars),
        "client": client,
        "image_id": image_id,
        "public": public,
        "key_names": key_names,
        "instance_name": instance_name,
    }
    leftovers = client.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [instance_name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )["Reservations"]
    ids = [i["InstanceId"] for r in leftovers for i in r["Instances"]]
    if ids:
        with contextlib.suppress(ClientError):
            client.terminate_instances(InstanceIds=ids)
        for instance_id in ids:
            wait_state(client, instance_id, "terminated")
    for name in key_names.values():
        with contextlib.suppress(ClientError):
            client.delete_key_pair(KeyName=name)


# =========================================================================== the life cycle


def test_launch_is_idempotent(play):
    """running/present: the key pairs are imported and the instance launched into the default
    subnet; applying it again changes nothing."""
    client, pb = play["client"], play["play"]

    first = succeeded(pb.apply("running", "present"))
    net = default_network(client)
    assert first.changed_tasks() == {KEYS_TASK, INSTANCE_TASK}, first.describe()
    assert sorted(first.mutating_actions()) == ["ImportKeyPair", "ImportKeyPair", "RunInstances"], first.describe()
    [launch] = first.calls("RunInstances")
    assert launch["NetworkInterface.1.DeviceIndex"] == "0"
    assert launch["NetworkInterface.1.SubnetId"] == net["subnet"]["SubnetId"]
    assert launch["ImageId"] == play["image_id"] and launch["InstanceType"] == "t3.micro"
    # What ec2_instance looked the default network up with (and finds the instance by).
    assert {"Filter.1.Name": "isDefault", "Filter.1.Value.1": "true"} in first.calls("DescribeVpcs")

    [instance_id] = first.results[INSTANCE_TASK]["instance_ids"]
    STATE["instance_id"] = instance_id
    reported = first.results[INSTANCE_TASK]["instances"][0]
    assert (reported["instance_id"], reported["state"]["name"]) == (instance_id, "running")

    instance = instance_of(client, instance_id)
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t3.micro"
    assert instance["ImageId"] == play["image_id"]
    assert instance["KeyName"] == play["key_names"]["ed25519"]
    assert tag_dict(instance["Tags"]) == {"Name": play["instance_name"], **INSTANCE_TAGS}
    assert instance["SubnetId"] == net["subnet"]["SubnetId"]
    assert instance["VpcId"] == net["vpc"]["VpcId"]
    assert instance["Placement"]["AvailabilityZone"] == net["subnet"]["AvailabilityZone"]
    [root] = client.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    assert tag_dict(root.get("Tags")) == {"Name": play["instance_name"], **INSTANCE_TAGS}

    # The key pairs: Ansible's fingerprints are the gateway's; ed25519's is AWS's (SHA-256).
    reported_keys = {r["key"]["name"]: r["key"] for r in first.results[KEYS_TASK]["results"]}
    pairs = {k["KeyName"]: k for k in client.describe_key_pairs(KeyNames=list(play["key_names"].values()))["KeyPairs"]}
    for kind, name in play["key_names"].items():
        assert pairs[name]["KeyType"] == kind
        assert pairs[name]["KeyFingerprint"] == reported_keys[name]["fingerprint"]
        assert pairs[name]["KeyPairId"] == reported_keys[name]["id"]
        assert tag_dict(pairs[name].get("Tags")) == KEY_TAGS
    assert pairs[play["key_names"]["ed25519"]]["KeyFingerprint"] == ssh_sha256(play["public"]["ed25519"]) + "="

    second = pb.apply("running", "present")
    idempotent(second)
    # ec2_key re-imported each key under a temporary name to compare fingerprints, then
    # deleted it: nothing of that is left.
    probes = [p["KeyName"] for p in second.calls("ImportKeyPair")]
    assert len(probes) == 2 and all(PROBE_KEY.match(n) for n in probes), second.describe()
    assert [p["KeyName"] for p in second.calls("DeleteKeyPair")] == probes
    left = [k["KeyName"] for k in client.describe_key_pairs()["KeyPairs"]]
    assert sorted(left) == sorted(play["key_names"].values())
    assert instance_of(client, instance_id)["State"]["Name"] == "running"


def change_state_twice(play, wanted: str, action: str, success_key: str) -> None:
    """ec2_instance state=`wanted`: the first application sends `action` alone and reports the
    instance under `success_key`; the second changes nothing."""
    client, pb = play["client"], play["play"]
    instance_id = STATE["instance_id"]

    first = succeeded(pb.apply(wanted, "present"))
    assert first.changed_tasks() == {INSTANCE_TASK}, first.describe()
    assert first.mutations() == [(action, {"InstanceId.1": instance_id})], first.describe()
    assert first.results[INSTANCE_TASK][success_key] == [instance_id]
    assert instance_of(client, instance_id)["State"]["Name"] == wanted

    idempotent(pb.apply(wanted, "present"))
    assert instance_of(client, instance_id)["State"]["Name"] == wanted


def test_stop_is_idempotent(play):
    change_state_twice(play, "stopped", "StopInstances", "stop_success")


def test_start_again_is_idempotent(play):
    change_state_twice(play, "running", "StartInstances", "start_success")


def test_absent_is_idempotent(play):
    """absent/absent: the instance is terminated (and stays listed by id), the key pairs are
    deleted; applying it again finds nothing to do."""
    client, pb = play["client"], play["play"]
    instance_id = STATE["instance_id"]

    first = succeeded(pb.apply("absent", "absent"))
    assert first.changed_tasks() == {INSTANCE_TASK, DELETE_KEYS_TASK}, first.describe()
    assert first.mutations() == [
        ("TerminateInstances", {"InstanceId.1": instance_id}),
        *[("DeleteKeyPair", {"KeyName": name}) for name in play["key_names"].values()],
    ], first.describe()
    assert first.results[INSTANCE_TASK]["terminate_success"] == [instance_id]
    assert instance_of(client, instance_id)["State"]["Name"] == "terminated"
    for name in play["key_names"].values():
        with api_error("InvalidKeyPair.NotFound"):
            client.describe_key_pairs(KeyNames=[name])

    second = pb.apply("absent", "absent")
    idempotent(second)
    assert second.results[INSTANCE_TASK]["msg"] == "No matching instances found"
    assert instance_of(client, instance_id)["State"]["Name"] == "terminated"


# =========================================================================== a VPC network (ec2_vpc.yml)
#
# ec2_vpc.yml builds a VPC of its own (ec2_vpc_net), a subnet (ec2_vpc_subnet), an internet
# gateway (ec2_vpc_igw), a route table with the subnet and a default route to the gateway
# (ec2_vpc_route_table), an instance in the subnet (ec2_instance, vpc_subnet_id, wait: true; no
# group: EC2's default one of the VPC), an Elastic IP on it (ec2_eip) and a second interface attached to it
# (ec2_eni); net_state=absent removes them in the reverse order. Each state is applied twice: the
# second application changes nothing and sends nothing but Describe* calls.

VPC_PLAYBOOK = HERE / "ec2_vpc.yml"
NET_ZONE = "us-east-1a"
NET_VPC_CIDR, NET_SUBNET_CIDR, NET_ENI_ADDRESS = "10.30.0.0/16", "10.30.1.0/24", "10.30.1.50"
NET_TAGS = {"Environment": "conformance", "ManagedBy": "ansible"}
NET_PRESENT_TASKS = {"The VPC", "The subnet", "The internet gateway", "The route table", "The instance",
                     "The Elastic IP", "The second interface"}
NET_ABSENT_TASKS = {"No second interface", "No Elastic IP", "No instance", "No route table", "No internet gateway",
                    "No subnet", "No VPC"}



class NetPlay(Play):
    """ec2_vpc.yml for one account, applied with the same hermetic settings as Play."""

    def apply(self, net_state: str) -> Run:  # type: ignore[override]
        self.count += 1
        run_dir = self.work / f"run-{self.count}-{net_state}"
        run_dir.mkdir()
        vars_file = run_dir / "vars.json"
        vars_file.write_text(json.dumps({**self.extra_vars, "net_state": net_state}))
        wire_log = run_dir / "wire.jsonl"
        proc = subprocess.run(
            [str(ansible_playbook_path()), "-i", "localhost,", str(self.playbook), "-e", f"@{vars_file}"],
            capture_output=True, text=True, timeout=RUN_TIMEOUT, env=self.env(wire_log), cwd=run_dir,
        )
        (run_dir / "stdout.json").write_text(proc.stdout)
        (run_dir / "stderr.txt").write_text(proc.stderr)
        try:
            doc = json.loads(proc.stdout)
        except json.JSONDecodeError:
            doc = {}
        run = Run(proc.returncode, doc, proc.stdout, proc.stderr, read_wire(wire_log))
        assert doc, f"no JSON from the json callback\n{run.describe()}"
        return run


def net_mutations(run: Run) -> list[str]:
    """Every call of a run that is not a read (Describe*, Get*)."""
    return [action for action, _ in run.requests if not action.startswith(("Describe", "Get"))]


def net_idempotent(run: Run) -> None:
    succeeded(run)
    assert run.stats["changed"] == 0, run.describe()
    assert run.changed_tasks() == set(), run.describe()
    assert net_mutations(run) == [], run.describe()


def f1(name: str, *values: str) -> dict:
    return {"Name": name, "Values": list(values)}


def clean_network(client) -> None:
    """Whatever a failed run left in the account (its own): gone, in dependency order."""
    def quiet(call, **kwargs):
        with contextlib.suppress(ClientError):
            call(**kwargs)

    for a in client.describe_addresses()["Addresses"]:
        if a.get("AssociationId"):
            quiet(client.disassociate_address, AssociationId=a["AssociationId"])
        quiet(client.release_address, AllocationId=a["AllocationId"])
    vpcs = [v["VpcId"] for v in client.describe_vpcs(Filters=[f1("is-default", "false")])["Vpcs"]]
    if not vpcs:
        return
    for eni in client.describe_network_interfaces(Filters=[f1("vpc-id", *vpcs)])["NetworkInterfaces"]:
        if eni.get("Attachment", {}).get("DeviceIndex", 0) != 0:
            quiet(client.detach_network_interface, AttachmentId=eni["Attachment"]["AttachmentId"], Force=True)
    res = client.describe_instances(Filters=[f1("vpc-id", *vpcs)])["Reservations"]
    ids = [i["InstanceId"] for r in res for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if ids:
        quiet(client.terminate_instances, InstanceIds=ids)
        for instance_id in ids:
            wait_state(client, instance_id, "terminated")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = client.describe_network_interfaces(Filters=[f1("vpc-id", *vpcs)])["NetworkInterfaces"]
        for eni in left:
            if eni["Status"] == "available":
                quiet(client.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"])
        if not left:
            break
        time.sleep(0.5)
    for vpc_id in vpcs:
        for t in client.describe_route_tables(Filters=[f1("vpc-id", vpc_id)])["RouteTables"]:
            for a in t["Associations"]:
                if not a["Main"]:
                    quiet(client.disassociate_route_table, AssociationId=a["RouteTableAssociationId"])
            if not any(a["Main"] for a in t["Associations"]):
                quiet(client.delete_route_table, RouteTableId=t["RouteTableId"])
        for g in client.describe_internet_gateways(Filters=[f1("attachment.vpc-id", vpc_id)])["InternetGateways"]:
            quiet(client.detach_internet_gateway, InternetGatewayId=g["InternetGatewayId"], VpcId=vpc_id)
            quiet(client.delete_internet_gateway, InternetGatewayId=g["InternetGatewayId"])
        for s in client.describe_subnets(Filters=[f1("vpc-id", vpc_id)])["Subnets"]:
            quiet(client.delete_subnet, SubnetId=s["SubnetId"])
        quiet(client.delete_vpc, VpcId=vpc_id)


@pytest.fixture(scope="module")
def net_play(gateway, client_for, import_image, tmp_path_factory):
    """ec2_vpc.yml in an account of its own (its VPC limit and listings are its own), with an
    imported image. Whatever a failed test leaves is removed afterwards."""
    if not ansible_playbook_path().exists():
        pytest.fail(f"no ansible-playbook next to {sys.executable}: scripts/venv installs "
                    "conformance/requirements.txt (ansible)", pytrace=False)
    account = gateway.create_account()
    client = client_for(account)
    image_name = uid("ansible-vpc-ami")
    image_id = import_image(image_name, account)["ImageId"]
    net_name = uid("ansible-net")
    extra_vars = {
        "ec2gw_endpoint": gateway.endpoint,
        "ec2gw_access_key": account.access_key,
        "ec2gw_secret_key": account.secret_key,
        "ec2gw_region": REGION,
        "net_name": net_name,
        "vpc_cidr": NET_VPC_CIDR,
        "subnet_cidr": NET_SUBNET_CIDR,
        "eni_address": NET_ENI_ADDRESS,
        "zone": NET_ZONE,
        "image_name": image_name,
    }
    STATE.pop("net", None)
    yield {
        "play": NetPlay(VPC_PLAYBOOK, tmp_path_factory.mktemp("ansible-vpc"), extra_vars),
        "client": client,
        "account": account,
        "image_id": image_id,
        "net_name": net_name,
    }
    clean_network(client)


def test_vpc_network_is_idempotent(net_play):
    """net_state=present: VPC, subnet, internet gateway, route table, instance, Elastic IP and
    second interface are made; applying it again changes nothing."""
    client, pb, name = net_play["client"], net_play["play"], net_play["net_name"]
    account = net_play["account"].account_id

    first = succeeded(pb.apply("present"))
    assert first.changed_tasks() == NET_PRESENT_TASKS, first.describe()
    r = first.results
    vpc_id, subnet_id = r["The VPC"]["vpc"]["id"], r["The subnet"]["subnet"]["id"]
    igw_id, rtb_id = r["The internet gateway"]["gateway_id"], r["The route table"]["route_table"]["id"]
    [instance_id] = r["The instance"]["instance_ids"]
    alloc_id, public_ip = r["The Elastic IP"]["allocation_id"], r["The Elastic IP"]["public_ip"]
    eni_id = r["The second interface"]["interface"]["id"]
    STATE["net"] = {"vpc_id": vpc_id, "instance_id": instance_id}

    # What the modules sent to make it.
    [create_vpc] = first.calls("CreateVpc")
    assert (create_vpc["CidrBlock"], create_vpc["InstanceTenancy"]) == (NET_VPC_CIDR, "default")
    assert {"EnableDnsHostnames.Value": "true", "VpcId": vpc_id} in first.calls("ModifyVpcAttribute")
    [create_subnet] = first.calls("CreateSubnet")
    assert (create_subnet["VpcId"], create_subnet["CidrBlock"], create_subnet["AvailabilityZone"]) == (
        vpc_id, NET_SUBNET_CIDR, NET_ZONE)
    assert first.calls("AttachInternetGateway") == [{"InternetGatewayId": igw_id, "VpcId": vpc_id}]
    assert first.calls("CreateRoute") == [{"RouteTableId": rtb_id, "DestinationCidrBlock": "0.0.0.0/0",
                                           "GatewayId": igw_id}]
    assert first.calls("AssociateRouteTable") == [{"RouteTableId": rtb_id, "SubnetId": subnet_id}]
    [launch] = first.calls("RunInstances")
    assert launch["NetworkInterface.1.DeviceIndex"] == "0"
    assert launch["NetworkInterface.1.SubnetId"] == subnet_id
    [group] = client.describe_security_groups(Filters=[f1("vpc-id", vpc_id), f1("group-name", "default")])[
        "SecurityGroups"]
    # No security_group: EC2 puts the instance in the VPC's default group.
    assert not any(k.startswith("NetworkInterface.1.SecurityGroupId") for k in launch), launch
    assert first.calls("AssociateAddress") == [{"InstanceId": instance_id, "AllowReassociation": "false",
                                                "AllocationId": alloc_id}]
    [create_eni] = first.calls("CreateNetworkInterface")
    assert (create_eni["SubnetId"], create_eni["PrivateIpAddress"]) == (subnet_id, NET_ENI_ADDRESS)
    assert first.calls("AttachNetworkInterface") == [{"InstanceId": instance_id, "DeviceIndex": "1",
                                                      "NetworkInterfaceId": eni_id}]

    # What boto3 sees.
    [vpc] = client.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
    assert vpc["State"] == "available" and vpc["CidrBlock"] == NET_VPC_CIDR
    assert tag_dict(vpc["Tags"]) == {"Name": name, **NET_TAGS}
    assert client.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {
        "Value": True}
    [subnet] = client.describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    assert (subnet["VpcId"], subnet["CidrBlock"], subnet["AvailabilityZone"], subnet["State"]) == (
        vpc_id, NET_SUBNET_CIDR, NET_ZONE, "available")
    assert tag_dict(subnet["Tags"]) == {"Name": name, **NET_TAGS}
    [igw] = client.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    [table] = client.describe_route_tables(RouteTableIds=[rtb_id])["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id, "Origin": "CreateRoute",
            "State": "active"} in table["Routes"]
    assert [(a["SubnetId"], a["Main"]) for a in table["Associations"]] == [(subnet_id, False)]
    assert tag_dict(table["Tags"]) == {"Name": name}
    instance = instance_of(client, instance_id)
    assert instance["State"]["Name"] == "running"
    assert (instance["SubnetId"], instance["VpcId"]) == (subnet_id, vpc_id)
    assert instance["SecurityGroups"] == [{"GroupId": group["GroupId"], "GroupName": "default"}]
    assert instance["PublicIpAddress"] == public_ip
    assert tag_dict(instance["Tags"]) == {"Name": name, **NET_TAGS}
    [address] = client.describe_addresses(AllocationIds=[alloc_id])["Addresses"]
    assert (address["InstanceId"], address["PublicIp"], address["Domain"]) == (instance_id, public_ip, "vpc")
    assert tag_dict(address["Tags"]) == {"Name": name, **NET_TAGS}
    [eni] = client.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"]
    assert eni["PrivateIpAddress"] == NET_ENI_ADDRESS and eni["Status"] == "in-use"
    assert (eni["Attachment"]["InstanceId"], eni["Attachment"]["DeviceIndex"]) == (instance_id, 1)
    assert eni["Description"] == f"{name} second interface"
    assert tag_dict(eni["TagSet"]) == {"Name": name}
    assert sorted(e["Attachment"]["DeviceIndex"] for e in instance_of(client, instance_id)["NetworkInterfaces"]) == [0, 1]

    second = pb.apply("present")
    net_idempotent(second)
    r2 = second.results
    assert r2["The VPC"]["vpc"]["id"] == vpc_id and r2["The subnet"]["subnet"]["id"] == subnet_id
    assert r2["The internet gateway"]["gateway_id"] == igw_id
    assert r2["The route table"]["route_table"]["id"] == rtb_id
    assert r2["The instance"]["instance_ids"] == [instance_id]
    assert r2["The Elastic IP"]["allocation_id"] == alloc_id
    assert r2["The second interface"]["interface"]["id"] == eni_id


def test_vpc_network_absent_is_idempotent(net_play):
    """net_state=absent: the interface, the Elastic IP, the instance, the route table, the
    internet gateway, the subnet and the VPC go, in that order; applying it again finds nothing."""
    client, pb = net_play["client"], net_play["play"]
    net = STATE.get("net")
    if net is None:
        pytest.fail("the present state was not applied (test_vpc_network_is_idempotent failed)", pytrace=False)

    first = succeeded(pb.apply("absent"))
    assert first.changed_tasks() == NET_ABSENT_TASKS, first.describe()
    order = [a for a in net_mutations(first) if a in (
        "DetachNetworkInterface", "DeleteNetworkInterface", "DisassociateAddress", "ReleaseAddress",
        "TerminateInstances", "DisassociateRouteTable", "DeleteRouteTable", "DetachInternetGateway",
        "DeleteInternetGateway", "DeleteSubnet", "DeleteVpc")]
    assert order == ["DetachNetworkInterface", "DeleteNetworkInterface", "DisassociateAddress", "ReleaseAddress",
                     "TerminateInstances", "DisassociateRouteTable", "DeleteRouteTable", "DetachInternetGateway",
                     "DeleteInternetGateway", "DeleteSubnet", "DeleteVpc"], first.describe()
    assert instance_of(client, net["instance_id"])["State"]["Name"] == "terminated"
    with api_error("InvalidVpcID.NotFound"):
        client.describe_vpcs(VpcIds=[net["vpc_id"]])
    assert client.describe_addresses()["Addresses"] == []
    assert client.describe_network_interfaces(Filters=[f1("vpc-id", net["vpc_id"])])["NetworkInterfaces"] == []
    assert client.describe_internet_gateways(Filters=[f1("tag:Name", net_play["net_name"])])["InternetGateways"] == []

    second = pb.apply("absent")
    net_idempotent(second)
    assert second.results["No instance"]["msg"] == "No matching instances found"
