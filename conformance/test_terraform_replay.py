"""Terraform replay: the EC2 calls the Terraform AWS provider makes for `terraform apply`, a
refresh, an in-place update and `terraform destroy` of

    data "aws_ami" "this"      { owners = ["self"]  filter { name = "name"  values = [NAME] } most_recent = true }
    resource "aws_key_pair" "this" { key_name = KEY  public_key = "ssh-ed25519 ..."  tags = { Name = KEY } }
    resource "aws_instance" "web" {
      ami = data.aws_ami.this.id   instance_type = "t3.micro"   key_name = aws_key_pair.this.key_name
      user_data = "#!/bin/sh ..."  root_block_device { volume_size = 10  volume_type = "gp3" }
      metadata_options { http_tokens = "required" }
      tags = { Name = "tf-web" }   volume_tags = { Backup = "daily" }
    }

replayed with boto3 (the same wire protocol), in the provider's order, with the parameters it
sends (../shared/reference/terraform-aws-provider.md; internal/service/ec2/ec2_instance.go of the
provider), asserting every field the provider reads from each answer. Terraform cannot be
installed here; the calls are what it would send.

The tests run in file order and share the state of one apply (`STATE`), as Terraform does.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import itertools
import re
import subprocess
import time
from urllib.parse import parse_qsl

import pytest
from botocore.exceptions import ClientError

from assertions import api_error, uid

ZONE = "us-east-1a"
USER_DATA = "#!/bin/sh\necho 'managed by terraform'\n"
USER_DATA_V2 = "#!/bin/sh\necho 'managed by terraform, second version'\n"
LAUNCH_TEMPLATE_TAG = "aws:ec2launchtemplate:id"
# The provider's StateChangeConf: a state outside pending and target is an immediate error.
CREATE_PENDING, CREATE_TARGET = {"pending"}, {"running"}
STOP_PENDING, STOP_TARGET = {"pending", "running", "shutting-down", "stopping"}, {"stopped"}
START_PENDING, START_TARGET = {"pending", "stopped"}, {"running"}
DELETE_PENDING, DELETE_TARGET = {"pending", "running", "shutting-down", "stopping", "stopped"}, {"terminated"}
POLL_TIMEOUT = 20.0
# expandInstanceMetadataOptions for `metadata_options { http_tokens = "required" }`:
# http_endpoint (default "enabled") always; with it enabled, http_protocol_ipv6 and
# instance_metadata_tags (defaults "disabled") and http_tokens; http_put_response_hop_limit
# only when set (it is Computed: 0, not sent).
TF_METADATA_OPTIONS = {"HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled", "HttpTokens": "required",
                       "InstanceMetadataTags": "disabled"}

STATE: dict = {}
_unique = itertools.count(1)


def terraform_unique_id() -> str:
    """helper/id.UniqueId(): "terraform-" + UTC timestamp to 1/10000 s + an 8-hex-digit counter."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"terraform-{now.strftime('%Y%m%d%H%M%S')}{now.microsecond // 100:04d}{next(_unique):08x}"


class Wire:
    """Every request the client sends: (Action, the form parameters as sent, empty ones kept)."""

    def __init__(self, client):
        self.requests: list[tuple[str, dict[str, str]]] = []
        client.meta.events.register("before-send.ec2", self._record)

    def _record(self, request, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        params = dict(parse_qsl(body, keep_blank_values=True))
        self.requests.append((params.get("Action", "?"), params))

    def mark(self) -> int:
        return len(self.requests)

    def actions(self, since: int = 0) -> list[str]:
        return [a for a, _ in self.requests[since:]]

    def last(self, action: str) -> dict[str, str]:
        return [p for a, p in self.requests if a == action][-1]


def tf_wait(client, instance_id: str, pending: set[str], target: set[str]) -> dict:
    """The provider's waiter: DescribeInstances(InstanceId.1) until a target state; any state
    outside pending/target fails at once (no back-off here: the reconciler is fast)."""
    deadline = time.monotonic() + POLL_TIMEOUT
    seen = []
    while True:
        [reservation] = client.describe_instances(InstanceIds=[instance_id])["Reservations"]
        [instance] = reservation["Instances"]
        name = instance["State"]["Name"]
        if not seen or seen[-1] != name:
            seen.append(name)
        assert name in pending | target, f"unexpected state {name!r} (seen {seen}); Terraform fails here"
        if name in target:
            return instance
        assert time.monotonic() < deadline, f"still {name} after {POLL_TIMEOUT} s (seen {seen})"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def tf(gateway, client_for, import_image, tmp_path_factory):
    """The provider's view of the world: its own account (so listings are exact), an image to
    find, an ed25519 public key made by ssh-keygen, one EC2 client with a wire recorder."""
    account = gateway.create_account()
    client = client_for(account)
    image_name = uid("tf-ami")
    imported = import_image(image_name, account, description="for terraform")
    key_dir = tmp_path_factory.mktemp("tf-ssh")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tf", "-f", str(key_dir / "id")],
                   check=True, capture_output=True, timeout=60)
    STATE.clear()
    yield {
        "account": account,
        "ec2": client,
        "wire": Wire(client),
        "image_name": image_name,
        "image_id": imported["ImageId"],
        "public_key": (key_dir / "id.pub").read_text().strip(),
        "key_name": uid("tf-key"),
    }
    # Whatever a failed test left behind is destroyed, so capacity stays free.
    instance_id = STATE.get("instance_id")
    if instance_id:
        with contextlib.suppress(ClientError):
            client.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
        with contextlib.suppress(ClientError):
            client.terminate_instances(InstanceIds=[instance_id])
        with contextlib.suppress(AssertionError, ClientError):
            tf_wait(client, instance_id, DELETE_PENDING, DELETE_TARGET)


def needs(*keys: str) -> None:
    missing = [k for k in keys if k not in STATE]
    if missing:
        pytest.fail(f"an earlier replay step failed (no {', '.join(missing)} in the apply's state)", pytrace=False)


# =========================================================================== terraform apply


def test_data_aws_ami(tf):
    ec2 = tf["ec2"]
    pages = ec2.get_paginator("describe_images").paginate(
        IncludeDeprecated=False, Owners=["self"], Filters=[{"Name": "name", "Values": [tf["image_name"]]}])
    images = [i for page in pages for i in page["Images"]]
    sent = tf["wire"].last("DescribeImages")
    assert (sent["IncludeDeprecated"], sent["Owner.1"], sent["Filter.1.Name"], sent["Filter.1.Value.1"]) == (
        "false", "self", "name", tf["image_name"])
    assert len(images) == 1, images
    # most_recent = true: the provider sorts on creationDate, an RFC 3339 time.
    image = max(images, key=lambda i: datetime.datetime.fromisoformat(i["CreationDate"].replace("Z", "+00:00")))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", image["CreationDate"])
    assert image["ImageId"] == tf["image_id"]
    assert image["Name"] == tf["image_name"]
    assert image["OwnerId"] == tf["account"].account_id
    assert image["Architecture"] == "x86_64"
    assert image["RootDeviceName"] == "/dev/xvda"
    assert image["RootDeviceType"] == "ebs"
    assert image["State"] == "available"
    assert image["VirtualizationType"] == "hvm"
    assert image["Tags"] == []
    assert image["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "DeleteOnTermination": True, "VolumeSize": 1, "VolumeType": "gp3", "Encrypted": False}}]
    STATE["ami"] = image


def test_aws_key_pair_create_and_read(tf):
    ec2 = tf["ec2"]
    created = ec2.import_key_pair(
        KeyName=tf["key_name"], PublicKeyMaterial=tf["public_key"].encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "Name", "Value": tf["key_name"]}]}])
    assert created["KeyName"] == tf["key_name"]
    [key] = ec2.describe_key_pairs(KeyNames=[tf["key_name"]])["KeyPairs"]
    assert key["KeyName"] == tf["key_name"]
    assert key["KeyPairId"] == created["KeyPairId"]
    assert key["KeyFingerprint"] == created["KeyFingerprint"]
    assert key["KeyType"] == "ed25519"
    assert key["Tags"] == [{"Key": "Name", "Value": tf["key_name"]}]
    STATE["key"] = key


def test_aws_instance_create(tf):
    needs("ami", "key")
    ec2, wire = tf["ec2"], tf["wire"]
    ami = STATE["ami"]["ImageId"]
    # root_block_device: the provider looks up the image's root device name first.
    [image] = ec2.describe_images(ImageIds=[ami])["Images"]
    root_device = image["RootDeviceName"]
    assert root_device in [b["DeviceName"] for b in image["BlockDeviceMappings"]]

    token = terraform_unique_id()
    start = wire.mark()
    resp = ec2.run_instances(
        ImageId=ami,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        ClientToken=token,
        KeyName=STATE["key"]["KeyName"],
        UserData=USER_DATA,
        BlockDeviceMappings=[{"DeviceName": root_device,
                              "Ebs": {"DeleteOnTermination": True, "VolumeSize": 10, "VolumeType": "gp3"}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "tf-web"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "daily"}]},
        ],
        DisableApiTermination=False,
        EbsOptimized=False,
        Monitoring={"Enabled": False},
        HibernationOptions={"Configured": False},
        Placement={"AvailabilityZone": ""},
        CreditSpecification={"CpuCredits": "unlimited"},
        MetadataOptions=TF_METADATA_OPTIONS,
    )
    [(action, sent)] = wire.requests[start:]
    assert action == "RunInstances"
    # The empty string is on the wire, and accepted.
    assert sent["Placement.AvailabilityZone"] == ""
    assert {k: sent[k] for k in ("DisableApiTermination", "EbsOptimized", "Monitoring.Enabled",
                                 "HibernationOptions.Configured", "CreditSpecification.CpuCredits",
                                 "MinCount", "MaxCount", "ClientToken")} == {
        "DisableApiTermination": "false", "EbsOptimized": "false", "Monitoring.Enabled": "false",
        "HibernationOptions.Configured": "false", "CreditSpecification.CpuCredits": "unlimited",
        "MinCount": "1", "MaxCount": "1", "ClientToken": token}
    assert sent["UserData"] == base64.b64encode(USER_DATA.encode()).decode()
    assert {k: v for k, v in sent.items() if k.startswith("MetadataOptions.")} == {
        "MetadataOptions.HttpEndpoint": "enabled", "MetadataOptions.HttpProtocolIpv6": "disabled",
        "MetadataOptions.HttpTokens": "required", "MetadataOptions.InstanceMetadataTags": "disabled"}
    # What the provider needs from the answer: instancesSet[0].instanceId.
    instance_id = resp["Instances"][0]["InstanceId"]
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance_id)
    STATE["instance_id"] = instance_id
    STATE["token"] = token
    STATE["root_device"] = root_device
    # waitInstanceCreated: DescribeInstances(InstanceId.1) until running.
    instance = tf_wait(ec2, instance_id, CREATE_PENDING, CREATE_TARGET)
    assert instance["State"] == {"Code": 16, "Name": "running"}
    # A retried create (same token) is the same instance, as the provider's retry relies on.
    again = ec2.run_instances(
        ImageId=ami, InstanceType="t3.micro", MinCount=1, MaxCount=1, ClientToken=token,
        KeyName=STATE["key"]["KeyName"], UserData=USER_DATA,
        BlockDeviceMappings=[{"DeviceName": root_device,
                              "Ebs": {"DeleteOnTermination": True, "VolumeSize": 10, "VolumeType": "gp3"}}],
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "tf-web"}]},
            {"ResourceType": "volume", "Tags": [{"Key": "Backup", "Value": "daily"}]},
        ],
        DisableApiTermination=False, EbsOptimized=False, Monitoring={"Enabled": False},
        HibernationOptions={"Configured": False}, Placement={"AvailabilityZone": ""},
        CreditSpecification={"CpuCredits": "unlimited"}, MetadataOptions=TF_METADATA_OPTIONS)
    assert [i["InstanceId"] for i in again["Instances"]] == [instance_id]


def read_instance(tf, *, instance_type: str, user_data: str) -> list[str]:
    """resourceInstanceRead, in the provider's order, asserting what it reads; the actions sent."""
    ec2, wire = tf["ec2"], tf["wire"]
    instance_id = STATE["instance_id"]
    # What the instance's network must be, read before the provider's calls are counted.
    [subnet] = ec2.describe_subnets(Filters=[{"Name": "availability-zone", "Values": [ZONE]},
                                             {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    [group] = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [subnet["VpcId"]]},
                                                    {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    start = wire.mark()

    # 1. DescribeInstances(InstanceId.1): exactly one instance, with its state.
    resp = ec2.describe_instances(InstanceIds=[instance_id])
    [reservation] = resp["Reservations"]
    [instance] = reservation["Instances"]
    assert instance["InstanceId"] == instance_id
    assert instance["State"] == {"Code": 16, "Name": "running"}
    assert instance["ImageId"] == STATE["ami"]["ImageId"]
    assert instance["InstanceType"] == instance_type
    assert instance["KeyName"] == STATE["key"]["KeyName"]
    assert instance["Placement"] == {"AvailabilityZone": ZONE, "GroupName": "", "Tenancy": "default"}
    assert instance["CpuOptions"] == {"CoreCount": 1, "ThreadsPerCore": 2}
    assert instance["HibernationOptions"] == {"Configured": False}
    assert instance["EnclaveOptions"] == {"Enabled": False}
    assert instance["MaintenanceOptions"] == {"AutoRecovery": "default"}
    # flattenInstanceMetadataOptions: http_tokens = "required" round-trips (no diff on refresh);
    # the hop limit, not sent, is EC2's default.
    assert instance["MetadataOptions"] == {
        "State": "applied", "HttpTokens": "required", "HttpPutResponseHopLimit": 1, "HttpEndpoint": "enabled",
        "HttpProtocolIpv6": "disabled", "InstanceMetadataTags": "disabled"}
    assert instance["CapacityReservationSpecification"] == {"CapacityReservationPreference": "open"}
    # In the account's default subnet and VPC and its default group, with the addresses a
    # default subnet gives: a private one of the subnet (its DNS name) and a public one.
    assert instance["SubnetId"] == subnet["SubnetId"]
    assert instance["VpcId"] == subnet["VpcId"]
    private = instance["PrivateIpAddress"]
    assert private.startswith("172.31.")
    assert (instance["PublicDnsName"], instance["PrivateDnsName"]) == (
        "", f"ip-{private.replace('.', '-')}.ec2.internal")
    assert instance["PublicIpAddress"].startswith("198.19.")
    for absent in ("OutpostArn", "IamInstanceProfile",
                   "PrivateDnsNameOptions", "SpotInstanceRequestId", "InstanceLifecycle"):
        assert absent not in instance, absent
    # Every networkInterfaceSet item must carry attachment.deviceIndex (the provider finds the
    # primary interface, device 0, by it).
    [eni] = instance["NetworkInterfaces"]
    assert eni["Attachment"]["DeviceIndex"] == 0 and eni["PrivateIpAddress"] == private
    assert eni["SubnetId"] == subnet["SubnetId"] and eni["SourceDestCheck"] is True
    # vpc_security_group_ids is read from groupSet when the instance has a subnet.
    assert instance["SecurityGroups"] == [{"GroupId": group["GroupId"], "GroupName": "default"}]
    assert instance["SourceDestCheck"] is True
    assert instance["EbsOptimized"] is False
    assert instance["Monitoring"] == {"State": "disabled"}
    assert instance["Tags"] == [{"Key": "Name", "Value": "tf-web"}]
    assert instance["RootDeviceName"] == STATE["root_device"]
    [bdm] = instance["BlockDeviceMappings"]
    # blockDeviceIsRoot: the mapping's device is the root device.
    assert bdm["DeviceName"] == instance["RootDeviceName"]
    assert bdm["Ebs"]["DeleteOnTermination"] is True and bdm["Ebs"]["Status"] == "attached"
    volume_id = bdm["Ebs"]["VolumeId"]

    # 2. DescribeInstanceTypes(InstanceType.1): exactly one; burstablePerformanceSupported.
    [itype] = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"]
    assert itype["InstanceType"] == instance_type
    assert itype["BurstablePerformanceSupported"] is True

    # 3. DescribeTags(resource-id, key=aws:ec2launchtemplate:id): the filters must be honoured
    #    (the Name tag must not come back), no launch template here.
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [instance_id]},
                                      {"Name": "key", "Values": [LAUNCH_TEMPLATE_TAG]}])
    assert tags["Tags"] == []

    # 4. volume_tags is set (and no block device has tags of its own): getInstanceVolIDs
    #    (DescribeVolumes, Filter attachment.instance-id) and DescribeTags(resource-id).
    vols = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id", "Values": [instance_id]}])["Volumes"]
    assert [v["VolumeId"] for v in vols] == [volume_id]
    volume_tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [volume_id]}])["Tags"]
    assert [(t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in volume_tags] == [
        (volume_id, "volume", "Backup", "daily")]

    # 5. DescribeVpcs(VpcId.1), where the reference puts it: the provider's readSecurityGroups
    #    (ec2_instance.go) reads the instance's VPC to tell default-VPC groups from others.
    [vpc] = ec2.describe_vpcs(VpcIds=[instance["VpcId"]])["Vpcs"]
    assert vpc["VpcId"] == instance["VpcId"]
    assert vpc["IsDefault"] is True and vpc["State"] == "available"

    # 6. DescribeInstanceAttribute instanceInitiatedShutdownBehavior.
    attr = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
    assert attr["InstanceInitiatedShutdownBehavior"] == {"Value": "stop"}

    # 7. readBlockDevices: DescribeVolumes(VolumeId.N of the mappings): exactly those volumes.
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert volume["VolumeId"] == volume_id
    assert volume["Size"] == 10
    assert volume["VolumeType"] == "gp3"
    assert volume["Iops"] == 3000
    assert volume["Throughput"] == 125
    assert volume["Encrypted"] is False
    assert "KmsKeyId" not in volume
    assert volume["Tags"] == [{"Key": "Backup", "Value": "daily"}]
    assert volume["SnapshotId"] == ""  # Volumes[0].SnapshotId is read for a root-only instance
    assert volume["Attachments"] == [{
        "VolumeId": volume_id, "InstanceId": instance_id, "Device": STATE["root_device"], "State": "attached",
        "AttachTime": bdm["Ebs"]["AttachTime"], "DeleteOnTermination": True}]

    # 8-10. DescribeInstanceAttribute disableApiStop, disableApiTermination, userData: the
    #       elements must be there (a missing one is a nil dereference in the provider).
    attr = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiStop")
    assert attr["DisableApiStop"] == {"Value": False}
    attr = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")
    assert attr["DisableApiTermination"] == {"Value": False}
    attr = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert attr["UserData"] == {"Value": base64.b64encode(user_data.encode()).decode()}

    # 11. Burstable: DescribeInstanceCreditSpecifications(InstanceId.1), exactly one.
    credits = ec2.describe_instance_credit_specifications(InstanceIds=[instance_id])
    assert credits["InstanceCreditSpecifications"] == [{"InstanceId": instance_id, "CpuCredits": "unlimited"}]
    STATE["volume_id"] = volume_id
    return wire.actions(start)


READ_SEQUENCE = [
    "DescribeInstances", "DescribeInstanceTypes", "DescribeTags", "DescribeVolumes", "DescribeTags",
    "DescribeVpcs", "DescribeInstanceAttribute", "DescribeVolumes", "DescribeInstanceAttribute",
    "DescribeInstanceAttribute", "DescribeInstanceAttribute", "DescribeInstanceCreditSpecifications",
]


def test_aws_instance_read_after_create(tf):
    needs("instance_id", "ami", "key")
    assert read_instance(tf, instance_type="t3.micro", user_data=USER_DATA) == READ_SEQUENCE


def test_plan_refresh_reads_the_same(tf):
    """`terraform plan` refreshes each resource: the key pair and the instance read again."""
    needs("instance_id", "ami", "key")
    [key] = tf["ec2"].describe_key_pairs(KeyNames=[tf["key_name"]])["KeyPairs"]
    assert key == STATE["key"]
    assert read_instance(tf, instance_type="t3.micro", user_data=USER_DATA) == READ_SEQUENCE


# =========================================================================== in-place update


def modify_with_stop_start(tf, **attribute) -> list[str]:
    """modifyInstanceAttributeWithStopStart: StopInstances(Force=false), wait stopped,
    ModifyInstanceAttribute (one attribute), StartInstances, wait running."""
    ec2, wire = tf["ec2"], tf["wire"]
    instance_id = STATE["instance_id"]
    start = wire.mark()
    stopping = ec2.stop_instances(InstanceIds=[instance_id], Force=False)["StoppingInstances"]
    assert stopping == [{"InstanceId": instance_id, "CurrentState": {"Code": 64, "Name": "stopping"},
                         "PreviousState": {"Code": 16, "Name": "running"}}]
    assert tf_wait(ec2, instance_id, STOP_PENDING, STOP_TARGET)["State"] == {"Code": 80, "Name": "stopped"}
    resp = ec2.modify_instance_attribute(InstanceId=instance_id, **attribute)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    starting = ec2.start_instances(InstanceIds=[instance_id])["StartingInstances"]
    assert starting == [{"InstanceId": instance_id, "CurrentState": {"Code": 0, "Name": "pending"},
                         "PreviousState": {"Code": 80, "Name": "stopped"}}]
    assert tf_wait(ec2, instance_id, START_PENDING, START_TARGET)["State"] == {"Code": 16, "Name": "running"}
    return wire.actions(start)


def test_update_instance_type_and_user_data(tf):
    needs("instance_id", "ami", "key")
    actions = modify_with_stop_start(tf, InstanceType={"Value": "t3.small"})
    sent = tf["wire"].last("StopInstances")
    assert (sent["InstanceId.1"], sent["Force"]) == (STATE["instance_id"], "false")
    assert tf["wire"].last("ModifyInstanceAttribute") == {
        "Action": "ModifyInstanceAttribute", "Version": "2016-11-15", "InstanceId": STATE["instance_id"],
        "InstanceType.Value": "t3.small"}
    # Polls repeat; the order does not change.
    assert [a for n, a in enumerate(actions) if n == 0 or actions[n - 1] != a] == [
        "StopInstances", "DescribeInstances", "ModifyInstanceAttribute", "StartInstances", "DescribeInstances"]
    # user_data: the provider decodes it and lets the SDK base64 it again.
    modify_with_stop_start(tf, UserData={"Value": USER_DATA_V2.encode()})
    assert tf["wire"].last("ModifyInstanceAttribute")["UserData.Value"] == base64.b64encode(
        USER_DATA_V2.encode()).decode()
    assert read_instance(tf, instance_type="t3.small", user_data=USER_DATA_V2) == READ_SEQUENCE


def test_update_tags(tf):
    """tags / volume_tags changed in place: the provider's updateTags sends DeleteTags for the
    keys that went and CreateTags for the new values, on the instance and on its volumes."""
    needs("instance_id", "volume_id")
    ec2 = tf["ec2"]
    instance_id, volume_id = STATE["instance_id"], STATE["volume_id"]
    ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "Env", "Value": "prod"}])
    ec2.create_tags(Resources=[volume_id], Tags=[{"Key": "Backup", "Value": "weekly"}])
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert sorted((t["Key"], t["Value"]) for t in reservation["Instances"][0]["Tags"]) == [
        ("Env", "prod"), ("Name", "tf-web")]
    [volume] = ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"]
    assert volume["Tags"] == [{"Key": "Backup", "Value": "weekly"}]
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": "Env", "Value": "prod"}])
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["Tags"] == [{"Key": "Name", "Value": "tf-web"}]


# =========================================================================== terraform destroy


def test_destroy(tf):
    needs("instance_id", "key")
    ec2, wire = tf["ec2"], tf["wire"]
    instance_id = STATE["instance_id"]
    start = wire.mark()
    # aws_instance: protection off, terminate, poll until terminated.
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    assert wire.last("ModifyInstanceAttribute") == {
        "Action": "ModifyInstanceAttribute", "Version": "2016-11-15", "InstanceId": instance_id,
        "DisableApiTermination.Value": "false"}
    terminating = ec2.terminate_instances(InstanceIds=[instance_id])["TerminatingInstances"]
    assert terminating == [{"InstanceId": instance_id, "CurrentState": {"Code": 32, "Name": "shutting-down"},
                            "PreviousState": {"Code": 16, "Name": "running"}}]
    gone = tf_wait(ec2, instance_id, DELETE_PENDING, DELETE_TARGET)
    # The terminated instance stays describable (the provider's waiter needs to see it).
    assert gone["State"] == {"Code": 48, "Name": "terminated"}
    assert gone["StateReason"]["Code"] == "Client.UserInitiatedShutdown"
    # aws_key_pair: DeleteKeyPair(KeyName).
    ec2.delete_key_pair(KeyName=tf["key_name"])
    assert wire.actions(start)[:2] == ["ModifyInstanceAttribute", "TerminateInstances"]
    assert wire.actions(start)[-1] == "DeleteKeyPair"
    # A refresh after destroy: a terminated instance counts as gone, so does the key.
    [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{tf['key_name']}' does not exist"):
        ec2.describe_key_pairs(KeyNames=[tf["key_name"]])
    # The root volume went with the instance (delete_on_termination = true).
    with api_error("InvalidVolume.NotFound", f"The volume '{STATE['volume_id']}' does not exist."):
        ec2.describe_volumes(VolumeIds=[STATE["volume_id"]])
    STATE.pop("instance_id")


def test_apply_and_destroy_with_termination_protection(tf):
    """disable_api_termination = true: RunInstances sends it; destroy turns it off first."""
    ec2 = tf["ec2"]
    needs("ami")
    token = terraform_unique_id()
    resp = ec2.run_instances(
        ImageId=STATE["ami"]["ImageId"], InstanceType="t2.micro", MinCount=1, MaxCount=1, ClientToken=token,
        DisableApiTermination=True, EbsOptimized=False, Monitoring={"Enabled": False},
        HibernationOptions={"Configured": False}, Placement={"AvailabilityZone": ""})
    instance_id = resp["Instances"][0]["InstanceId"]
    STATE["instance_id"] = instance_id
    tf_wait(ec2, instance_id, CREATE_PENDING, CREATE_TARGET)
    assert ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="disableApiTermination")[
        "DisableApiTermination"] == {"Value": True}
    # t2 is burstable too: the provider reads its credits (standard by default).
    assert ec2.describe_instance_credit_specifications(InstanceIds=[instance_id])[
        "InstanceCreditSpecifications"] == [{"InstanceId": instance_id, "CpuCredits": "standard"}]
    with api_error("OperationNotPermitted"):
        ec2.terminate_instances(InstanceIds=[instance_id])
    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert tf_wait(ec2, instance_id, DELETE_PENDING, DELETE_TARGET)["State"]["Name"] == "terminated"
    STATE.pop("instance_id")


# =========================================================================== the default network


def test_apply_and_destroy_in_the_default_vpc(tf):
    """The default network read by data sources, and an instance placed with subnet_id and
    vpc_security_group_ids:

        data "aws_vpc" "default"            { default = true }
        data "aws_subnet" "a"               { vpc_id = data.aws_vpc.default.id  availability_zone = ZONE
                                              default_for_az = true }
        data "aws_security_group" "default" { vpc_id = data.aws_vpc.default.id  name = "default" }
        resource "aws_instance" "net"       { ami = ...  instance_type = "t3.nano"
                                              subnet_id = data.aws_subnet.a.id
                                              vpc_security_group_ids = [data.aws_security_group.default.id] }

    The data sources send only the attribute filters that are set (the provider's
    newAttributeFilterList), under the names it uses (isDefault, availabilityZone, defaultForAz)."""
    needs("ami")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    assert vpc["IsDefault"] is True and vpc["State"] == "available"
    assert vpc["CidrBlock"] == "172.31.0.0/16" and vpc["OwnerId"] == tf["account"].account_id
    [subnet] = ec2.describe_subnets(Filters=[
        {"Name": "availabilityZone", "Values": [ZONE]},
        {"Name": "defaultForAz", "Values": ["true"]},
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
    ])["Subnets"]
    assert (subnet["VpcId"], subnet["AvailabilityZone"], subnet["DefaultForAz"]) == (vpc["VpcId"], ZONE, True)
    assert subnet["State"] == "available"
    [group] = ec2.describe_security_groups(Filters=[
        {"Name": "group-name", "Values": ["default"]},
        {"Name": "vpc-id", "Values": [vpc["VpcId"]]},
    ])["SecurityGroups"]
    # What data.aws_security_group reads: id, name, description, vpc_id, owner.
    assert (group["GroupName"], group["VpcId"], group["OwnerId"]) == ("default", vpc["VpcId"], vpc["OwnerId"])
    assert group["Description"] == "default VPC security group"
    assert wire.actions(start) == ["DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups"]

    token = terraform_unique_id()
    resp = ec2.run_instances(
        ImageId=STATE["ami"]["ImageId"], InstanceType="t3.nano", MinCount=1, MaxCount=1, ClientToken=token,
        SubnetId=subnet["SubnetId"], SecurityGroupIds=[group["GroupId"]],
        DisableApiTermination=False, EbsOptimized=False, Monitoring={"Enabled": False},
        HibernationOptions={"Configured": False}, Placement={"AvailabilityZone": ""},
        CreditSpecification={"CpuCredits": "unlimited"})
    sent = wire.last("RunInstances")
    assert (sent["SubnetId"], sent["SecurityGroupId.1"]) == (subnet["SubnetId"], group["GroupId"])
    instance_id = resp["Instances"][0]["InstanceId"]
    STATE["instance_id"] = instance_id
    instance = tf_wait(ec2, instance_id, CREATE_PENDING, CREATE_TARGET)
    # The provider reads vpc_security_group_ids from groupSet, subnet_id and the VPC back.
    assert (instance["SubnetId"], instance["VpcId"]) == (subnet["SubnetId"], vpc["VpcId"])
    assert instance["Placement"]["AvailabilityZone"] == ZONE
    assert instance["SecurityGroups"] == [{"GroupId": group["GroupId"], "GroupName": "default"}]
    [read_vpc] = ec2.describe_vpcs(VpcIds=[instance["VpcId"]])["Vpcs"]
    assert read_vpc == vpc

    ec2.modify_instance_attribute(InstanceId=instance_id, DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[instance_id])
    assert tf_wait(ec2, instance_id, DELETE_PENDING, DELETE_TARGET)["State"]["Name"] == "terminated"
    STATE.pop("instance_id")


def test_not_found_codes_the_provider_branches_on(tf):
    """A refresh after something was removed outside Terraform: each resource's read gets the
    *.NotFound code the provider takes for "gone" (and removes from its state)."""
    ec2 = tf["ec2"]
    missing = {
        "instance": "i-0123456789abcdef0", "image": "ami-0123456789abcdef0", "vpc": "vpc-0123456789abcdef0",
        "subnet": "subnet-0123456789abcdef0", "group": "sg-0123456789abcdef0", "volume": "vol-0123456789abcdef0",
        "key": uid("tf-gone"),
    }
    with api_error("InvalidInstanceID.NotFound", f"The instance ID '{missing['instance']}' does not exist"):
        ec2.describe_instances(InstanceIds=[missing["instance"]])
    with api_error("InvalidAMIID.NotFound", f"The image id '[{missing['image']}]' does not exist"):
        ec2.describe_images(ImageIds=[missing["image"]])
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{missing['vpc']}' does not exist"):
        ec2.describe_vpcs(VpcIds=[missing["vpc"]])
    with api_error("InvalidSubnetID.NotFound", f"The subnet ID '{missing['subnet']}' does not exist"):
        ec2.describe_subnets(SubnetIds=[missing["subnet"]])
    with api_error("InvalidGroup.NotFound", f"The security group '{missing['group']}' does not exist"):
        ec2.describe_security_groups(GroupIds=[missing["group"]])
    with api_error("InvalidVolume.NotFound", f"The volume '{missing['volume']}' does not exist."):
        ec2.describe_volumes(VolumeIds=[missing["volume"]])
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{missing['key']}' does not exist"):
        ec2.describe_key_pairs(KeyNames=[missing["key"]])
    # Burstable credits of a non-existent instance: the same code (the provider tolerates
    # UnsupportedOperation only).
    with api_error("InvalidInstanceID.NotFound"):
        ec2.describe_instance_credit_specifications(InstanceIds=[missing["instance"]])
