"""Instance conformance: RunInstances and the instance life cycle (Start, Stop, Reboot,
Terminate), DescribeInstances and its filters, instance attributes, status, credit
specifications, console output and root volumes, through boto3 (client, resource API, paginators,
waiters) and the AWS CLI, against the session's gateway on libvirt's test driver (instances get
real test-driver domains; nothing boots; the reconciler moves pending -> running, stopping ->
stopped and shutting-down -> terminated within about a second).

Every test terminates what it launches (and waits until it is terminated) so that the host's
capacity, shared by every account of the session, is free for the next test. Tests that list
whole collections do it in accounts of their own.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import os
import re
import secrets
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from assertions import DRY_RUN_MESSAGE, api_error, assert_cli_error, dry_run, loose, uid  # noqa: F401
INSTANCE_ID = re.compile(r"^i-[0-9a-f]{17}$")
RESERVATION_ID = re.compile(r"^r-[0-9a-f]{17}$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{17}$")
USER_INITIATED = re.compile(r"^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$")
MISSING_INSTANCE = "i-0123456789abcdef0"
MISSING_IMAGE = "ami-0123456789abcdef0"
MISSING_VOLUME = "vol-0123456789abcdef0"
MISSING_SUBNET = "subnet-0123456789abcdef0"
STATE_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}
# States whose instances hold host capacity (the gateway's `committed`).
HOLDING = {"pending", "running", "stopping", "shutting-down"}
ZONE = "us-east-1a"
# boto3's waiters poll every 15 s (instance_exists: 5 s) by default; the reconciler is faster.
FAST = {"Delay": 1, "MaxAttempts": 30}
SETTLE_TIMEOUT = 20.0

USER_DATA = "#!/bin/sh\necho hello from ec2gw\n"
USER_DATA_B64 = base64.b64encode(USER_DATA.encode()).decode()


# =========================================================================== helpers




def not_found(ids) -> str:
    ids = [ids] if isinstance(ids, str) else list(ids)
    if len(ids) == 1:
        return f"The instance ID '{ids[0]}' does not exist"
    return f"The instance IDs '{', '.join(ids)}' do not exist"


def malformed(instance_id: str) -> str:
    return f'Invalid id: "{instance_id}" (expecting "i-...")'


def state(name: str) -> dict:
    return {"Code": STATE_CODES[name], "Name": name}


def change(instance_id: str, previous: str, current: str) -> dict:
    return {"InstanceId": instance_id, "CurrentState": state(current), "PreviousState": state(previous)}


def instances_of(response) -> list[dict]:
    return [i for r in response["Reservations"] for i in r["Instances"]]


def by_id(client, ids) -> dict[str, dict]:
    return {i["InstanceId"]: i for i in instances_of(client.describe_instances(InstanceIds=list(ids)))}


def one(client, instance_id: str) -> dict:
    [reservation] = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
    [instance] = reservation["Instances"]
    return instance


def ids_where(client, *filters) -> set[str]:
    """Instance ids DescribeInstances answers for these (name, values) filters, every page."""
    pages = client.get_paginator("describe_instances").paginate(
        Filters=[{"Name": n, "Values": v} for n, v in filters]
    )
    return {i["InstanceId"] for page in pages for i in instances_of(page)}


def wait_for(client, ids, wanted: str, timeout: float = SETTLE_TIMEOUT) -> dict[str, dict]:
    """Polls DescribeInstances until every instance is in `wanted`; the instances then."""
    ids = list(ids)
    deadline = time.monotonic() + timeout
    while True:
        found = by_id(client, ids)
        if all(found[i]["State"]["Name"] == wanted for i in ids):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not {wanted} after {timeout} s: { {k: v['State']['Name'] for k, v in found.items()} }"
            )
        time.sleep(0.1)


def utc(ts: datetime.datetime) -> datetime.datetime:
    return ts.astimezone(datetime.timezone.utc)


def wire_time(ts: datetime.datetime) -> str:
    """A timestamp as the gateway writes (and filters) it: 2026-11-23T16:40:39.764Z."""
    t = utc(ts)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def recent(ts: datetime.datetime, seconds: float = 120.0) -> bool:
    return abs((datetime.datetime.now(datetime.timezone.utc) - utc(ts)).total_seconds()) < seconds


def tag_dict(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


class Recorder:
    """Records the parameters of every call of one operation a client makes."""

    def __init__(self, client, operation: str):
        self.calls: list[dict] = []
        client.meta.events.register(f"provide-client-params.ec2.{operation}", self._record)

    def _record(self, params, **kwargs):
        self.calls.append(dict(params))


class Launcher:
    """RunInstances that remembers what it launched, to terminate it all afterwards (and wait
    until it is terminated: shutting-down instances still hold host capacity)."""

    def __init__(self):
        self.launched: list[tuple[object, list[str]]] = []

    def run(self, client, **kwargs) -> dict:
        kwargs.setdefault("MinCount", 1)
        kwargs.setdefault("MaxCount", kwargs["MinCount"])
        resp = client.run_instances(**kwargs)
        self.adopt(client, [i["InstanceId"] for i in resp["Instances"]])
        return resp

    def adopt(self, client, ids: list[str]) -> None:
        """Instances launched some other way (the AWS CLI, the resource API)."""
        self.launched.append((client, list(ids)))

    def live(self) -> list[tuple[object, dict]]:
        out = []
        for client, ids in self.launched:
            for instance in by_id(client, ids).values():
                out.append((client, instance))
        return out

    def cleanup(self) -> None:
        for client, ids in self.launched:
            for instance_id in ids:
                for attribute in ("DisableApiTermination", "DisableApiStop"):
                    with contextlib.suppress(ClientError):
                        client.modify_instance_attribute(InstanceId=instance_id, **{attribute: {"Value": False}})
            with contextlib.suppress(ClientError):
                client.terminate_instances(InstanceIds=ids)
        for client, ids in self.launched:
            wait_for(client, ids, "terminated")
        self.launched.clear()


# Every launcher of this module, for the capacity test's sum of what is held.
LAUNCHERS: list[Launcher] = []


def new_launcher() -> Launcher:
    launcher = Launcher()
    LAUNCHERS.append(launcher)
    return launcher


def run_one(launcher: Launcher, client, image_id: str, **kwargs) -> dict:
    kwargs.setdefault("InstanceType", "t2.micro")
    [instance] = launcher.run(client, ImageId=image_id, MinCount=1, MaxCount=1, **kwargs)["Instances"]
    return instance


# =========================================================================== fixtures


@pytest.fixture
def launcher():
    launcher = new_launcher()
    try:
        yield launcher
    finally:
        launcher.cleanup()
        LAUNCHERS.remove(launcher)


@pytest.fixture(scope="module")
def module_launcher():
    launcher = new_launcher()
    try:
        yield launcher
    finally:
        launcher.cleanup()
        LAUNCHERS.remove(launcher)


@pytest.fixture(scope="module")
def image(import_image) -> str:
    """A private image of the session's main account."""
    return import_image(uid("inst"))["ImageId"]


@pytest.fixture(scope="module")
def public_image(import_image) -> str:
    """A public image, for the accounts the tests make."""
    return import_image(uid("inst-pub"), public=True)["ImageId"]


@pytest.fixture(scope="module")
def key_name(ec2) -> str:
    name = uid("inst-key")
    ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    return name


def default_network(ec2, zone: str = ZONE) -> dict:
    """The account's default VPC, its subnet in `zone` and its default group, as EC2 reports them."""
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    [subnet] = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [zone]}])["Subnets"]
    [group] = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
    return {"VpcId": vpc["VpcId"], "SubnetId": subnet["SubnetId"], "GroupId": group["GroupId"]}


@pytest.fixture(scope="module")
def network(ec2) -> dict:
    return default_network(ec2)


@pytest.fixture(scope="module")
def web(ec2, image, key_name, module_launcher) -> dict:
    """One t3.micro of the main account, launched with a key, user data, a client token and
    instance and volume tags, and running; read-only for the tests that use it."""
    token = uid("web-token")
    resp = module_launcher.run(
        ec2,
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        KeyName=key_name,
        UserData=USER_DATA,
        ClientToken=token,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}, {"Key": "Role", "Value": "front"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "Disk", "Value": "root"}]},
        ],
    )
    [instance] = resp["Instances"]
    wait_for(ec2, [instance["InstanceId"]], "running")
    return {
        "run": resp,
        "id": instance["InstanceId"],
        "volume": instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"],
        "token": token,
        "image": image,
        "key": key_name,
    }


@pytest.fixture(scope="module")
def fleet(gateway, client_for, public_image, module_launcher) -> dict:
    """An account of its own with seven instances in three reservations, for the filter,
    grouping and paging tests: web (3 x t2.micro, key, us-east-1a, running), db (1 x t3.nano,
    us-east-1b, a subnet id, running), batch (3 x t2.micro, stopped)."""
    account = gateway.create_account()
    ec2 = client_for(account)
    key = uid("fleet-key")
    ec2.create_key_pair(KeyName=key, KeyType="ed25519")

    def tags(**kv):
        return [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in kv.items()]}]

    web = module_launcher.run(ec2, ImageId=public_image, InstanceType="t2.micro", MinCount=3, MaxCount=3,
                              KeyName=key, TagSpecifications=tags(Role="web", Name="web-node"))
    db = module_launcher.run(ec2, ImageId=public_image, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                             Placement={"AvailabilityZone": "us-east-1b"},
                             SubnetId=default_network(ec2, "us-east-1b")["SubnetId"],
                             TagSpecifications=tags(Role="db", Name="db-1", Env="prod"))
    batch = module_launcher.run(ec2, ImageId=public_image, InstanceType="t2.micro", MinCount=3, MaxCount=3,
                                TagSpecifications=tags(Role="batch"))
    ids = {
        "web": sorted(i["InstanceId"] for i in web["Instances"]),
        "db": [db["Instances"][0]["InstanceId"]],
        "batch": sorted(i["InstanceId"] for i in batch["Instances"]),
    }
    every = ids["web"] + ids["db"] + ids["batch"]
    wait_for(ec2, every, "running")
    ec2.stop_instances(InstanceIds=ids["batch"])
    wait_for(ec2, ids["batch"], "stopped")
    return {
        "account": account,
        "ec2": ec2,
        "key": key,
        "image": public_image,
        "ids": ids,
        "all": set(every),
        "reservations": {"web": web["ReservationId"], "db": db["ReservationId"], "batch": batch["ReservationId"]},
        "db_launch_time": db["Instances"][0]["LaunchTime"],
        "db_network": default_network(ec2, "us-east-1b"),
    }


# =========================================================================== launch and describe


def expected_instance(image_id: str, key: str | None, instance_type: str, token: str, tags: dict,
                      network: dict) -> dict:
    """The fields every answer about a fresh instance of this gateway carries, whatever its state."""
    cores, threads = {"t2.micro": (1, 1), "t3.micro": (1, 2), "t3.nano": (1, 2), "t3.small": (1, 2)}[instance_type]
    fields = {
        "ImageId": image_id,
        "InstanceType": instance_type,
        "AmiLaunchIndex": 0,
        "Architecture": "x86_64",
        "BootMode": "legacy-bios",
        "CapacityReservationSpecification": {"CapacityReservationPreference": "open"},
        "ClientToken": token,
        "CpuOptions": {"CoreCount": cores, "ThreadsPerCore": threads},
        "CurrentInstanceBootMode": "legacy-bios",
        "EbsOptimized": False,
        "EnaSupport": False,
        "EnclaveOptions": {"Enabled": False},
        "HibernationOptions": {"Configured": False},
        "Hypervisor": "xen",
        "MaintenanceOptions": {"AutoRecovery": "default"},
        "MetadataOptions": {
            "State": "applied", "HttpTokens": "optional", "HttpPutResponseHopLimit": 1,
            "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled",
        },
        "Monitoring": {"State": "disabled"},
        "Placement": {"AvailabilityZone": ZONE, "GroupName": "", "Tenancy": "default"},
        "PlatformDetails": "Linux/UNIX",
        "ProductCodes": [],
        "PublicDnsName": "",
        "RootDeviceName": "/dev/xvda",
        "RootDeviceType": "ebs",
        "SecurityGroups": [{"GroupId": network["GroupId"], "GroupName": "default"}],
        "SubnetId": network["SubnetId"],
        "VpcId": network["VpcId"],
        "SourceDestCheck": True,
        "UsageOperation": "RunInstances",
        "VirtualizationType": "hvm",
    }
    if key is not None:
        fields["KeyName"] = key
    if tags:
        fields["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    return fields


def check_instance(instance: dict, expected: dict) -> None:
    for field, value in expected.items():
        if field == "Tags":
            assert sorted(instance["Tags"], key=lambda t: t["Key"]) == sorted(value, key=lambda t: t["Key"])
        else:
            assert instance[field] == value, (field, instance[field])
    check_addresses(instance, expected)


def check_addresses(instance: dict, expected: dict) -> None:
    """A live instance's primary interface in its default subnet: a private address from the
    subnet's block (the lowest free from +4), its DNS name, and a public address given at
    launch (default subnets map one)."""
    if instance["State"]["Name"] == "terminated":
        assert instance["NetworkInterfaces"] == [] and "PrivateIpAddress" not in instance
        return
    [eni] = instance["NetworkInterfaces"]
    private = instance["PrivateIpAddress"]
    assert private.startswith("172.31.") and eni["PrivateIpAddress"] == private
    assert instance["PrivateDnsName"] == f"ip-{private.replace('.', '-')}.ec2.internal"
    assert eni["Attachment"]["DeviceIndex"] == 0 and eni["Attachment"]["Status"] == "attached"
    assert eni["SubnetId"] == expected["SubnetId"] and eni["VpcId"] == expected["VpcId"]
    assert eni["Groups"] == expected["SecurityGroups"]
    assert eni["PrivateIpAddresses"] == [{"Association": eni["Association"], "Primary": True,
                                          "PrivateDnsName": instance["PrivateDnsName"], "PrivateIpAddress": private}]
    assert instance["PublicIpAddress"] == eni["Association"]["PublicIp"]
    assert eni["Association"]["IpOwnerId"] == "amazon"


def test_run_instances_answers_every_field(web, gateway, network):
    resp = web["run"]
    assert RESERVATION_ID.match(resp["ReservationId"]), resp
    assert resp["OwnerId"] == gateway.account_id
    assert resp["Groups"] == []
    assert "RequesterId" not in resp
    [instance] = resp["Instances"]
    assert INSTANCE_ID.match(instance["InstanceId"])
    check_instance(instance, expected_instance(web["image"], web["key"], "t3.micro", web["token"],
                                               {"Name": "web", "Role": "front"}, network))
    # A fresh instance is pending, with AWS's pending state reason.
    assert instance["State"] == state("pending")
    assert instance["StateReason"] == {"Code": "pending", "Message": "pending"}
    assert instance["StateTransitionReason"] == ""
    assert recent(instance["LaunchTime"])
    assert instance["UsageOperationUpdateTime"] == instance["LaunchTime"]
    [bdm] = instance["BlockDeviceMappings"]
    assert bdm["DeviceName"] == "/dev/xvda"
    assert VOLUME_ID.match(bdm["Ebs"]["VolumeId"])
    assert bdm["Ebs"] == {
        "VolumeId": bdm["Ebs"]["VolumeId"], "Status": "attached",
        "AttachTime": instance["LaunchTime"], "DeleteOnTermination": True,
    }
    for absent in ("IamInstanceProfile",
                   "InstanceLifecycle", "SpotInstanceRequestId", "Platform", "KernelId", "RamdiskId"):
        assert absent not in instance, absent


def test_describe_instances_shows_the_running_instance(web, ec2, network):
    resp = ec2.describe_instances(InstanceIds=[web["id"]])
    [reservation] = resp["Reservations"]
    assert reservation["ReservationId"] == web["run"]["ReservationId"]
    assert reservation["OwnerId"] == web["run"]["OwnerId"]
    assert reservation["Groups"] == []
    [instance] = reservation["Instances"]
    check_instance(instance, expected_instance(web["image"], web["key"], "t3.micro", web["token"],
                                               {"Name": "web", "Role": "front"}, network))
    assert instance["State"] == state("running")
    assert "StateReason" not in instance
    assert instance["StateTransitionReason"] == ""
    assert instance["LaunchTime"] == web["run"]["Instances"][0]["LaunchTime"]
    assert instance["BlockDeviceMappings"] == web["run"]["Instances"][0]["BlockDeviceMappings"]
    assert "NextToken" not in resp


def test_tag_specifications_tag_the_instance_and_its_volume(web, ec2):
    rows = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [web["id"], web["volume"]]}])["Tags"]
    assert sorted((t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in rows) == sorted([
        (web["id"], "instance", "Name", "web"),
        (web["id"], "instance", "Role", "front"),
        (web["volume"], "volume", "Disk", "root"),
    ])
    [volume] = ec2.describe_volumes(VolumeIds=[web["volume"]])["Volumes"]
    assert volume["Tags"] == [{"Key": "Disk", "Value": "root"}]


def test_describe_volumes_root_volume(web, ec2):
    launch_time = web["run"]["Instances"][0]["LaunchTime"]
    expected = {
        "VolumeId": web["volume"],
        "Size": 8,  # the image is 1 GiB; the type's root disk (8 GiB) is larger
        "SnapshotId": "",
        "AvailabilityZone": ZONE,
        "State": "in-use",
        "CreateTime": launch_time,
        "Attachments": [{
            "VolumeId": web["volume"], "InstanceId": web["id"], "Device": "/dev/xvda", "State": "attached",
            "AttachTime": launch_time, "DeleteOnTermination": True,
        }],
        "Tags": [{"Key": "Disk", "Value": "root"}],
        "VolumeType": "gp3",
        "Iops": 3000,
        "Throughput": 125,
        "Encrypted": False,
        "MultiAttachEnabled": False,
    }
    resp = ec2.describe_volumes(VolumeIds=[web["volume"]])
    assert resp["Volumes"] == [expected]
    assert "NextToken" not in resp
    by_instance = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [web["id"]]}])
    assert by_instance["Volumes"] == [expected]
    for name, values in [("volume-id", [web["volume"]]), ("attachment.device", ["/dev/xvda"]),
                         ("attachment.status", ["attached"]), ("status", ["in-use"]), ("size", ["8"]),
                         ("volume-type", ["gp3"]), ("encrypted", ["false"]), ("availability-zone", ["us-east-1?"])]:
        found = ec2.describe_volumes(Filters=[{"Name": name, "Values": values},
                                              {"Name": "attachment.instance-id", "Values": [web["id"]]}])
        assert [v["VolumeId"] for v in found["Volumes"]] == [web["volume"]], name
    for name, values in [("status", ["available"]), ("size", ["9"]), ("volume-type", ["io2"]),
                         ("availability-zone", ["us-east-1b"])]:
        found = ec2.describe_volumes(Filters=[{"Name": name, "Values": values},
                                              {"Name": "attachment.instance-id", "Values": [web["id"]]}])
        assert found["Volumes"] == [], name


def test_describe_volumes_errors(ec2, client_for, web):
    with api_error("InvalidVolume.NotFound", f"The volume '{MISSING_VOLUME}' does not exist."):
        ec2.describe_volumes(VolumeIds=[MISSING_VOLUME])
    with api_error("InvalidVolumeID.Malformed", 'Invalid id: "vol-x" (expecting "vol-...")'):
        ec2.describe_volumes(VolumeIds=["vol-x"])
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_volumes(Filters=[{"Name": "bogus", "Values": ["x"]}])
    with api_error("InvalidParameterCombination",
                   "The parameter volumeSet cannot be used with the parameter maxResults"):
        loose(client_for).describe_volumes(VolumeIds=[web["volume"]], MaxResults=5)


def test_describe_instance_attribute_what_terraform_reads(web, ec2):
    """The four attributes the Terraform provider reads after every apply: each element must be
    there (a missing disableApiStop/disableApiTermination is a nil dereference in the provider)."""
    def attr(name):
        resp = ec2.describe_instance_attribute(InstanceId=web["id"], Attribute=name)
        resp.pop("ResponseMetadata")
        return resp

    assert attr("instanceInitiatedShutdownBehavior") == {
        "InstanceId": web["id"], "InstanceInitiatedShutdownBehavior": {"Value": "stop"}}
    assert attr("disableApiStop") == {"InstanceId": web["id"], "DisableApiStop": {"Value": False}}
    assert attr("disableApiTermination") == {"InstanceId": web["id"], "DisableApiTermination": {"Value": False}}
    assert attr("userData") == {"InstanceId": web["id"], "UserData": {"Value": USER_DATA_B64}}


def test_describe_instance_attribute_every_attribute(web, ec2, network):
    bdm = web["run"]["Instances"][0]["BlockDeviceMappings"]
    expected = {
        "instanceType": {"InstanceType": {"Value": "t3.micro"}},
        "kernel": {"KernelId": {}},
        "ramdisk": {"RamdiskId": {}},
        "userData": {"UserData": {"Value": USER_DATA_B64}},
        "disableApiTermination": {"DisableApiTermination": {"Value": False}},
        "instanceInitiatedShutdownBehavior": {"InstanceInitiatedShutdownBehavior": {"Value": "stop"}},
        "rootDeviceName": {"RootDeviceName": {"Value": "/dev/xvda"}},
        "blockDeviceMapping": {"BlockDeviceMappings": bdm},
        "productCodes": {"ProductCodes": []},
        "sourceDestCheck": {"SourceDestCheck": {"Value": True}},
        "groupSet": {"Groups": [{"GroupId": network["GroupId"], "GroupName": "default"}]},
        "ebsOptimized": {"EbsOptimized": {"Value": False}},
        "sriovNetSupport": {"SriovNetSupport": {}},
        "enaSupport": {"EnaSupport": {"Value": False}},
        "enclaveOptions": {"EnclaveOptions": {"Enabled": False}},
        "disableApiStop": {"DisableApiStop": {"Value": False}},
    }
    for attribute, fields in expected.items():
        resp = ec2.describe_instance_attribute(InstanceId=web["id"], Attribute=attribute)
        resp.pop("ResponseMetadata")
        assert resp == {"InstanceId": web["id"], **fields}, attribute
    with api_error("InvalidParameterValue", "Value (bogus) for parameter attribute is invalid. Unknown attribute."):
        ec2.describe_instance_attribute(InstanceId=web["id"], Attribute="bogus")


def test_get_console_output(web, ec2):
    for latest in (False, True):
        resp = ec2.get_console_output(InstanceId=web["id"], Latest=latest)
        assert resp["InstanceId"] == web["id"]
        assert recent(resp["Timestamp"], 30)
        # Nothing boots on the test driver: the console is empty, but the call answers.
        assert resp.get("Output", "") == ""


def test_describe_instance_status_of_a_running_instance(web, ec2):
    ok = {"Status": "ok", "Details": [{"Name": "reachability", "Status": "passed"}]}
    resp = ec2.describe_instance_status(InstanceIds=[web["id"]])
    assert resp["InstanceStatuses"] == [{
        "InstanceId": web["id"], "AvailabilityZone": ZONE, "InstanceState": state("running"),
        "SystemStatus": ok, "InstanceStatus": ok,
    }]
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=[web["id"]], WaiterConfig=FAST)
    ec2.get_waiter("system_status_ok").wait(InstanceIds=[web["id"]], WaiterConfig=FAST)


# =========================================================================== life cycle


def wait_until_logged(gateway, *fragments: str, timeout: float = SETTLE_TIMEOUT) -> None:
    """Until one line of the gateway's log holds every fragment."""
    deadline = time.monotonic() + timeout
    while not any(all(f in line for f in fragments)
                  for line in gateway.stderr_path.read_text(errors="replace").splitlines()):
        assert time.monotonic() < deadline, f"the gateway never logged a line with {fragments!r}"
        time.sleep(0.1)


def test_life_cycle_stop_start_reboot_terminate(ec2, image, launcher, gateway):
    instance = run_one(launcher, ec2, image)
    iid = instance["InstanceId"]
    assert instance["State"] == state("pending")
    ec2.get_waiter("instance_exists").wait(InstanceIds=[iid], WaiterConfig=FAST)
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    ec2.get_waiter("instance_status_ok").wait(InstanceIds=[iid], WaiterConfig=FAST)
    assert one(ec2, iid)["State"] == state("running")

    # Stop: running -> stopping -> stopped, with the user's reason.
    assert ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"] == [change(iid, "running", "stopping")]
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    stopped = one(ec2, iid)
    assert stopped["State"] == state("stopped")
    assert stopped["StateReason"] == {
        "Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    assert USER_INITIATED.match(stopped["StateTransitionReason"]), stopped["StateTransitionReason"]
    assert stopped["BlockDeviceMappings"] == instance["BlockDeviceMappings"]
    # Status: only running instances unless IncludeAllInstances.
    assert ec2.describe_instance_status(InstanceIds=[iid])["InstanceStatuses"] == []
    na = {"Status": "not-applicable", "Details": []}
    assert ec2.describe_instance_status(InstanceIds=[iid], IncludeAllInstances=True)["InstanceStatuses"] == [{
        "InstanceId": iid, "AvailabilityZone": ZONE, "InstanceState": state("stopped"),
        "SystemStatus": na, "InstanceStatus": na,
    }]
    # Stopping a stopped instance changes nothing.
    assert ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"] == [change(iid, "stopped", "stopped")]

    # Start: stopped -> pending -> running; the stop's reason is gone.
    assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"] == [change(iid, "stopped", "pending")]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    running = one(ec2, iid)
    assert running["State"] == state("running")
    assert "StateReason" not in running
    assert running["LaunchTime"] == instance["LaunchTime"]
    assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"] == [change(iid, "running", "running")]

    # Reboot: answers at once, the instance stays running; the test driver's guest powers off
    # at once and the reconciler boots it again.
    resp = ec2.reboot_instances(InstanceIds=[iid])
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert set(resp) == {"ResponseMetadata"}
    assert one(ec2, iid)["State"] == state("running")
    wait_until_logged(gateway, "rebooted", f"instance={iid}")
    assert one(ec2, iid)["State"] == state("running")

    # Terminate: running -> shutting-down -> terminated, and still describable.
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"] == [
        change(iid, "running", "shutting-down")]
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    gone = one(ec2, iid)
    assert gone["State"] == state("terminated")
    assert gone["StateReason"] == {
        "Code": "Client.UserInitiatedShutdown", "Message": "Client.UserInitiatedShutdown: User initiated shutdown"}
    assert USER_INITIATED.match(gone["StateTransitionReason"]), gone["StateTransitionReason"]
    assert gone["BlockDeviceMappings"] == []
    assert gone["InstanceId"] == iid and gone["ImageId"] == image
    assert iid in ids_where(ec2, ("instance-state-name", ["terminated"]), ("instance-id", [iid]))
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"] == [
        change(iid, "terminated", "terminated")]
    # The root volume (DeleteOnTermination) went with it.
    volume = instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    with api_error("InvalidVolume.NotFound", f"The volume '{volume}' does not exist."):
        ec2.describe_volumes(VolumeIds=[volume])


def test_terminate_a_stopped_instance(ec2, image, launcher):
    iid = run_one(launcher, ec2, image)["InstanceId"]
    wait_for(ec2, [iid], "running")
    ec2.stop_instances(InstanceIds=[iid])
    wait_for(ec2, [iid], "stopped")
    assert ec2.terminate_instances(InstanceIds=[iid])["TerminatingInstances"] == [
        change(iid, "stopped", "shutting-down")]
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)


def test_skip_os_shutdown_on_stop_and_terminate(ec2, image, launcher):
    """SkipOsShutdown (a newer parameter of StopInstances and TerminateInstances): the domain is
    powered off without asking the guest (test_real_guest.py shows the difference a guest sees);
    the answers and states are those of any stop and termination."""
    iid = run_one(launcher, ec2, image)["InstanceId"]
    wait_for(ec2, [iid], "running")
    assert ec2.stop_instances(InstanceIds=[iid], SkipOsShutdown=True)["StoppingInstances"] == [
        change(iid, "running", "stopping")]
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    ec2.start_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    assert ec2.terminate_instances(InstanceIds=[iid], SkipOsShutdown=True)["TerminatingInstances"] == [
        change(iid, "running", "shutting-down")]
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    assert one(ec2, iid)["StateReason"]["Code"] == "Client.UserInitiatedShutdown"


def test_incorrect_instance_state(ec2, image, launcher):
    iid = run_one(launcher, ec2, image)["InstanceId"]
    wait_for(ec2, [iid], "running")
    not_stopped = f"The instance '{iid}' is not in the 'stopped' state."
    with api_error("IncorrectInstanceState", not_stopped):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.micro"})
    with api_error("IncorrectInstanceState", not_stopped):
        ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": b"#!/bin/sh\n"})
    with api_error("IncorrectInstanceState", not_stopped):
        ec2.modify_instance_attribute(InstanceId=iid, EbsOptimized={"Value": True})
    assert one(ec2, iid)["InstanceType"] == "t2.micro"
    assert one(ec2, iid)["EbsOptimized"] is False

    ec2.stop_instances(InstanceIds=[iid])
    wait_for(ec2, [iid], "stopped")
    with api_error("IncorrectInstanceState", f"The instance '{iid}' is not in a state from which it can be rebooted."):
        ec2.reboot_instances(InstanceIds=[iid])

    ec2.terminate_instances(InstanceIds=[iid])
    wait_for(ec2, [iid], "terminated")
    with api_error("IncorrectInstanceState", f"The instance '{iid}' is not in a state from which it can be stopped."):
        ec2.stop_instances(InstanceIds=[iid])
    with api_error("IncorrectInstanceState", f"The instance '{iid}' is not in a state from which it can be started."):
        ec2.start_instances(InstanceIds=[iid])
    with api_error("IncorrectInstanceState", f"The instance '{iid}' is not in a state from which it can be rebooted."):
        ec2.reboot_instances(InstanceIds=[iid])
    with api_error("IncorrectInstanceState",
                   f"The instance '{iid}' is not in a state from which it can be modified."):
        ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    assert one(ec2, iid)["State"] == state("terminated")


def test_hibernate_needs_hibernation_configured_at_launch(ec2, web):
    with api_error("UnsupportedHibernationConfiguration",
                   "The instance can't be hibernated because it was not configured at launch for hibernation: "
                   + web["id"]):
        ec2.stop_instances(InstanceIds=[web["id"]], Hibernate=True)
    assert one(ec2, web["id"])["State"] == state("running")


def test_hibernate_and_resume(ec2, image, launcher):
    """HibernationOptions.Configured at launch; StopInstances Hibernate saves the guest's memory
    (libvirt managed save) with AWS's hibernate reason; StartInstances resumes it."""
    instance = run_one(launcher, ec2, image, HibernationOptions={"Configured": True})
    iid = instance["InstanceId"]
    assert instance["HibernationOptions"] == {"Configured": True}
    wait_for(ec2, [iid], "running")
    assert ec2.stop_instances(InstanceIds=[iid], Hibernate=True)["StoppingInstances"] == [
        change(iid, "running", "stopping")]
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    stopped = one(ec2, iid)
    assert stopped["StateReason"] == {
        "Code": "Client.UserInitiatedHibernate", "Message": "Client.UserInitiatedHibernate: User initiated hibernate"}
    assert USER_INITIATED.match(stopped["StateTransitionReason"])
    assert stopped["HibernationOptions"] == {"Configured": True}
    ec2.start_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    # The next stop, without Hibernate, is an ordinary one.
    ec2.stop_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    assert one(ec2, iid)["StateReason"]["Code"] == "Client.UserInitiatedShutdown"


def test_termination_and_stop_protection(ec2, image, launcher):
    iid = run_one(launcher, ec2, image, DisableApiTermination=True, DisableApiStop=True)["InstanceId"]
    other = run_one(launcher, ec2, image)["InstanceId"]
    wait_for(ec2, [iid, other], "running")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": True}
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiStop")["DisableApiStop"] == {
        "Value": True}

    may_not_terminate = (f"The instance '{iid}' may not be terminated. "
                         "Modify its 'disableApiTermination' instance attribute and try again.")
    may_not_stop = (f"The instance '{iid}' may not be stopped. "
                    "Modify its 'disableApiStop' instance attribute and try again.")
    with api_error("OperationNotPermitted", may_not_terminate):
        ec2.terminate_instances(InstanceIds=[iid])
    # All or nothing: the unprotected instance in the same call is not terminated either.
    with api_error("OperationNotPermitted", may_not_terminate):
        ec2.terminate_instances(InstanceIds=[other, iid])
    with api_error("OperationNotPermitted", may_not_stop):
        ec2.stop_instances(InstanceIds=[iid])
    assert {k: v["State"]["Name"] for k, v in by_id(ec2, [iid, other]).items()} == {iid: "running", other: "running"}

    # Stop protection off: it stops; termination protection still holds while stopped.
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiStop={"Value": False})
    assert ec2.stop_instances(InstanceIds=[iid])["StoppingInstances"] == [change(iid, "running", "stopping")]
    wait_for(ec2, [iid], "stopped")
    with api_error("OperationNotPermitted", may_not_terminate):
        ec2.terminate_instances(InstanceIds=[iid])

    # The older Attribute/Value form sets it too.
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="disableApiTermination", Value="false")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": False}
    ec2.modify_instance_attribute(InstanceId=iid, Attribute="disableApiTermination", Value="true")
    with api_error("OperationNotPermitted", may_not_terminate):
        ec2.terminate_instances(InstanceIds=[iid])

    # What Terraform's destroy sends: DisableApiTermination.Value=false, then terminate.
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    assert ec2.terminate_instances(InstanceIds=[iid, other])["TerminatingInstances"] == [
        change(iid, "stopped", "shutting-down"), change(other, "running", "shutting-down")]
    wait_for(ec2, [iid, other], "terminated")


def test_modify_instance_type_and_user_data_while_stopped(ec2, image, launcher):
    iid = run_one(launcher, ec2, image, InstanceType="t3.micro", UserData=USER_DATA)["InstanceId"]
    wait_for(ec2, [iid], "running")
    with api_error("InvalidParameterCombination", "No attributes specified."):
        ec2.modify_instance_attribute(InstanceId=iid)
    # Shutdown behaviour may change while running.
    ec2.modify_instance_attribute(InstanceId=iid, InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"] == {"Value": "terminate"}
    with api_error("InvalidParameterValue",
                   "Value (reboot) for parameter instanceInitiatedShutdownBehavior is invalid. "
                   "Valid values are stop, terminate."):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceInitiatedShutdownBehavior={"Value": "reboot"})

    ec2.stop_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_stopped").wait(InstanceIds=[iid], WaiterConfig=FAST)
    with api_error("InvalidParameterValue", "Invalid value 't9.huge' for InstanceType."):
        ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t9.huge"})
    ec2.modify_instance_attribute(InstanceId=iid, InstanceType={"Value": "t3.small"})
    new_data = b"#!/bin/sh\necho second version\n"
    ec2.modify_instance_attribute(InstanceId=iid, UserData={"Value": new_data})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"] == {
        "Value": "t3.small"}
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="userData")["UserData"] == {
        "Value": base64.b64encode(new_data).decode()}
    ec2.modify_instance_attribute(InstanceId=iid, EbsOptimized={"Value": True})
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="ebsOptimized")["EbsOptimized"] == {
        "Value": True}
    stopped = one(ec2, iid)
    assert (stopped["InstanceType"], stopped["CpuOptions"]) == ("t3.small", {"CoreCount": 1, "ThreadsPerCore": 2})

    assert ec2.start_instances(InstanceIds=[iid])["StartingInstances"] == [change(iid, "stopped", "pending")]
    ec2.get_waiter("instance_running").wait(InstanceIds=[iid], WaiterConfig=FAST)
    assert one(ec2, iid)["InstanceType"] == "t3.small"
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="instanceType")["InstanceType"] == {
        "Value": "t3.small"}


def test_modify_instance_attribute_takes_one_attribute_per_call(ec2, image, launcher):
    """AWS: "InvalidParameterCombination: Fields for multiple attribute types specified" (the
    Terraform provider modifies one attribute per call because of it)."""
    iid = run_one(launcher, ec2, image)["InstanceId"]
    with api_error("InvalidParameterCombination"):
        ec2.modify_instance_attribute(
            InstanceId=iid, DisableApiStop={"Value": True}, DisableApiTermination={"Value": True})
    for name, key in (("disableApiStop", "DisableApiStop"), ("disableApiTermination", "DisableApiTermination")):
        assert ec2.describe_instance_attribute(InstanceId=iid, Attribute=name)[key] == {"Value": False}


# =========================================================================== counts and client tokens


def test_min_and_max_count_make_one_reservation(ec2, image, launcher):
    resp = launcher.run(ec2, ImageId=image, InstanceType="t2.micro", MinCount=2, MaxCount=3)
    assert len(resp["Instances"]) == 3
    assert [i["AmiLaunchIndex"] for i in resp["Instances"]] == [0, 1, 2]
    ids = [i["InstanceId"] for i in resp["Instances"]]
    assert len(set(ids)) == 3
    assert len({i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] for i in resp["Instances"]}) == 3
    [reservation] = ec2.describe_instances(
        Filters=[{"Name": "reservation-id", "Values": [resp["ReservationId"]]}])["Reservations"]
    assert reservation["ReservationId"] == resp["ReservationId"]
    assert sorted(i["InstanceId"] for i in reservation["Instances"]) == sorted(ids)
    assert {i["InstanceId"]: i["AmiLaunchIndex"] for i in reservation["Instances"]} == dict(zip(ids, [0, 1, 2]))
    wait_for(ec2, ids, "running")


def test_client_token_makes_run_instances_idempotent(gateway, client_for, public_image, launcher):
    account = gateway.create_account()
    ec2 = client_for(account)
    token = uid("token")
    params = dict(ImageId=public_image, InstanceType="t2.micro", MinCount=1, MaxCount=2, ClientToken=token,
                  TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "idem"}]}])
    first = launcher.run(ec2, **params)
    ids = [i["InstanceId"] for i in first["Instances"]]
    assert len(ids) == 2
    assert {i["ClientToken"] for i in first["Instances"]} == {token}
    wait_for(ec2, ids, "running")
    again = ec2.run_instances(**params)
    assert again["ReservationId"] == first["ReservationId"]
    assert [i["InstanceId"] for i in again["Instances"]] == ids
    # The retry answers the instances as they are now.
    assert [i["State"] for i in again["Instances"]] == [state("running")] * 2
    assert ids_where(ec2) == set(ids)

    mismatch = "Arguments on this idempotent request are inconsistent with arguments used in previous request(s)."
    with api_error("IdempotentParameterMismatch", mismatch):
        ec2.run_instances(**{**params, "InstanceType": "t3.micro"})
    with api_error("IdempotentParameterMismatch", mismatch):
        ec2.run_instances(**{**params, "MaxCount": 1})
    assert ids_where(ec2) == set(ids)

    # The token is the account's: another account's same token launches its own.
    other = client_for(gateway.create_account())
    theirs = launcher.run(other, **params)
    assert theirs["ReservationId"] != first["ReservationId"]
    assert not set(ids) & {i["InstanceId"] for i in theirs["Instances"]}


# =========================================================================== DescribeInstances filters, grouping, paging


def filter_cases() -> list[tuple]:
    """(id, the fleet -> filters as (name, values) pairs, the fleet -> the ids expected)."""
    f = lambda fl, *groups: set().union(*(fl["ids"][g] for g in groups))  # noqa: E731
    return [
        ("instance-id", lambda fl: [("instance-id", [fl["ids"]["web"][0]])], lambda fl: {fl["ids"]["web"][0]}),
        ("instance-id-wildcard", lambda fl: [("instance-id", ["i-*"])], lambda fl: fl["all"]),
        ("instance-id-two", lambda fl: [("instance-id", [fl["ids"]["db"][0], fl["ids"]["batch"][1]])],
         lambda fl: {fl["ids"]["db"][0], fl["ids"]["batch"][1]}),
        ("state-name-running", lambda fl: [("instance-state-name", ["running"])], lambda fl: f(fl, "web", "db")),
        ("state-name-stopped", lambda fl: [("instance-state-name", ["stopped"])], lambda fl: f(fl, "batch")),
        ("state-name-wildcard", lambda fl: [("instance-state-name", ["stop*"])], lambda fl: f(fl, "batch")),
        ("state-name-terminated", lambda fl: [("instance-state-name", ["terminated"])], lambda fl: set()),
        ("state-code-16", lambda fl: [("instance-state-code", ["16"])], lambda fl: f(fl, "web", "db")),
        ("state-code-80", lambda fl: [("instance-state-code", ["80"])], lambda fl: f(fl, "batch")),
        ("state-code-both", lambda fl: [("instance-state-code", ["16", "80"])], lambda fl: fl["all"]),
        ("image-id", lambda fl: [("image-id", [fl["image"]])], lambda fl: fl["all"]),
        ("image-id-missing", lambda fl: [("image-id", [MISSING_IMAGE])], lambda fl: set()),
        ("instance-type", lambda fl: [("instance-type", ["t2.micro"])], lambda fl: f(fl, "web", "batch")),
        ("instance-type-wildcard", lambda fl: [("instance-type", ["t3.*"])], lambda fl: f(fl, "db")),
        ("key-name", lambda fl: [("key-name", [fl["key"]])], lambda fl: f(fl, "web")),
        ("key-name-wildcard", lambda fl: [("key-name", [fl["key"][:-3] + "*"])], lambda fl: f(fl, "web")),
        ("availability-zone", lambda fl: [("availability-zone", ["us-east-1b"])], lambda fl: f(fl, "db")),
        ("availability-zone-a", lambda fl: [("availability-zone", ["us-east-1a"])], lambda fl: f(fl, "web", "batch")),
        ("availability-zone-wildcard", lambda fl: [("availability-zone", ["us-east-1?"])], lambda fl: fl["all"]),
        ("launch-time", lambda fl: [("launch-time", [wire_time(fl["db_launch_time"])])], lambda fl: f(fl, "db")),
        ("launch-time-wildcard", lambda fl: [("launch-time", [wire_time(fl["db_launch_time"])[:10] + "T*"])],
         lambda fl: fl["all"]),
        ("reservation-id", lambda fl: [("reservation-id", [fl["reservations"]["web"]])], lambda fl: f(fl, "web")),
        ("reservation-id-wildcard", lambda fl: [("reservation-id", ["r-*"])], lambda fl: fl["all"]),
        ("subnet-id", lambda fl: [("subnet-id", [fl["db_network"]["SubnetId"]])], lambda fl: f(fl, "db")),
        ("subnet-id-wildcard", lambda fl: [("subnet-id", ["subnet-*"])], lambda fl: fl["all"]),
        ("subnet-id-missing", lambda fl: [("subnet-id", [MISSING_SUBNET])], lambda fl: set()),
        ("vpc-id", lambda fl: [("vpc-id", [fl["db_network"]["VpcId"]])], lambda fl: fl["all"]),
        ("vpc-id-other", lambda fl: [("vpc-id", ["vpc-0123456789abcdef0"])], lambda fl: set()),
        ("group-id", lambda fl: [("instance.group-id", [fl["db_network"]["GroupId"]])], lambda fl: fl["all"]),
        ("group-id-other", lambda fl: [("group-id", ["sg-0123456789abcdef0"])], lambda fl: set()),
        ("group-name", lambda fl: [("instance.group-name", ["def*"])], lambda fl: fl["all"]),
        ("group-name-other", lambda fl: [("group-name", ["web"])], lambda fl: set()),
        ("owner-id", lambda fl: [("owner-id", [fl["account"].account_id])], lambda fl: fl["all"]),
        ("owner-id-other", lambda fl: [("owner-id", ["123456789012"])], lambda fl: set()),
        ("tag-role", lambda fl: [("tag:Role", ["web"])], lambda fl: f(fl, "web")),
        ("tag-role-two-values", lambda fl: [("tag:Role", ["web", "db"])], lambda fl: f(fl, "web", "db")),
        ("tag-name-wildcard", lambda fl: [("tag:Name", ["web-*"])], lambda fl: f(fl, "web")),
        ("tag-any-value", lambda fl: [("tag:Env", ["*"])], lambda fl: f(fl, "db")),
        ("tag-key", lambda fl: [("tag-key", ["Env"])], lambda fl: f(fl, "db")),
        ("tag-key-wildcard", lambda fl: [("tag-key", ["N?me"])], lambda fl: f(fl, "web", "db")),
        ("tag-value", lambda fl: [("tag-value", ["prod"])], lambda fl: f(fl, "db")),
        ("tag-value-wildcard", lambda fl: [("tag-value", ["b*"])], lambda fl: f(fl, "batch")),
        ("and-of-two-filters", lambda fl: [("instance-type", ["t2.micro"]), ("instance-state-name", ["running"])],
         lambda fl: f(fl, "web")),
        ("and-with-tag", lambda fl: [("tag:Role", ["web", "batch"]), ("instance-state-code", ["80"])],
         lambda fl: f(fl, "batch")),
    ]


FILTER_CASES = filter_cases()


@pytest.mark.parametrize("case", FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_describe_instances_filter(fleet, case):
    _, filters, expected = case
    assert ids_where(fleet["ec2"], *filters(fleet)) == expected(fleet)


def test_describe_instances_filter_with_instance_ids(fleet):
    ec2, ids = fleet["ec2"], fleet["ids"]
    resp = ec2.describe_instances(InstanceIds=[ids["web"][0], ids["db"][0]],
                                  Filters=[{"Name": "tag:Role", "Values": ["web"]}])
    assert {i["InstanceId"] for i in instances_of(resp)} == {ids["web"][0]}
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_instances(Filters=[{"Name": "bogus", "Values": ["x"]}])


def test_describe_instances_groups_instances_by_reservation(fleet):
    resp = fleet["ec2"].describe_instances()
    groups = {r["ReservationId"]: sorted(i["InstanceId"] for i in r["Instances"]) for r in resp["Reservations"]}
    assert len(resp["Reservations"]) == 3
    assert groups == {fleet["reservations"][k]: sorted(v) for k, v in fleet["ids"].items()}
    assert {r["OwnerId"] for r in resp["Reservations"]} == {fleet["account"].account_id}
    assert all(r["Groups"] == [] for r in resp["Reservations"])
    assert "NextToken" not in resp


def test_describe_instances_paginator(fleet, client_for):
    ec2 = fleet["ec2"]
    recorder = Recorder(ec2, "DescribeInstances")
    pages = list(ec2.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(instances_of(p)) for p in pages] == [5, 2]
    assert pages[0].get("NextToken") and not pages[-1].get("NextToken")
    assert [c.get("NextToken") for c in recorder.calls] == [None, pages[0]["NextToken"]]
    assert {c.get("MaxResults") for c in recorder.calls} == {5}
    seen = {}
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                assert instance["InstanceId"] not in seen
                seen[instance["InstanceId"]] = reservation["ReservationId"]
    expected = {i: fleet["reservations"][group] for group, ids in fleet["ids"].items() for i in ids}
    assert seen == expected
    # Paged with a filter: the six t2.micro.
    pages = list(ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-type", "Values": ["t2.micro"]}], PaginationConfig={"PageSize": 5}))
    assert [len(instances_of(p)) for p in pages] == [5, 1]
    assert {i["InstanceId"] for p in pages for i in instances_of(p)} == set(fleet["ids"]["web"] + fleet["ids"]["batch"])

    raw = loose(client_for, fleet["account"])
    with api_error("InvalidParameterCombination",
                   "The parameter instancesSet cannot be used with the parameter maxResults"):
        raw.describe_instances(InstanceIds=[fleet["ids"]["db"][0]], MaxResults=5)
    with api_error("InvalidParameterValue",
                   "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."):
        raw.describe_instances(MaxResults=4)
    with api_error("InvalidParameterValue",
                   "Value ( 1001 ) for parameter maxResults is invalid. Expecting a value less than 1000."):
        raw.describe_instances(MaxResults=1001)
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        ec2.describe_instances(MaxResults=5, NextToken="bogus")


def test_describe_instance_status_listing(fleet):
    ec2, ids = fleet["ec2"], fleet["ids"]
    statuses = ec2.describe_instance_status()["InstanceStatuses"]
    assert {s["InstanceId"] for s in statuses} == set(ids["web"] + ids["db"])
    assert {s["InstanceStatus"]["Status"] for s in statuses} == {"ok"}
    zones = {s["InstanceId"]: s["AvailabilityZone"] for s in statuses}
    assert zones[ids["db"][0]] == "us-east-1b"
    every = ec2.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"]
    assert {s["InstanceId"]: s["InstanceState"]["Name"] for s in every} == {
        **{i: "running" for i in ids["web"] + ids["db"]}, **{i: "stopped" for i in ids["batch"]}}
    assert {s["InstanceStatus"]["Status"] for s in every if s["InstanceId"] in ids["batch"]} == {"not-applicable"}


def test_describe_instance_status_filters(fleet, client_for):
    """DescribeInstanceStatus's own filters: the state, the zone, and the statuses it shows (a
    running instance ok and reachable, any other not-applicable with no details); no instance has
    scheduled events. Filters AND with IncludeAllInstances, which alone lets non-running ones in."""
    ec2, ids = fleet["ec2"], fleet["ids"]
    running, stopped = sorted(ids["web"] + ids["db"]), sorted(ids["batch"])

    def listed(*filters, **kwargs):
        resp = ec2.describe_instance_status(Filters=[{"Name": n, "Values": v} for n, v in filters], **kwargs)
        return sorted(s["InstanceId"] for s in resp["InstanceStatuses"])

    assert listed(("instance-status.status", ["ok"])) == running
    assert listed(("system-status.status", ["not-applicable"])) == []
    assert listed(("system-status.status", ["not-applicable"]), IncludeAllInstances=True) == stopped
    assert listed(("instance-status.status", ["ok", "not-*"]), IncludeAllInstances=True) == sorted(fleet["all"])
    assert listed(("instance-status.status", ["impaired", "initializing"]), IncludeAllInstances=True) == []
    assert listed(("instance-status.reachability", ["pass?d"]), IncludeAllInstances=True) == running
    assert listed(("system-status.reachability", ["failed"]), IncludeAllInstances=True) == []
    assert listed(("instance-state-name", ["stopped"]), IncludeAllInstances=True) == stopped
    assert listed(("instance-state-code", ["16"]), IncludeAllInstances=True) == running
    assert listed(("availability-zone", ["us-east-1b"])) == ids["db"]
    assert listed(("availability-zone", ["us-east-1a"]), ("system-status.status", ["ok"])) == ids["web"]
    assert listed(("availability-zone-id", ["use1-az2"]), IncludeAllInstances=True) == ids["db"]
    assert listed(("operator.managed", ["false"]), IncludeAllInstances=True) == sorted(fleet["all"])
    assert listed(("event.code", ["*"]), IncludeAllInstances=True) == []
    assert listed(("attached-ebs-status.status", ["*"]), IncludeAllInstances=True) == []
    assert listed(("instance-status.status", ["ok"]), InstanceIds=[ids["db"][0], ids["batch"][0]]) == ids["db"]
    # The paginator pages what the filters leave: no short page before the last.
    pages = list(ec2.get_paginator("describe_instance_status").paginate(
        IncludeAllInstances=True, Filters=[{"Name": "instance-status.status", "Values": ["not-applicable"]}],
        PaginationConfig={"PageSize": 5}))
    assert [sorted(s["InstanceId"] for s in p["InstanceStatuses"]) for p in pages] == [stopped]
    for name in ("instance-id", "tag:Role", "bogus"):
        with api_error("InvalidParameterValue", f"The filter '{name}' is invalid"):
            ec2.describe_instance_status(Filters=[{"Name": name, "Values": ["x"]}])
    raw = loose(client_for, fleet["account"])
    with api_error("InvalidParameterCombination",
                   "The parameter instancesSet cannot be used with the parameter maxResults"):
        raw.describe_instance_status(InstanceIds=[ids["db"][0]], MaxResults=5)


def test_describe_volumes_paginator_crosses_pages(fleet):
    """The fleet's seven root volumes, five to a page, and a filtered listing that fits on one."""
    ec2, ids = fleet["ec2"], fleet["ids"]
    roots = {i["InstanceId"]: i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
             for r in ec2.describe_instances(InstanceIds=sorted(fleet["all"]))["Reservations"] for i in r["Instances"]}
    pages = list(ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Volumes"]) for p in pages] == [5, 2]
    assert not pages[-1].get("NextToken")
    assert sorted(v["VolumeId"] for p in pages for v in p["Volumes"]) == sorted(roots.values())
    batch = list(ec2.get_paginator("describe_volumes").paginate(
        Filters=[{"Name": "attachment.instance-id", "Values": ids["batch"]}], PaginationConfig={"PageSize": 5}))
    assert [sorted(v["VolumeId"] for v in p["Volumes"]) for p in batch] == [sorted(roots[i] for i in ids["batch"])]
    capped = ec2.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 5, "MaxItems": 6})
    assert len(capped.build_full_result()["Volumes"]) == 6


def test_status_and_credit_listings_page_what_they_answer(fleet):
    """DescribeInstanceStatus (running only, unless IncludeAllInstances) and
    DescribeInstanceCreditSpecifications without ids (the unlimited burstable ones) narrow before
    they page: no short or empty page with a NextToken."""
    ec2, ids = fleet["ec2"], fleet["ids"]

    def pages(operation, key, **kwargs):
        found = list(ec2.get_paginator(operation).paginate(PaginationConfig={"PageSize": 5}, **kwargs))
        assert not found[-1].get("NextToken"), found[-1]
        return [sorted(item["InstanceId"] for item in page[key]) for page in found]

    # Four of the seven run: one page of four, where paging the seven first gave 5 + 2 rows.
    assert pages("describe_instance_status", "InstanceStatuses") == [sorted(ids["web"] + ids["db"])]
    every = pages("describe_instance_status", "InstanceStatuses", IncludeAllInstances=True)
    assert [len(p) for p in every] == [5, 2]
    assert sorted(sum(every, [])) == sorted(fleet["all"])
    # Only db is t3 (unlimited); the six t2.micro are standard.
    assert pages("describe_instance_credit_specifications", "InstanceCreditSpecifications") == [ids["db"]]


# =========================================================================== errors and DryRun


def test_unknown_and_malformed_instance_ids(ec2, web):
    calls = {
        "DescribeInstances": lambda ids: ec2.describe_instances(InstanceIds=ids),
        "StartInstances": lambda ids: ec2.start_instances(InstanceIds=ids),
        "StopInstances": lambda ids: ec2.stop_instances(InstanceIds=ids),
        "RebootInstances": lambda ids: ec2.reboot_instances(InstanceIds=ids),
        "TerminateInstances": lambda ids: ec2.terminate_instances(InstanceIds=ids),
        "DescribeInstanceStatus": lambda ids: ec2.describe_instance_status(InstanceIds=ids),
        "DescribeInstanceCreditSpecifications": lambda ids: ec2.describe_instance_credit_specifications(InstanceIds=ids),
        "GetConsoleOutput": lambda ids: ec2.get_console_output(InstanceId=ids[0]),
        "DescribeInstanceAttribute": lambda ids: ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData"),
        "ModifyInstanceAttribute": lambda ids: ec2.modify_instance_attribute(
            InstanceId=ids[0], DisableApiTermination={"Value": False}),
    }
    for name, call in calls.items():
        with api_error("InvalidInstanceID.NotFound", not_found(MISSING_INSTANCE)):
            call([MISSING_INSTANCE])
        with api_error("InvalidInstanceID.Malformed", malformed("i-123")):
            call(["i-123"])
        with api_error("InvalidInstanceID.Malformed", malformed("bogus")):
            call(["bogus"])
    # With an existing instance among them, only the missing ones are named, and nothing happens
    # to the existing one.
    other_missing = "i-0123456789abcdef1"
    for name in ("DescribeInstances", "StopInstances", "TerminateInstances", "RebootInstances"):
        with api_error("InvalidInstanceID.NotFound", not_found([MISSING_INSTANCE, other_missing])):
            calls[name]([web["id"], MISSING_INSTANCE, other_missing])
    assert one(ec2, web["id"])["State"] == state("running")


def test_run_instances_errors(gateway, client_for, image, public_image, key_name):
    account = gateway.create_account()
    ec2 = client_for(account)
    base = dict(ImageId=public_image, InstanceType="t2.micro", MinCount=1, MaxCount=1)
    with api_error("InvalidAMIID.NotFound", f"The image id '[{MISSING_IMAGE}]' does not exist"):
        ec2.run_instances(**{**base, "ImageId": MISSING_IMAGE})
    with api_error("InvalidAMIID.Malformed", 'Invalid id: "ami-xyz" (expecting "ami-...")'):
        ec2.run_instances(**{**base, "ImageId": "ami-xyz"})
    # Another account's private image is not there for this one.
    with api_error("InvalidAMIID.NotFound", f"The image id '[{image}]' does not exist"):
        ec2.run_instances(**{**base, "ImageId": image})
    # Key pairs are the account's own: the main account's key is not this one's.
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{key_name}' does not exist"):
        ec2.run_instances(**{**base, "KeyName": key_name})
    with api_error("InvalidKeyPair.NotFound", "The key pair 'no-such-key' does not exist"):
        ec2.run_instances(**{**base, "KeyName": "no-such-key"})
    with api_error("InvalidParameterValue", "Invalid value 't9.huge' for InstanceType."):
        ec2.run_instances(**{**base, "InstanceType": "t9.huge"})
    with api_error("InvalidParameterValue", "Invalid availability zone: [us-east-1z]"):
        ec2.run_instances(**{**base, "Placement": {"AvailabilityZone": "us-east-1z"}})
    with api_error("InvalidParameterValue",
                   "Value (reboot) for parameter instanceInitiatedShutdownBehavior is invalid. "
                   "Valid values are stop, terminate."):
        ec2.run_instances(**{**base, "InstanceInitiatedShutdownBehavior": "reboot"})
    with api_error("InvalidParameterValue", "'image' is not a valid taggable resource type for this operation."):
        ec2.run_instances(**{**base, "TagSpecifications": [{"ResourceType": "image", "Tags": [{"Key": "a", "Value": "b"}]}]})
    with api_error("InvalidParameterValue", "User data is limited to 16384 bytes"):
        ec2.run_instances(**{**base, "UserData": "x" * 16385})
    raw = loose(client_for, account)
    with api_error("InvalidParameterValue"):
        raw.run_instances(**{**base, "MinCount": 3, "MaxCount": 2})
    with api_error("InvalidParameterValue"):
        raw.run_instances(**{**base, "MinCount": 0, "MaxCount": 1})
    with api_error("MissingParameter", "The request must contain the parameter ImageId"):
        raw.run_instances(MinCount=1, MaxCount=1)
    # None of these launched anything.
    assert ec2.describe_instances()["Reservations"] == []


def test_user_data_limit_is_16_kib_before_base64(ec2, image, launcher):
    """AWS: "User data is limited to 16 KB, in raw form, before it is base64-encoded"."""
    data = "#" * 16384
    instance = run_one(launcher, ec2, image, UserData=data)
    assert ec2.describe_instance_attribute(InstanceId=instance["InstanceId"], Attribute="userData")[
        "UserData"] == {"Value": base64.b64encode(data.encode()).decode()}


def test_dry_run_on_every_action(gateway, client_for, public_image, launcher):
    account = gateway.create_account()
    ec2 = client_for(account)
    iid = run_one(launcher, ec2, public_image)["InstanceId"]
    wait_for(ec2, [iid], "running")
    volume = one(ec2, iid)["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]

    dry_run(ec2.run_instances, ImageId=public_image, InstanceType="t2.micro", MinCount=1, MaxCount=1)
    dry_run(ec2.describe_instances, InstanceIds=[iid])
    dry_run(ec2.describe_instances)
    dry_run(ec2.stop_instances, InstanceIds=[iid])
    dry_run(ec2.reboot_instances, InstanceIds=[iid])
    dry_run(ec2.terminate_instances, InstanceIds=[iid])
    dry_run(ec2.get_console_output, InstanceId=iid)
    dry_run(ec2.describe_instance_attribute, InstanceId=iid, Attribute="disableApiStop")
    dry_run(ec2.modify_instance_attribute, InstanceId=iid, DisableApiTermination={"Value": True})
    dry_run(ec2.describe_instance_status, InstanceIds=[iid])
    dry_run(ec2.describe_instance_credit_specifications, InstanceIds=[iid])
    dry_run(ec2.describe_volumes, VolumeIds=[volume])
    # Nothing changed: one instance, running, unprotected.
    assert [i["InstanceId"] for i in instances_of(ec2.describe_instances())] == [iid]
    assert one(ec2, iid)["State"] == state("running")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": False}
    ec2.stop_instances(InstanceIds=[iid])
    wait_for(ec2, [iid], "stopped")
    dry_run(ec2.start_instances, InstanceIds=[iid])
    assert one(ec2, iid)["State"] == state("stopped")


# =========================================================================== credit specifications


def test_describe_instance_credit_specifications(gateway, client_for, public_image, launcher):
    account = gateway.create_account()
    ec2 = client_for(account)
    t3 = run_one(launcher, ec2, public_image, InstanceType="t3.micro")["InstanceId"]
    t2 = run_one(launcher, ec2, public_image, InstanceType="t2.micro")["InstanceId"]
    t3_standard = run_one(launcher, ec2, public_image, InstanceType="t3.nano",
                          CreditSpecification={"CpuCredits": "standard"})["InstanceId"]
    t2_unlimited = run_one(launcher, ec2, public_image, InstanceType="t2.micro",
                           CreditSpecification={"CpuCredits": "unlimited"})["InstanceId"]

    def credits(*ids):
        resp = ec2.describe_instance_credit_specifications(InstanceIds=list(ids))
        return {c["InstanceId"]: c["CpuCredits"] for c in resp["InstanceCreditSpecifications"]}

    assert credits(t3) == {t3: "unlimited"}
    assert credits(t2) == {t2: "standard"}
    assert credits(t3_standard) == {t3_standard: "standard"}
    assert credits(t2_unlimited) == {t2_unlimited: "unlimited"}
    assert credits(t3, t2, t3_standard, t2_unlimited) == {
        t3: "unlimited", t2: "standard", t3_standard: "standard", t2_unlimited: "unlimited"}


def test_credit_specifications_without_ids_list_the_unlimited_ones(gateway, client_for, public_image, launcher):
    """AWS: "If you do not specify an instance ID, Amazon EC2 returns burstable performance
    instances with the unlimited credit option" (API reference, DescribeInstanceCreditSpecifications)."""
    ec2 = client_for(gateway.create_account())
    t3 = run_one(launcher, ec2, public_image, InstanceType="t3.micro")["InstanceId"]
    run_one(launcher, ec2, public_image, InstanceType="t2.micro")
    resp = ec2.describe_instance_credit_specifications()
    assert resp["InstanceCreditSpecifications"] == [{"InstanceId": t3, "CpuCredits": "unlimited"}]


# =========================================================================== root volumes


def test_root_volume_size_and_delete_on_termination_filter(ec2, image, launcher):
    instance = run_one(launcher, ec2, image, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 3, "DeleteOnTermination": True, "VolumeType": "gp3"}}])
    iid = instance["InstanceId"]
    [bdm] = instance["BlockDeviceMappings"]
    assert bdm["DeviceName"] == "/dev/xvda" and bdm["Ebs"]["DeleteOnTermination"] is True
    volume = bdm["Ebs"]["VolumeId"]
    [described] = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    assert described["Size"] == 3
    assert described["Attachments"][0]["DeleteOnTermination"] is True
    assert ec2.describe_volumes(Filters=[{"Name": "size", "Values": ["3"]},
                                         {"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"] == [described]

    def found(value):
        return [v["VolumeId"] for v in ec2.describe_volumes(Filters=[
            {"Name": "attachment.delete-on-termination", "Values": [value]},
            {"Name": "attachment.instance-id", "Values": [iid]}])["Volumes"]]

    assert found("true") == [volume]
    assert found("false") == []


def test_root_volume_kept_after_termination(ec2, image, launcher, gateway, client_for, second_account):
    """DeleteOnTermination=false: once the instance is terminated its root volume is `available`
    (no attachment, its tags kept, its disk moved to DATA_DIR/volumes/); DeleteVolume removes it.
    An attached volume cannot be deleted."""
    instance = run_one(launcher, ec2, image, BlockDeviceMappings=[
        {"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": False}}],
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Keep", "Value": "yes"}]}])
    iid = instance["InstanceId"]
    [bdm] = instance["BlockDeviceMappings"]
    assert bdm["Ebs"]["DeleteOnTermination"] is False
    volume_id = bdm["Ebs"]["VolumeId"]
    wait_for(ec2, [iid], "running")
    [attached] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert attached["State"] == "in-use" and attached["Attachments"][0]["DeleteOnTermination"] is False
    with api_error("VolumeInUse", f"Volume {volume_id} is currently attached to {iid}"):
        ec2.delete_volume(VolumeId=volume_id)
    dry_run_error = None
    try:
        ec2.delete_volume(VolumeId=volume_id, DryRun=True)
    except ClientError as e:
        dry_run_error = e.response["Error"]["Code"]
    assert dry_run_error == "VolumeInUse"

    ec2.terminate_instances(InstanceIds=[iid])
    ec2.get_waiter("instance_terminated").wait(InstanceIds=[iid], WaiterConfig=FAST)
    [kept] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert kept["State"] == "available" and kept["Attachments"] == []
    assert kept["Tags"] == [{"Key": "Keep", "Value": "yes"}]
    assert (kept["Size"], kept["CreateTime"]) == (attached["Size"], attached["CreateTime"])
    disk = gateway.data_dir / "volumes" / f"{volume_id}.qcow2"
    assert disk.is_file(), "the kept volume's disk is not where it should be"
    assert not (gateway.data_dir / "instances" / iid).exists()
    assert [v["VolumeId"] for v in ec2.describe_volumes(
        Filters=[{"Name": "status", "Values": ["available"]}, {"Name": "tag:Keep", "Values": ["yes"]}])["Volumes"]] == [
        volume_id]
    assert ec2.describe_volumes(Filters=[{"Name": "attachment.status", "Values": ["attached"]},
                                         {"Name": "volume-id", "Values": [volume_id]}])["Volumes"] == []
    # Another account cannot see or delete it.
    with api_error("InvalidVolume.NotFound"):
        client_for(second_account).delete_volume(VolumeId=volume_id)

    dry_run(ec2.delete_volume, VolumeId=volume_id)
    assert ec2.delete_volume(VolumeId=volume_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    ec2.get_waiter("volume_deleted").wait(VolumeIds=[volume_id], WaiterConfig=FAST)
    with api_error("InvalidVolume.NotFound", f"The volume '{volume_id}' does not exist."):
        ec2.describe_volumes(VolumeIds=[volume_id])
    with api_error("InvalidVolume.NotFound"):
        ec2.delete_volume(VolumeId=volume_id)
    assert not disk.exists()


def test_create_and_delete_tags_on_an_instance_and_its_volume(ec2, image, launcher):
    """CreateTags / DeleteTags on i- and vol- ids: how Terraform (tags, volume_tags), Ansible and
    the console tag instances after launch."""
    instance = run_one(launcher, ec2, image, TagSpecifications=[
        {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "before"}]}])
    iid, volume = instance["InstanceId"], instance["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    ec2.create_tags(Resources=[iid, volume], Tags=[{"Key": "Name", "Value": "after"}, {"Key": "Team", "Value": "a"}])
    assert tag_dict(one(ec2, iid)["Tags"]) == {"Name": "after", "Team": "a"}
    assert tag_dict(ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Tags"]) == {"Name": "after", "Team": "a"}
    ec2.delete_tags(Resources=[iid, volume], Tags=[{"Key": "Team"}])
    assert tag_dict(one(ec2, iid)["Tags"]) == {"Name": "after"}
    assert tag_dict(ec2.describe_volumes(VolumeIds=[volume])["Volumes"][0]["Tags"]) == {"Name": "after"}
    with api_error("InvalidInstanceID.NotFound", not_found(MISSING_INSTANCE)):
        ec2.create_tags(Resources=[MISSING_INSTANCE], Tags=[{"Key": "a", "Value": "b"}])


def test_describe_volumes_tag_filters_match_the_volumes_tags(web, ec2):
    def found(name, value):
        return [v["VolumeId"] for v in ec2.describe_volumes(Filters=[
            {"Name": name, "Values": [value]}, {"Name": "attachment.instance-id", "Values": [web["id"]]}])["Volumes"]]

    assert found("tag:Disk", "root") == [web["volume"]]
    assert found("tag-key", "Disk") == [web["volume"]]
    assert found("tag-value", "root") == [web["volume"]]
    # The instance's tags are not the volume's.
    assert found("tag:Role", "front") == []
    assert found("tag-key", "Role") == []


def test_only_the_root_devices_mapping_changes_the_root_volume(ec2, image, launcher):
    """A VolumeSize for another device is not the root's: EC2 would make that volume, this
    gateway cannot yet (UnsupportedOperation), and never resizes the root with it. NoDevice and
    an ephemeral device elsewhere are accepted and add nothing, as on EC2 for an image that maps
    nothing there and a type without instance store."""
    with api_error("UnsupportedOperation",
                   "The block device mapping for '/dev/sdb' is not supported: only the image's root device "
                   "('/dev/xvda') can be mapped at launch. Attachable volumes are not available yet."):
        ec2.run_instances(ImageId=image, InstanceType="t2.micro", MinCount=1, MaxCount=1, BlockDeviceMappings=[
            {"DeviceName": "/dev/sdb", "Ebs": {"VolumeSize": 50, "DeleteOnTermination": True}}])
    instance = run_one(launcher, ec2, image, BlockDeviceMappings=[
        {"DeviceName": "/dev/sdb", "NoDevice": ""},
        {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        {"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 12, "DeleteOnTermination": False, "VolumeType": "gp3"}},
    ])
    [bdm] = instance["BlockDeviceMappings"]
    assert (bdm["DeviceName"], bdm["Ebs"]["DeleteOnTermination"]) == ("/dev/xvda", False)
    [volume] = ec2.describe_volumes(VolumeIds=[bdm["Ebs"]["VolumeId"]])["Volumes"]
    assert volume["Size"] == 12


def test_block_device_mapping_errors(ec2, image):
    base = dict(ImageId=image, InstanceType="t2.micro", MinCount=1, MaxCount=1)

    def root(**ebs):
        return [{"DeviceName": "/dev/xvda", "Ebs": ebs}]

    # The image is 1 GiB: EC2's wording, with the image standing in for its root snapshot.
    with api_error("InvalidBlockDeviceMapping",
                   f"Volume of size 0GB is smaller than the root snapshot of image '{image}', expect size >= 1GB"):
        ec2.run_instances(**base, BlockDeviceMappings=root(VolumeSize=0))
    with api_error("InvalidBlockDeviceMapping",
                   "Volume of size 70000GB is larger than a gp3 volume can be, expect size <= 65536GB"):
        ec2.run_instances(**base, BlockDeviceMappings=root(VolumeSize=70000))
    with api_error("InvalidBlockDeviceMapping", "The device '/dev/xvda' is used in more than one block-device mapping"):
        ec2.run_instances(**base, BlockDeviceMappings=root(VolumeSize=9) + root(VolumeSize=10))
    with api_error("InvalidBlockDeviceMapping"):
        ec2.run_instances(**base, BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "NoDevice": ""}])
    with api_error("UnsupportedOperation", "The volume type 'io2' is not supported: every volume here is gp3."):
        ec2.run_instances(**base, BlockDeviceMappings=root(VolumeType="io2", Iops=4000))
    with api_error("InvalidParameterValue"):
        ec2.run_instances(**base, BlockDeviceMappings=root(VolumeType="gp9"))
    with api_error("UnsupportedOperation"):
        ec2.run_instances(**base, BlockDeviceMappings=root(Encrypted=True))
    assert ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [image]},
                                           {"Name": "instance-state-name", "Values": ["pending"]}])["Reservations"] == []


# =========================================================================== launch options


def test_metadata_options_and_tenancy_are_kept_and_shown(ec2, image, launcher, aws, gateway):
    """MetadataOptions and Placement.Tenancy as asked, in RunInstances' answer and in
    DescribeInstances; unset options keep EC2's defaults (expected_instance has them)."""
    asked = {"HttpTokens": "required", "HttpPutResponseHopLimit": 3, "HttpEndpoint": "enabled",
             "HttpProtocolIpv6": "enabled", "InstanceMetadataTags": "enabled"}
    instance = run_one(launcher, ec2, image, MetadataOptions=asked,
                       Placement={"AvailabilityZone": ZONE, "Tenancy": "dedicated"})
    expected = {"State": "applied", **asked}
    assert instance["MetadataOptions"] == expected
    assert instance["Placement"] == {"AvailabilityZone": ZONE, "GroupName": "", "Tenancy": "dedicated"}
    described = one(ec2, instance["InstanceId"])
    assert described["MetadataOptions"] == expected
    assert described["Placement"]["Tenancy"] == "dedicated"
    # Only HttpTokens: the rest are the defaults.
    tokens_only = run_one(launcher, ec2, image, MetadataOptions={"HttpTokens": "required"})
    assert one(ec2, tokens_only["InstanceId"])["MetadataOptions"] == {
        "State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled",
        "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled"}
    # The AWS CLI's shorthand.
    launched = aws("--endpoint-url", gateway.endpoint, "ec2", "run-instances", "--image-id", image,
                   "--instance-type", "t2.micro", "--metadata-options", "HttpTokens=required,HttpEndpoint=disabled",
                   "--placement", "Tenancy=host").json()
    [cli_instance] = launched["Instances"]
    launcher.adopt(ec2, [cli_instance["InstanceId"]])
    shown = one(ec2, cli_instance["InstanceId"])
    assert (shown["MetadataOptions"]["HttpTokens"], shown["MetadataOptions"]["HttpEndpoint"],
            shown["Placement"]["Tenancy"]) == ("required", "disabled", "host")


def test_metadata_option_and_tenancy_errors(ec2, image):
    base = dict(ImageId=image, InstanceType="t2.micro", MinCount=1, MaxCount=1)
    for options, message in [
        ({"HttpTokens": "mandatory"},
         "A value of 'mandatory' is not valid for HttpTokens. Specify either 'optional' or 'required' and try again."),
        # EC2's answer to Terraform's old empty http_endpoint.
        ({"HttpEndpoint": ""},
         "A value of '' is not valid for HttpEndpoint. Specify either 'enabled' or 'disabled' and try again."),
        ({"HttpPutResponseHopLimit": 65},
         "A value of '65' is not valid for HttpPutResponseHopLimit. Specify a value from 1 to 64 and try again."),
        ({"HttpPutResponseHopLimit": 0},
         "A value of '0' is not valid for HttpPutResponseHopLimit. Specify a value from 1 to 64 and try again."),
        ({"InstanceMetadataTags": "on"},
         "A value of 'on' is not valid for InstanceMetadataTags. Specify either 'enabled' or 'disabled' and try again."),
        ({"HttpProtocolIpv6": "yes"},
         "A value of 'yes' is not valid for HttpProtocolIpv6. Specify either 'enabled' or 'disabled' and try again."),
    ]:
        with api_error("InvalidParameterValue", message):
            ec2.run_instances(**base, MetadataOptions=options)
    with api_error("InvalidParameterValue",
                   "Value (shared) for parameter tenancy is invalid. Valid values are default, dedicated, host."):
        ec2.run_instances(**base, Placement={"Tenancy": "shared"})
    assert ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [image]},
                                           {"Name": "instance-state-name", "Values": ["pending"]}])["Reservations"] == []


def test_an_image_the_host_cannot_run_is_refused(ec2, import_image):
    """An arm64 image on an x86_64 host would show `running` and never boot: EC2's answer for
    an instance type and an image of different architectures (the types here are the host's)."""
    if os.uname().machine != "x86_64":
        pytest.skip("the x86_64 host's check")
    arm = import_image(uid("inst-arm"), arch="arm64")["ImageId"]
    with api_error("InvalidParameterValue",
                   "The architecture 'x86_64' of the specified instance type does not match the architecture "
                   "'arm64' of the specified AMI. Specify an instance type and an AMI that have matching "
                   "architectures, and try again. You can use 'describe-instance-types' or 'describe-images' "
                   "to discover the architecture of the instance type or AMI."):
        ec2.run_instances(ImageId=arm, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert ec2.describe_instances(Filters=[{"Name": "image-id", "Values": [arm]}])["Reservations"] == []


# =========================================================================== cross-account isolation


def test_cross_account_isolation(gateway, web, ec2, client_for):
    other_account = gateway.create_account()
    other = client_for(other_account)
    iid = web["id"]
    gone = not_found(iid)
    with api_error("InvalidInstanceID.NotFound", gone):
        other.describe_instances(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.stop_instances(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.start_instances(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.reboot_instances(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.terminate_instances(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    with api_error("InvalidInstanceID.NotFound", gone):
        other.describe_instance_attribute(InstanceId=iid, Attribute="userData")
    with api_error("InvalidInstanceID.NotFound", gone):
        other.get_console_output(InstanceId=iid)
    with api_error("InvalidInstanceID.NotFound", gone):
        other.describe_instance_status(InstanceIds=[iid])
    with api_error("InvalidInstanceID.NotFound", gone):
        other.describe_instance_credit_specifications(InstanceIds=[iid])
    with api_error("InvalidVolume.NotFound", f"The volume '{web['volume']}' does not exist."):
        other.describe_volumes(VolumeIds=[web["volume"]])
    assert other.describe_instances()["Reservations"] == []
    assert other.describe_instances(Filters=[{"Name": "owner-id", "Values": [gateway.account_id]}])["Reservations"] == []
    assert other.describe_instance_status(IncludeAllInstances=True)["InstanceStatuses"] == []
    assert other.describe_volumes()["Volumes"] == []
    assert other.describe_instance_credit_specifications()["InstanceCreditSpecifications"] == []
    assert other.describe_tags(Filters=[{"Name": "resource-id", "Values": [iid]}])["Tags"] == []
    # The owner still sees it, untouched.
    instance = one(ec2, iid)
    assert instance["State"] == state("running")
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": False}


# =========================================================================== boto3 resource API and the AWS CLI


def test_resource_api(gateway, resource_for, client_for, public_image, launcher):
    account = gateway.create_account()
    res = resource_for(account)
    client = client_for(account)
    name = uid("res")
    created = res.create_instances(
        ImageId=public_image, InstanceType="t3.micro", MinCount=2, MaxCount=2,
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": name}]}])
    launcher.adopt(client, [i.id for i in created])
    assert len(created) == 2
    first, second = created
    first.wait_until_running(WaiterConfig=FAST)
    second.wait_until_running(WaiterConfig=FAST)
    first.reload()
    assert first.state == state("running")
    assert (first.instance_type, first.image_id, first.root_device_name) == ("t3.micro", public_image, "/dev/xvda")
    assert first.placement == {"AvailabilityZone": ZONE, "GroupName": "", "Tenancy": "default"}
    assert tag_dict(first.tags) == {"Name": name}
    listed = res.instances.filter(Filters=[{"Name": "tag:Name", "Values": [name]}])
    assert sorted(i.id for i in listed) == sorted([first.id, second.id])
    assert sorted(i.id for i in res.instances.all()) == sorted([first.id, second.id])
    [volume] = list(first.volumes.all())
    assert volume.id == first.block_device_mappings[0]["Ebs"]["VolumeId"]
    assert (volume.size, volume.state, volume.volume_type) == (8, "in-use", "gp3")
    assert first.describe_attribute(Attribute="disableApiStop")["DisableApiStop"] == {"Value": False}
    first.modify_attribute(DisableApiStop={"Value": True})
    assert first.describe_attribute(Attribute="disableApiStop")["DisableApiStop"] == {"Value": True}
    first.modify_attribute(DisableApiStop={"Value": False})
    assert first.console_output()["InstanceId"] == first.id
    assert first.stop()["StoppingInstances"] == [change(first.id, "running", "stopping")]
    first.wait_until_stopped(WaiterConfig=FAST)
    assert first.start()["StartingInstances"] == [change(first.id, "stopped", "pending")]
    first.wait_until_running(WaiterConfig=FAST)
    first.reboot()
    result = res.instances.filter(InstanceIds=[first.id, second.id]).terminate()
    assert sorted(c["InstanceId"] for r in result for c in r["TerminatingInstances"]) == sorted([first.id, second.id])
    first.wait_until_terminated(WaiterConfig=FAST)
    second.wait_until_terminated(WaiterConfig=FAST)
    first.reload()
    assert first.state == state("terminated")


def test_aws_cli(gateway, aws, client_for, public_image, launcher):
    account = gateway.create_account()
    client = client_for(account)
    endpoint = ["--endpoint-url", gateway.endpoint]
    name = uid("cli")

    def cli(*args):
        return aws(*endpoint, "ec2", *args, account=account)

    launched = cli("run-instances", "--image-id", public_image, "--instance-type", "t2.micro", "--count", "2",
                   "--user-data", USER_DATA,
                   "--block-device-mappings", "DeviceName=/dev/xvda,Ebs={DeleteOnTermination=false}",
                   "--tag-specifications", f"ResourceType=instance,Tags=[{{Key=Name,Value={name}}},{{Key=Team,Value=a}}]").json()
    ids = sorted(i["InstanceId"] for i in launched["Instances"])
    launcher.adopt(client, ids)
    assert len(ids) == 2 and RESERVATION_ID.match(launched["ReservationId"])
    assert {i["State"]["Name"] for i in launched["Instances"]} == {"pending"}
    wait_for(client, ids, "running")
    # The CLI's waiter polls at once; the instances run already.
    assert cli("wait", "instance-running", "--instance-ids", *ids).rc == 0
    listed = cli("describe-instances", "--filters", f"Name=tag:Name,Values={name}",
                 "--query", "Reservations[].Instances[].[InstanceId,State.Name,InstanceType]", "--output", "text")
    assert listed.rc == 0, listed
    assert sorted(listed.stdout.split("\n")[:-1]) == sorted(f"{i}\trunning\tt2.micro" for i in ids)
    assert cli("describe-instance-attribute", "--instance-id", ids[0], "--attribute", "userData").json() == {
        "InstanceId": ids[0], "UserData": {"Value": USER_DATA_B64}}
    console = cli("get-console-output", "--instance-id", ids[0]).json()
    assert console["InstanceId"] == ids[0] and "Timestamp" in console
    volumes = cli("describe-volumes", "--filters", f"Name=attachment.instance-id,Values={ids[0]}").json()["Volumes"]
    assert [v["Attachments"][0]["InstanceId"] for v in volumes] == [ids[0]]
    assert cli("stop-instances", "--instance-ids", ids[0]).json() == {
        "StoppingInstances": [change(ids[0], "running", "stopping")]}
    wait_for(client, [ids[0]], "stopped")
    assert cli("start-instances", "--instance-ids", ids[0]).json() == {
        "StartingInstances": [change(ids[0], "stopped", "pending")]}
    wait_for(client, [ids[0]], "running")
    assert cli("reboot-instances", "--instance-ids", ids[0]).rc == 0
    statuses = cli("describe-instance-status", "--instance-ids", *ids, "--query",
                   "InstanceStatuses[].[InstanceId,InstanceState.Name,InstanceStatus.Status]").json()
    assert sorted(statuses) == [[i, "running", "ok"] for i in ids]
    assert_cli_error(cli("describe-instance-status", "--filters", f"Name=instance-id,Values={ids[0]}"),
                     "InvalidParameterValue", "DescribeInstanceStatus", "The filter 'instance-id' is invalid")
    assert sorted(cli("describe-instance-status", "--filters", "Name=instance-status.reachability,Values=passed",
                      "--query", "InstanceStatuses[].InstanceId").json()) == sorted(ids)
    assert cli("describe-instance-credit-specifications", "--instance-ids", ids[0]).json() == {
        "InstanceCreditSpecifications": [{"InstanceId": ids[0], "CpuCredits": "standard"}]}
    assert cli("delete-tags", "--resources", *ids, "--tags", "Key=Team").rc == 0
    assert cli("describe-tags", "--filters", f"Name=resource-id,Values={ids[0]}",
               "--query", "Tags[].Key").json() == ["Name"]

    # Termination protection, set and cleared through the CLI's boolean flags.
    protect = cli("modify-instance-attribute", "--instance-id", ids[0], "--disable-api-termination")
    assert (protect.rc, protect.stdout) == (0, ""), protect
    assert cli("describe-instance-attribute", "--instance-id", ids[0], "--attribute", "disableApiTermination").json() == {
        "InstanceId": ids[0], "DisableApiTermination": {"Value": True}}
    assert_cli_error(cli("terminate-instances", "--instance-ids", *ids), "OperationNotPermitted", "TerminateInstances",
                     f"The instance '{ids[0]}' may not be terminated. "
                     "Modify its 'disableApiTermination' instance attribute and try again.")
    assert cli("modify-instance-attribute", "--instance-id", ids[0], "--no-disable-api-termination").rc == 0

    dry = cli("terminate-instances", "--instance-ids", *ids, "--dry-run")
    assert dry.rc in (254, 255) and dry.stdout == ""
    assert dry.stderr.strip() == (
        "An error occurred (DryRunOperation) when calling the TerminateInstances operation: " + DRY_RUN_MESSAGE)
    missing = cli("describe-instances", "--instance-ids", MISSING_INSTANCE)
    assert missing.rc in (254, 255) and missing.stdout == ""
    assert missing.stderr.strip() == (
        "An error occurred (InvalidInstanceID.NotFound) when calling the DescribeInstances operation: "
        + not_found(MISSING_INSTANCE))
    terminated = cli("terminate-instances", "--instance-ids", *ids).json()["TerminatingInstances"]
    assert sorted((t["InstanceId"], t["CurrentState"]["Name"]) for t in terminated) == [
        (i, "shutting-down") for i in ids]
    wait_for(client, ids, "terminated")
    assert cli("wait", "instance-terminated", "--instance-ids", *ids).rc == 0

    # The root volumes outlive their instances (DeleteOnTermination=false) until DeleteVolume.
    volumes = sorted(i["BlockDeviceMappings"][0]["Ebs"]["VolumeId"] for i in launched["Instances"])
    assert cli("describe-volumes", "--volume-ids", *volumes, "--query", "Volumes[].State").json() == [
        "available", "available"]
    for volume in volumes:
        deleted = cli("delete-volume", "--volume-id", volume)
        assert (deleted.rc, deleted.stdout) == (0, ""), deleted
    assert cli("wait", "volume-deleted", "--volume-ids", *volumes).rc == 0
    assert_cli_error(cli("delete-volume", "--volume-id", volumes[0]), "InvalidVolume.NotFound", "DeleteVolume",
                     f"The volume '{volumes[0]}' does not exist.")


# =========================================================================== concurrency


def test_state_changes_beside_the_reconciler_never_answer_500(gateway, client_for, public_image, launcher):
    """Calls that change instances while the reconciler moves them (the usual case: Terraform's
    destroy modifies and terminates while instances settle) must not fail with InternalError.
    One request per call, so a 500 is not hidden behind botocore's retry."""
    import threading

    account = gateway.create_account()
    ec2 = client_for(account)
    once = [client_for(account, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
            for _ in range(4)]
    ids = [i["InstanceId"] for i in launcher.run(
        ec2, ImageId=public_image, InstanceType="t2.micro", MinCount=4, MaxCount=4)["Instances"]]
    errors: list[str] = []
    done = threading.Event()

    def hammer(client, instance_id):
        flip = False
        while not done.is_set():
            flip = not flip
            try:
                client.modify_instance_attribute(InstanceId=instance_id, DisableApiStop={"Value": flip})
                client.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiStop")
            except ClientError as e:
                err = e.response["Error"]
                errors.append(f"{e.operation_name} {e.response['ResponseMetadata']['HTTPStatusCode']} "
                              f"{err['Code']}: {err['Message']}")
            time.sleep(0.01)

    threads = [threading.Thread(target=hammer, args=(c, i)) for c, i in zip(once, ids)]
    for t in threads:
        t.start()
    try:
        wait_for(ec2, ids, "running")
        for i in ids:  # stop protection flips under the hammer: stop each when it is off
            deadline = time.monotonic() + 5
            while True:
                try:
                    ec2.stop_instances(InstanceIds=[i])
                    break
                except ClientError as e:
                    assert e.response["Error"]["Code"] == "OperationNotPermitted", e.response
                    assert time.monotonic() < deadline
        wait_for(ec2, ids, "stopped")
        ec2.start_instances(InstanceIds=ids)
        wait_for(ec2, ids, "running")
    finally:
        done.set()
        for t in threads:
            t.join()
    assert errors == []


# =========================================================================== capacity


def gateway_cores() -> int:
    """The cores the gateway (a child of this process, same cgroup) sees, as Rust's
    available_parallelism counts them: the CPU affinity, capped by a cgroup CPU quota."""
    cores = len(os.sched_getaffinity(0))
    limits = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        parts = [p for p in path.split("/") if p]
        levels = ["/" + "/".join(parts[:n]) for n in range(len(parts), -1, -1)]
        if controllers == "":
            for level in levels:
                with contextlib.suppress(OSError, ValueError):
                    quota, period = Path(f"/sys/fs/cgroup{level.rstrip('/')}/cpu.max").read_text().split()
                    if quota != "max":
                        limits.append(max(int(quota) // int(period), 1))
        elif "cpu" in controllers.split(","):
            for base in ("/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"):
                for level in levels:
                    with contextlib.suppress(OSError, ValueError):
                        d = Path(base + level.rstrip("/"))
                        quota = int((d / "cpu.cfs_quota_us").read_text())
                        period = int((d / "cpu.cfs_period_us").read_text())
                        if quota > 0:
                            limits.append(max(quota // period, 1))
    return min([cores, *limits])


def host_memory_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 8192


def test_insufficient_capacity_and_all_or_some(gateway, client_for, public_image, fleet, web, launcher):
    """The gateway's default host: 8 vCPUs per core and the host's memory, shared by every
    account; what this module's other instances hold is counted in."""
    account = gateway.create_account()
    # One request per call: botocore's `max_attempts` counts retries (max_attempts=1 is two
    # requests, so a 500 is sent twice); `total_max_attempts` counts requests.
    ec2 = client_for(account, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    types = {t["InstanceType"]: (t["VCpuInfo"]["DefaultVCpus"], t["MemoryInfo"]["SizeInMiB"])
             for page in ec2.get_paginator("describe_instance_types").paginate()
             for t in page["InstanceTypes"]}
    used_vcpus = used_mib = 0
    for launcher_ in LAUNCHERS:
        for _, instance in launcher_.live():
            if instance["State"]["Name"] in HOLDING:
                vcpus, mib = types[instance["InstanceType"]]
                used_vcpus, used_mib = used_vcpus + vcpus, used_mib + mib
    free_vcpus = 8 * gateway_cores() - used_vcpus
    free_mib = host_memory_mib() - used_mib

    def fit(name):
        vcpus, mib = types[name]
        return max(min(free_vcpus // vcpus, free_mib // mib), 0)

    def insufficient(instance_type, **kwargs):
        with api_error("InsufficientInstanceCapacity", status=500) as excinfo:
            ec2.run_instances(ImageId=public_image, InstanceType=instance_type, **kwargs)
        err = excinfo.value.response
        assert err["Error"]["Message"].startswith(
            f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you requested"), err
        assert err["ResponseMetadata"]["RetryAttempts"] == 0

    candidates = sorted((fit(n), n) for n in types if 2 <= fit(n) <= 40)
    if not candidates:
        pytest.skip(f"no instance type fills this host quickly ({free_vcpus} vCPUs, {free_mib} MiB free)")
    count, kind = candidates[0]
    # MinCount beyond what fits: nothing is launched.
    insufficient(kind, MinCount=count + 1, MaxCount=count + 1)
    assert ec2.describe_instances()["Reservations"] == []
    # MinCount 1, MaxCount large: as many as fit.
    resp = launcher.run(ec2, ImageId=public_image, InstanceType=kind, MinCount=1, MaxCount=count + 5)
    ids = [i["InstanceId"] for i in resp["Instances"]]
    assert len(ids) == count, (kind, types[kind], free_vcpus, free_mib)
    assert [i["AmiLaunchIndex"] for i in resp["Instances"]] == list(range(count))
    # Full: not even one more of the kind.
    insufficient(kind, MinCount=1, MaxCount=1)
    # A stopped instance does not start when its type does not fit what is left.
    left_vcpus = free_vcpus - count * types[kind][0]
    left_mib = free_mib - count * types[kind][1]
    stopped = fleet["ids"]["batch"][0]
    vcpus, mib = types["t2.micro"]
    if vcpus > left_vcpus or mib > left_mib:
        with api_error("InsufficientInstanceCapacity", status=500):
            fleet["ec2"].start_instances(InstanceIds=[stopped])
        assert one(fleet["ec2"], stopped)["State"] == state("stopped")
    # A type bigger than everything left never fits.
    too_big = [n for n in types if fit(n) == 0]
    if too_big:
        insufficient(too_big[0], MinCount=1, MaxCount=1)
    # Terminated instances give their capacity back.
    ec2.terminate_instances(InstanceIds=ids)
    wait_for(ec2, ids, "terminated")
    again = launcher.run(ec2, ImageId=public_image, InstanceType=kind, MinCount=count, MaxCount=count)
    assert len(again["Instances"]) == count


# =========================================================================== placement in the default network


def test_run_instances_in_a_subnet_by_network_interface(ec2, image, launcher):
    """As Ansible's ec2_instance launches: NetworkInterface.1 with the default subnet (here the
    second zone's) and a group; the instance lands in that subnet's zone."""
    net = default_network(ec2, "us-east-1b")
    resp = launcher.run(ec2, ImageId=image, InstanceType="t3.nano", NetworkInterfaces=[{
        "DeviceIndex": 0, "SubnetId": net["SubnetId"], "Groups": [net["GroupId"]],
        "DeleteOnTermination": True, "AssociatePublicIpAddress": True}])
    [instance] = resp["Instances"]
    assert instance["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert (instance["SubnetId"], instance["VpcId"]) == (net["SubnetId"], net["VpcId"])
    assert instance["SecurityGroups"] == [{"GroupId": net["GroupId"], "GroupName": "default"}]
    assert ids_where(ec2, ("subnet-id", [net["SubnetId"]]), ("instance-id", [instance["InstanceId"]])) == {
        instance["InstanceId"]}


def test_run_instances_by_group_name_and_zone(ec2, image, launcher):
    net = default_network(ec2, "us-east-1b")
    resp = launcher.run(ec2, ImageId=image, InstanceType="t3.nano", SecurityGroups=["default"],
                        Placement={"AvailabilityZone": "us-east-1b"})
    [instance] = resp["Instances"]
    assert instance["SubnetId"] == net["SubnetId"]
    assert instance["SecurityGroups"] == [{"GroupId": net["GroupId"], "GroupName": "default"}]


def test_run_instances_network_errors(ec2, image, client_for, second_account):
    net = default_network(ec2, "us-east-1b")
    before = ids_where(ec2)
    with api_error("InvalidSubnetID.NotFound", f"The subnet ID '{MISSING_SUBNET}' does not exist"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=MISSING_SUBNET)
    # Another account's subnet is not this account's.
    theirs = default_network(client_for(second_account), "us-east-1b")
    with api_error("InvalidSubnetID.NotFound"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=theirs["SubnetId"])
    with api_error("InvalidGroup.NotFound",
                   f"The security group 'sg-0123456789abcdef0' does not exist in VPC '{net['VpcId']}'"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroupIds=["sg-0123456789abcdef0"])
    with api_error("InvalidGroup.NotFound",
                   f"The security group 'web' does not exist in default VPC '{net['VpcId']}'"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SecurityGroups=["web"])
    with api_error("InvalidParameterValue"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["SubnetId"],
                          Placement={"AvailabilityZone": "us-east-1a"})
    with api_error("InvalidParameterCombination",
                   "Network interfaces and an instance-level subnet ID may not be specified on the same request"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["SubnetId"],
                          NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": net["SubnetId"]}])
    # No subnet named: the first zone's default subnet, which 172.31.16.10 is not in.
    with api_error("InvalidParameterValue", "Address 172.31.16.10 does not fall within the subnet's address range"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                          NetworkInterfaces=[{"DeviceIndex": 0, "PrivateIpAddress": "172.31.16.10"}])
    with api_error("InvalidParameterValue", "Address 172.31.16.2 does not fall within the subnet's address range"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=net["SubnetId"],
                          PrivateIpAddress="172.31.16.2")  # EC2's reserved +2
    with api_error("InvalidParameterCombination"):
        ec2.run_instances(ImageId=image, MinCount=2, MaxCount=2, SubnetId=net["SubnetId"],
                          PrivateIpAddress="172.31.16.10")
    with api_error("UnsupportedOperation"):
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                          NetworkInterfaces=[{"DeviceIndex": 0, "Ipv6AddressCount": 1}])
    # Nothing was launched by any of these.
    assert ids_where(ec2) == before
