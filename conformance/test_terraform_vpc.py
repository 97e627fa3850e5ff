"""Terraform replay of a VPC network: the EC2 calls the Terraform AWS provider makes for
`terraform apply`, a refresh, in-place updates and `terraform destroy` of

    resource "aws_vpc" "main"       { cidr_block = "10.40.0.0/16"  enable_dns_hostnames = true  tags = { Name = "tf-vpc" } }
    resource "aws_subnet" "a"       { vpc_id = aws_vpc.main.id  cidr_block = "10.40.1.0/24"  availability_zone = ZONE
                                      map_public_ip_on_launch = true  tags = { Name = "tf-subnet" } }
    resource "aws_internet_gateway" "gw" { vpc_id = aws_vpc.main.id  tags = { Name = "tf-igw" } }
    resource "aws_route_table" "public"  { vpc_id = aws_vpc.main.id  tags = { Name = "tf-public" } }
    resource "aws_route_table" "private" { vpc_id = aws_vpc.main.id  tags = { Name = "tf-private" } }
    resource "aws_route" "default"  { route_table_id = aws_route_table.public.id  destination_cidr_block = "0.0.0.0/0"
                                      gateway_id = aws_internet_gateway.gw.id }
    resource "aws_route_table_association" "a" { subnet_id = aws_subnet.a.id  route_table_id = aws_route_table.public.id }
    resource "aws_instance" "web"   { ami = ...  instance_type = "t3.micro"  subnet_id = aws_subnet.a.id
                                      vpc_security_group_ids = [aws_vpc.main.default_security_group_id] }
    resource "aws_eip" "web"        { domain = "vpc"  tags = { Name = "tf-eip" } }
    resource "aws_eip_association" "web" { allocation_id = aws_eip.web.id  instance_id = aws_instance.web.id }
    resource "aws_network_interface" "extra" { subnet_id = aws_subnet.a.id  description = "tf-eni"
                                      security_groups = [aws_vpc.main.default_security_group_id]  tags = { Name = "tf-eni" }
                                      attachment { instance = aws_instance.web.id  device_index = 1 } }
    resource "aws_route" "peer"     { route_table_id = aws_route_table.private.id  destination_cidr_block = "192.168.0.0/16"
                                      network_interface_id = aws_network_interface.extra.id }

then, in place: the association moved to aws_route_table.private (ReplaceRouteTableAssociation),
the interface's description changed (ModifyNetworkInterfaceAttribute) and aws_route.peer sent to
the instance's primary interface (ReplaceRoute).

Replayed with boto3 (the same wire protocol), in the provider's order, with the parameters and
filters it sends and the waiters it runs (their pending and target states, the `ready` checks
that must hold twice in a row), asserting every field the provider reads from each answer. Read
from the provider's source (hashicorp/terraform-provider-aws internal/service/ec2: vpc_.go,
vpc_subnet.go, vpc_internet_gateway.go, vpc_route_table.go, vpc_route_table_association.go,
vpc_route.go, ec2_eip.go, ec2_eip_association.go, vpc_network_interface.go, find.go, wait.go,
status.go, filter.go; v5.x and the 2026 v6 subnet delete). Terraform itself cannot be installed
here; the calls are what it would send.

The tests run in file order and share the state of one apply (`STATE`), as Terraform does.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import re
import time
from urllib.parse import parse_qsl

import pytest
from botocore.exceptions import ClientError

from assertions import api_error, uid

ZONE = "us-east-1a"
ZONE_ID = "use1-az1"
VPC_CIDR = "10.40.0.0/16"
SUBNET_CIDR = "10.40.1.0/24"
PEER_CIDR = "192.168.0.0/16"
POLL_TIMEOUT = 30.0
POLL_INTERVAL = 0.2
# helper/retry.StateChangeConf's default NotFoundChecks.
NOT_FOUND_CHECKS = 20

STATE: dict = {}
_unique = itertools.count(1)


def terraform_unique_id() -> str:
    """helper/id.UniqueId(): "terraform-" + UTC timestamp to 1/10000 s + an 8-hex-digit counter."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"terraform-{now.strftime('%Y%m%d%H%M%S')}{now.microsecond // 100:04d}{next(_unique):08x}"


def f(name: str, *values: str) -> dict:
    return {"Name": name, "Values": list(values)}


def tags(**kv: str) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in kv.items()]


def tag_spec(resource_type: str, **kv: str) -> list[dict]:
    """getTagSpecificationsIn: one TagSpecification of the resource's type with its tags."""
    return [{"ResourceType": resource_type, "Tags": tags(**kv)}]


class Wire:
    """Every request the client sends: (Action, the form parameters as sent, empty ones kept)."""

    def __init__(self, client):
        self.requests: list[tuple[str, dict[str, str]]] = []
        client.meta.events.register("before-send.ec2", self._record)

    def _record(self, request, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.pop("Version", None)
        self.requests.append((params.pop("Action", "?"), params))

    def mark(self) -> int:
        return len(self.requests)

    def actions(self, since: int = 0) -> list[str]:
        return [a for a, _ in self.requests[since:]]

    def distinct(self, since: int = 0) -> list[str]:
        """The actions sent, a poll's repeats folded into one."""
        out: list[str] = []
        for a in self.actions(since):
            if not out or out[-1] != a:
                out.append(a)
        return out

    def last(self, action: str) -> dict[str, str]:
        return [p for a, p in self.requests if a == action][-1]

    def since(self, start: int, action: str) -> list[dict[str, str]]:
        return [p for a, p in self.requests[start:] if a == action]


class NotFound(Exception):
    """The provider's retry.NotFoundError / tfresource.EmptyResultError."""


def state_change(what: str, refresh, pending, target, *, continuous: int = 1,
                 not_found_checks: int = NOT_FOUND_CHECKS, timeout: float = POLL_TIMEOUT):
    """helper/retry.StateChangeConf.WaitForStateContext: refresh() returns (object, state) or
    raises NotFound. A state in `target` `continuous` times in a row ends the wait; a state
    outside pending (when pending is not empty) and target fails at once; not found ends a wait
    whose target is empty, and is tolerated `not_found_checks` times otherwise."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    in_target = not_found = 0
    while True:
        try:
            obj, state = refresh()
        except NotFound:
            obj, state = None, None
        if state is None:
            if not target:
                in_target += 1
                if in_target >= continuous:
                    return None
            else:
                in_target = 0
                not_found += 1
                if not_found > not_found_checks:
                    raise NotFound(f"{what}: not found {not_found} times (seen {seen})")
        else:
            if not seen or seen[-1] != state:
                seen.append(state)
            if state in target:
                in_target += 1
                if in_target >= continuous:
                    return obj
            elif pending and state not in pending:
                raise AssertionError(f"{what}: unexpected state {state!r}, wanted {target} (seen {seen}); "
                                     "Terraform fails here")
            else:
                in_target = 0
        assert time.monotonic() < deadline, f"{what}: not {target} after {timeout} s (seen {seen})"
        time.sleep(POLL_INTERVAL)


def single(items: list, request: str):
    """tfresource.AssertSingleValueResult: no result is NotFound, more than one an error."""
    if not items:
        raise NotFound(request)
    assert len(items) == 1, f"{request}: {len(items)} results, the provider wants exactly one"
    return items[0]


def not_found_on(*codes: str):
    """The finders turn these codes into NotFound."""

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except ClientError as e:
            if e.response["Error"]["Code"] in codes:
                raise NotFound(e.response["Error"]["Code"]) from e
            raise

    return guard()


# --------------------------------------------------------------------------- the provider's finders


def find_vpc(ec2, vpc_id: str) -> dict:
    with not_found_on("InvalidVpcID.NotFound"):
        vpc = single(ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"], "DescribeVpcs")
    if vpc["VpcId"] != vpc_id:
        raise NotFound("eventual consistency")
    return vpc


def find_vpc_attribute(ec2, vpc_id: str, attribute: str) -> bool:
    with not_found_on("InvalidVpcID.NotFound"):
        answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
    key = attribute[0].upper() + attribute[1:]
    # A missing element is a nil dereference in the provider.
    assert key in answer and "Value" in answer[key], answer
    return answer[key]["Value"]


def find_subnet(ec2, subnet_id: str) -> dict:
    with not_found_on("InvalidSubnetID.NotFound"):
        subnet = single(ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"], "DescribeSubnets")
    if subnet["SubnetId"] != subnet_id:
        raise NotFound("eventual consistency")
    return subnet


def find_internet_gateway(ec2, igw_id: str) -> dict:
    with not_found_on("InvalidInternetGatewayID.NotFound"):
        igw = single(ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"],
                     "DescribeInternetGateways")
    if igw["InternetGatewayId"] != igw_id:
        raise NotFound("eventual consistency")
    return igw


def find_internet_gateway_attachment(ec2, igw_id: str, vpc_id: str) -> dict:
    igw = find_internet_gateway(ec2, igw_id)
    if not igw["Attachments"]:
        raise NotFound("no attachment")
    assert len(igw["Attachments"]) == 1, igw
    attachment = igw["Attachments"][0]
    if attachment["VpcId"] != vpc_id:
        raise NotFound("attached elsewhere")
    return attachment


def find_route_table(ec2, **kwargs) -> dict:
    with not_found_on("InvalidRouteTableID.NotFound"):
        return single(ec2.describe_route_tables(**kwargs)["RouteTables"], "DescribeRouteTables")


def find_route_table_by_id(ec2, table_id: str) -> dict:
    table = find_route_table(ec2, RouteTableIds=[table_id])
    if table["RouteTableId"] != table_id:
        raise NotFound("eventual consistency")
    return table


def find_route_by_ipv4_destination(ec2, table_id: str, destination: str) -> dict:
    table = find_route_table_by_id(ec2, table_id)
    for route in table["Routes"]:
        if route.get("DestinationCidrBlock") == destination:
            return route
    raise NotFound(f"no route to {destination}")


def find_route_table_association(ec2, association_id: str) -> dict:
    table = find_route_table(ec2, Filters=[f("association.route-table-association-id", association_id)])
    for association in table["Associations"]:
        if association["RouteTableAssociationId"] == association_id:
            if association.get("AssociationState", {}).get("State") == "disassociated":
                raise NotFound("disassociated")
            return association
    raise NotFound("no association")


def find_eip(ec2, **kwargs) -> dict:
    with not_found_on("InvalidAllocationID.NotFound", "InvalidAddress.NotFound"):
        return single(ec2.describe_addresses(**kwargs)["Addresses"], "DescribeAddresses")


def find_network_interface(ec2, eni_id: str) -> dict:
    with not_found_on("InvalidNetworkInterfaceID.NotFound"):
        eni = single(ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])["NetworkInterfaces"],
                     "DescribeNetworkInterfaces")
    if eni["NetworkInterfaceId"] != eni_id:
        raise NotFound("eventual consistency")
    return eni


def find_network_interface_attachment(ec2, attachment_id: str) -> dict:
    with not_found_on("InvalidNetworkInterfaceID.NotFound"):
        eni = single(ec2.describe_network_interfaces(
            Filters=[f("attachment.attachment-id", attachment_id)])["NetworkInterfaces"], "DescribeNetworkInterfaces")
    if "Attachment" not in eni:
        raise NotFound("no attachment")
    return eni["Attachment"]


def find_instance(ec2, instance_id: str) -> dict:
    with not_found_on("InvalidInstanceID.NotFound"):
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    instance = single([i for r in reservations for i in r["Instances"]], "DescribeInstances")
    assert "State" in instance, instance
    return instance


# --------------------------------------------------------------------------- fixture


@pytest.fixture(scope="module")
def tf(gateway, client_for, import_image):
    """The provider's view of the world: an account of its own (its listings and limits are this
    module's alone), an image, one EC2 client with a wire recorder. Whatever a failed test left
    is destroyed afterwards, so the host and the account's limits stay free."""
    account = gateway.create_account()
    client = client_for(account)
    image_id = import_image(uid("tf-vpc-ami"), account)["ImageId"]
    STATE.clear()
    yield {"account": account, "ec2": client, "wire": Wire(client), "image_id": image_id}
    cleanup(client)


def cleanup(ec2) -> None:
    """Everything the account made, gone (best effort, in dependency order)."""
    def quiet(call, **kwargs):
        with contextlib.suppress(ClientError):
            call(**kwargs)

    live = ["pending", "running", "stopping", "stopped", "shutting-down"]
    ids = [i["InstanceId"] for r in ec2.describe_instances(Filters=[f("instance-state-name", *live)])["Reservations"]
           for i in r["Instances"]]
    for a in ec2.describe_addresses()["Addresses"]:
        if a.get("AssociationId"):
            quiet(ec2.disassociate_address, AssociationId=a["AssociationId"])
        quiet(ec2.release_address, AllocationId=a["AllocationId"])
    if ids:
        quiet(ec2.terminate_instances, InstanceIds=ids)
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs(Filters=[f("is-default", "false")])["Vpcs"]]
    deadline = time.monotonic() + 60
    for eni in ec2.describe_network_interfaces(Filters=[f("vpc-id", *vpcs)] if vpcs else [])["NetworkInterfaces"]:
        if eni.get("Attachment") and eni["Attachment"].get("DeviceIndex", 0) != 0:
            quiet(ec2.detach_network_interface, AttachmentId=eni["Attachment"]["AttachmentId"], Force=True)
    while vpcs and time.monotonic() < deadline:
        left = ec2.describe_network_interfaces(Filters=[f("vpc-id", *vpcs)])["NetworkInterfaces"]
        for eni in left:
            if eni["Status"] == "available":
                quiet(ec2.delete_network_interface, NetworkInterfaceId=eni["NetworkInterfaceId"])
        if not left:
            break
        time.sleep(0.5)
    for vpc_id in vpcs:
        for t in ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id)])["RouteTables"]:
            for a in t["Associations"]:
                if not a["Main"]:
                    quiet(ec2.disassociate_route_table, AssociationId=a["RouteTableAssociationId"])
            if not any(a["Main"] for a in t["Associations"]):
                quiet(ec2.delete_route_table, RouteTableId=t["RouteTableId"])
        for g in ec2.describe_internet_gateways(Filters=[f("attachment.vpc-id", vpc_id)])["InternetGateways"]:
            quiet(ec2.detach_internet_gateway, InternetGatewayId=g["InternetGatewayId"], VpcId=vpc_id)
        for s in ec2.describe_subnets(Filters=[f("vpc-id", vpc_id)])["Subnets"]:
            quiet(ec2.delete_subnet, SubnetId=s["SubnetId"])
        quiet(ec2.delete_vpc, VpcId=vpc_id)
    for g in ec2.describe_internet_gateways()["InternetGateways"]:
        if not g["Attachments"]:
            quiet(ec2.delete_internet_gateway, InternetGatewayId=g["InternetGatewayId"])


def needs(*keys: str) -> None:
    missing = [k for k in keys if k not in STATE]
    if missing:
        pytest.fail(f"an earlier replay step failed (no {', '.join(missing)} in the apply's state)", pytrace=False)


# =========================================================================== aws_vpc


def read_vpc(tf) -> list[str]:
    """resourceVPCRead: DescribeVpcs, the three attributes, the default network ACL, the main
    route table and the default security group (each found by the filters the provider sends,
    sorted by name as newAttributeFilterList does); every field it reads."""
    ec2, wire = tf["ec2"], tf["wire"]
    vpc_id = STATE["vpc_id"]
    start = wire.mark()
    vpc = find_vpc(ec2, vpc_id)
    assert vpc["CidrBlock"] == VPC_CIDR
    assert re.fullmatch(r"dopt-[0-9a-f]{8,17}", vpc["DhcpOptionsId"]), vpc
    assert vpc["InstanceTenancy"] == "default"
    assert vpc["OwnerId"] == tf["account"].account_id
    assert vpc["State"] == "available" and vpc["IsDefault"] is False
    assert vpc["Tags"] == tags(Name="tf-vpc")
    # defaultIPv6CIDRBlockAssociation: no IPv6 block, so none is set.
    assert vpc.get("Ipv6CidrBlockAssociationSet", []) == []
    assert [(a["CidrBlock"], a["CidrBlockState"]["State"]) for a in vpc["CidrBlockAssociationSet"]] == [
        (VPC_CIDR, "associated")]
    attributes = {a: find_vpc_attribute(ec2, vpc_id, a)
                  for a in ("enableDnsHostnames", "enableDnsSupport", "enableNetworkAddressUsageMetrics")}
    assert attributes == {"enableDnsHostnames": True, "enableDnsSupport": True,
                          "enableNetworkAddressUsageMetrics": False}
    # findVPCDefaultNetworkACL: exactly one.
    acl = single(ec2.describe_network_acls(Filters=[f("default", "true"), f("vpc-id", vpc_id)])["NetworkAcls"],
                 "DescribeNetworkAcls")
    assert re.fullmatch(r"acl-[0-9a-f]{17}", acl["NetworkAclId"]) and acl["VpcId"] == vpc_id and acl["IsDefault"]
    # findVPCMainRouteTable: exactly one.
    main = find_route_table(ec2, Filters=[f("association.main", "true"), f("vpc-id", vpc_id)])
    assert re.fullmatch(r"rtb-[0-9a-f]{17}", main["RouteTableId"]) and main["VpcId"] == vpc_id
    # findVPCDefaultSecurityGroup: exactly one.
    group = single(ec2.describe_security_groups(
        Filters=[f("group-name", "default"), f("vpc-id", vpc_id)])["SecurityGroups"], "DescribeSecurityGroups")
    assert group["GroupName"] == "default" and group["VpcId"] == vpc_id
    assert re.fullmatch(r"sg-[0-9a-f]{17}", group["GroupId"])
    sent = wire.requests[start:]
    assert [p for a, p in sent if a == "DescribeNetworkAcls"] == [
        {"Filter.1.Name": "default", "Filter.1.Value.1": "true", "Filter.2.Name": "vpc-id", "Filter.2.Value.1": vpc_id}]
    assert [p for a, p in sent if a == "DescribeRouteTables"] == [
        {"Filter.1.Name": "association.main", "Filter.1.Value.1": "true",
         "Filter.2.Name": "vpc-id", "Filter.2.Value.1": vpc_id}]
    STATE.update(acl_id=acl["NetworkAclId"], main_rtb_id=main["RouteTableId"], default_sg_id=group["GroupId"],
                 dhcp_options_id=vpc["DhcpOptionsId"])
    return wire.actions(start)


VPC_READ = ["DescribeVpcs", "DescribeVpcAttribute", "DescribeVpcAttribute", "DescribeVpcAttribute",
            "DescribeNetworkAcls", "DescribeRouteTables", "DescribeSecurityGroups"]


def test_aws_vpc_create_and_read(tf):
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    created = ec2.create_vpc(CidrBlock=VPC_CIDR, AmazonProvidedIpv6CidrBlock=False, InstanceTenancy="default",
                             TagSpecifications=tag_spec("vpc", Name="tf-vpc"))["Vpc"]
    assert wire.last("CreateVpc") == {
        "CidrBlock": VPC_CIDR, "AmazonProvidedIpv6CidrBlock": "false", "InstanceTenancy": "default",
        "TagSpecification.1.ResourceType": "vpc", "TagSpecification.1.Tag.1.Key": "Name",
        "TagSpecification.1.Tag.1.Value": "tf-vpc"}
    vpc_id = created["VpcId"]
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc_id)
    STATE["vpc_id"] = vpc_id
    # waitVPCCreated: DescribeVpcs(VpcId.1), pending -> available.
    vpc = state_change("VPC create", lambda: (lambda v: (v, v["State"]))(find_vpc(ec2, vpc_id)),
                       ["pending"], ["available"])
    # No IPv6 block: no association waiter. modifyVPCAttributesOnCreate: enable_dns_hostnames =
    # true differs from a new VPC's false, the other two match their defaults.
    assert vpc.get("Ipv6CidrBlockAssociationSet", []) == []
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    assert wire.last("ModifyVpcAttribute") == {"EnableDnsHostnames.Value": "true", "VpcId": vpc_id}
    # waitVPCAttributeUpdated: DescribeVpcAttribute until the value reads "true".
    state_change("enableDnsHostnames", lambda: (True, str(find_vpc_attribute(ec2, vpc_id, "enableDnsHostnames")).lower()),
                 [], ["true"])
    assert wire.distinct(start) == ["CreateVpc", "DescribeVpcs", "ModifyVpcAttribute", "DescribeVpcAttribute"]
    assert read_vpc(tf) == VPC_READ


# =========================================================================== aws_subnet


def read_subnet(tf) -> dict:
    """resourceSubnetRead (resourceSubnetFlatten): DescribeSubnets(SubnetId.1)."""
    subnet = find_subnet(tf["ec2"], STATE["subnet_id"])
    account = tf["account"].account_id
    assert subnet["SubnetArn"] == f"arn:aws:ec2:us-east-1:{account}:subnet/{STATE['subnet_id']}"
    assert subnet["AssignIpv6AddressOnCreation"] is False
    assert (subnet["AvailabilityZone"], subnet["AvailabilityZoneId"]) == (ZONE, ZONE_ID)
    assert subnet["CidrBlock"] == SUBNET_CIDR
    assert subnet["EnableDns64"] is False and subnet["Ipv6Native"] is False
    assert subnet["MapCustomerOwnedIpOnLaunch"] is False
    assert subnet["MapPublicIpOnLaunch"] is True
    assert (subnet["OwnerId"], subnet["VpcId"]) == (account, STATE["vpc_id"])
    assert subnet["State"] == "available"
    for absent in ("CustomerOwnedIpv4Pool", "OutpostArn", "EnableLniAtDeviceIndex"):
        assert absent not in subnet, absent
    assert subnet.get("Ipv6CidrBlockAssociationSet", []) == []
    assert subnet["PrivateDnsNameOptionsOnLaunch"] == {
        "HostnameType": "ip-name", "EnableResourceNameDnsARecord": False, "EnableResourceNameDnsAAAARecord": False}
    assert subnet["Tags"] == tags(Name="tf-subnet")
    return subnet


def test_aws_subnet_create_and_read(tf):
    needs("vpc_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    created = ec2.create_subnet(VpcId=STATE["vpc_id"], CidrBlock=SUBNET_CIDR, AvailabilityZone=ZONE,
                                TagSpecifications=tag_spec("subnet", Name="tf-subnet"))["Subnet"]
    subnet_id = created["SubnetId"]
    STATE["subnet_id"] = subnet_id
    # waitSubnetAvailable: DescribeSubnets(SubnetId.1), pending -> available.
    subnet = state_change("subnet create", lambda: (lambda s: (s, s["State"]))(find_subnet(ec2, subnet_id)),
                          ["pending"], ["available"])
    # modifySubnetAttributesOnCreate compares each attribute with the answer: only
    # map_public_ip_on_launch differs (the PrivateDnsNameOptionsOnLaunch booleans and the
    # customer-owned pair match their defaults, so nothing is sent for them).
    assert subnet["MapPublicIpOnLaunch"] is False
    assert subnet["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsAAAARecord"] is False
    assert subnet["PrivateDnsNameOptionsOnLaunch"]["EnableResourceNameDnsARecord"] is False
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    assert wire.last("ModifySubnetAttribute") == {"MapPublicIpOnLaunch.Value": "true", "SubnetId": subnet_id}
    # waitSubnetMapPublicIPOnLaunchUpdated: DescribeSubnets until it reads "true".
    state_change("MapPublicIpOnLaunch", lambda: (True, str(find_subnet(ec2, subnet_id)["MapPublicIpOnLaunch"]).lower()),
                 [], ["true"])
    read_subnet(tf)
    assert wire.distinct(start) == ["CreateSubnet", "DescribeSubnets", "ModifySubnetAttribute", "DescribeSubnets"]
    # The VPC's default network ACL covers the new subnet (as on EC2).
    [acl] = ec2.describe_network_acls(NetworkAclIds=[STATE["acl_id"]])["NetworkAcls"]
    assert [a["SubnetId"] for a in acl["Associations"]] == [subnet_id]
    assert all(a["NetworkAclId"] == STATE["acl_id"] and a["NetworkAclAssociationId"].startswith("aclassoc-")
               for a in acl["Associations"])


# =========================================================================== aws_internet_gateway


def read_internet_gateway(tf) -> dict:
    igw = find_internet_gateway(tf["ec2"], STATE["igw_id"])
    assert igw["OwnerId"] == tf["account"].account_id
    assert igw["Attachments"] == [{"State": "available", "VpcId": STATE["vpc_id"]}]
    assert igw["Tags"] == tags(Name="tf-igw")
    return igw


def test_aws_internet_gateway_create_attach_and_read(tf):
    needs("vpc_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    created = ec2.create_internet_gateway(TagSpecifications=tag_spec("internet-gateway", Name="tf-igw"))
    igw_id = created["InternetGateway"]["InternetGatewayId"]
    assert re.fullmatch(r"igw-[0-9a-f]{17}", igw_id)
    STATE["igw_id"] = igw_id
    # attachInternetGateway (retried on InvalidInternetGatewayID.NotFound), then
    # WaitInternetGatewayAttached: DescribeInternetGateways(InternetGatewayId.1) until the
    # attachment is "available" (pending "attaching"; NotFoundChecks 1000).
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=STATE["vpc_id"])
    assert wire.last("AttachInternetGateway") == {"InternetGatewayId": igw_id, "VpcId": STATE["vpc_id"]}
    state_change("internet gateway attach",
                 lambda: (lambda a: (a, a["State"]))(find_internet_gateway_attachment(ec2, igw_id, STATE["vpc_id"])),
                 ["attaching"], ["available"], not_found_checks=1000)
    read_internet_gateway(tf)
    assert wire.distinct(start) == ["CreateInternetGateway", "AttachInternetGateway", "DescribeInternetGateways"]


# =========================================================================== aws_route_table


def read_route_table(tf, table_id: str, name: str, routes: list[dict]) -> dict:
    """resourceRouteTableRead: DescribeRouteTables(RouteTableId.1); flattenRoutes skips the
    local route and, for a route to an interface, reads the interface (DescribeNetworkInterfaces)
    to skip other accounts' interfaces (their attachment's instanceOwnerId)."""
    ec2 = tf["ec2"]
    table = find_route_table_by_id(ec2, table_id)
    assert table["OwnerId"] == tf["account"].account_id
    assert table["PropagatingVgws"] == []
    assert table["VpcId"] == STATE["vpc_id"]
    assert table["Tags"] == tags(Name=name)
    local = [r for r in table["Routes"] if r.get("GatewayId") == "local"]
    assert local == [{"DestinationCidrBlock": VPC_CIDR, "GatewayId": "local", "Origin": "CreateRouteTable",
                      "State": "active"}]
    kept = []
    for route in table["Routes"]:
        if route.get("GatewayId") == "local" or route.get("Origin") == "EnableVgwRoutePropagation":
            continue
        if route.get("NetworkInterfaceId"):
            eni = find_network_interface(ec2, route["NetworkInterfaceId"])
            attachment = eni.get("Attachment")
            if attachment is not None:
                assert attachment.get("InstanceOwnerId") == eni["OwnerId"], (
                    "the provider drops a route whose interface's attachment has another (or no) instanceOwnerId",
                    eni)
        kept.append(route)
    assert kept == routes, table["Routes"]
    return table


def test_aws_route_table_create_and_read(tf):
    needs("vpc_id")
    ec2, wire = tf["ec2"], tf["wire"]
    for key, name in (("public_rtb_id", "tf-public"), ("private_rtb_id", "tf-private")):
        start = wire.mark()
        created = ec2.create_route_table(VpcId=STATE["vpc_id"], TagSpecifications=tag_spec("route-table", Name=name))
        table_id = created["RouteTable"]["RouteTableId"]
        sent = dict(wire.last("CreateRouteTable"))
        # ClientToken is an idempotency token: the SDK fills it (a UUID), as the Go SDK does.
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", sent.pop("ClientToken"))
        assert sent == {
            "VpcId": STATE["vpc_id"], "TagSpecification.1.ResourceType": "route-table",
            "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": name}
        STATE[key] = table_id
        # WaitRouteTableReady: found ("ready") twice in a row, NotFoundChecks 1000.
        state_change("route table ready", lambda: (find_route_table_by_id(ec2, table_id), "ready"), [], ["ready"],
                     continuous=2, not_found_checks=1000)
        read_route_table(tf, table_id, name, [])
        assert wire.distinct(start) == ["CreateRouteTable", "DescribeRouteTables"]


# =========================================================================== aws_route


def read_route(tf, table_id: str, destination: str) -> dict:
    """resourceRouteRead: the route table's route to the destination, every target field."""
    route = find_route_by_ipv4_destination(tf["ec2"], table_id, destination)
    assert route["DestinationCidrBlock"] == destination
    assert route["Origin"] == "CreateRoute"
    for absent in ("CarrierGatewayId", "CoreNetworkArn", "DestinationIpv6CidrBlock", "DestinationPrefixListId",
                   "EgressOnlyInternetGatewayId", "NatGatewayId", "LocalGatewayId", "TransitGatewayId",
                   "VpcPeeringConnectionId"):
        assert absent not in route, (absent, route)
    return route


def create_route(tf, table_id: str, destination: str, **target) -> dict:
    ec2, wire = tf["ec2"], tf["wire"]
    answer = ec2.create_route(RouteTableId=table_id, DestinationCidrBlock=destination, **target)
    assert answer["Return"] is True
    assert wire.last("CreateRoute") == {"RouteTableId": table_id, "DestinationCidrBlock": destination, **target}
    # WaitRouteReady: the route found twice in a row (NotFoundChecks 1000).
    state_change("route ready", lambda: (find_route_by_ipv4_destination(ec2, table_id, destination), "ready"),
                 [], ["ready"], continuous=2, not_found_checks=1000)
    return read_route(tf, table_id, destination)


def test_aws_route_create_and_read(tf):
    needs("public_rtb_id", "igw_id")
    wire = tf["wire"]
    start = wire.mark()
    route = create_route(tf, STATE["public_rtb_id"], "0.0.0.0/0", GatewayId=STATE["igw_id"])
    assert route == {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": STATE["igw_id"], "Origin": "CreateRoute",
                     "State": "active"}
    assert wire.distinct(start) == ["CreateRoute", "DescribeRouteTables"]
    read_route_table(tf, STATE["public_rtb_id"], "tf-public", [route])


# =========================================================================== aws_route_table_association


def read_association(tf, association_id: str, table_id: str) -> dict:
    association = find_route_table_association(tf["ec2"], association_id)
    assert association == {"Main": False, "RouteTableAssociationId": association_id, "RouteTableId": table_id,
                           "SubnetId": STATE["subnet_id"], "AssociationState": {"State": "associated"}}
    return association


def test_aws_route_table_association_create_and_read(tf):
    needs("public_rtb_id", "subnet_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    answer = ec2.associate_route_table(RouteTableId=STATE["public_rtb_id"], SubnetId=STATE["subnet_id"])
    association_id = answer["AssociationId"]
    assert re.fullmatch(r"rtbassoc-[0-9a-f]{17}", association_id)
    assert answer["AssociationState"] == {"State": "associated"}
    STATE["association_id"] = association_id
    # WaitRouteTableAssociationCreated: DescribeRouteTables(association.route-table-association-id),
    # associating -> associated (NotFoundChecks 1000).
    state_change("association create",
                 lambda: (lambda a: (a, a["AssociationState"]["State"]))(find_route_table_association(ec2, association_id)),
                 ["associating"], ["associated"], not_found_checks=1000)
    assert wire.last("DescribeRouteTables") == {"Filter.1.Name": "association.route-table-association-id",
                                                "Filter.1.Value.1": association_id}
    read_association(tf, association_id, STATE["public_rtb_id"])
    assert wire.distinct(start) == ["AssociateRouteTable", "DescribeRouteTables"]


# =========================================================================== aws_instance


def read_instance(tf, *, eni_count: int) -> dict:
    """resourceInstanceRead (the parts a subnet and groups change; test_terraform_replay.py has
    the rest): DescribeInstances, DescribeInstanceTypes, DescribeTags(launch template),
    DescribeVpcs(VpcId.1), the attributes, DescribeVolumes, the credits."""
    ec2 = tf["ec2"]
    instance_id = STATE["instance_id"]
    instance = find_instance(ec2, instance_id)
    assert instance["State"] == {"Code": 16, "Name": "running"}
    assert (instance["SubnetId"], instance["VpcId"]) == (STATE["subnet_id"], STATE["vpc_id"])
    assert instance["Placement"]["AvailabilityZone"] == ZONE
    # vpc_security_group_ids is read from groupSet when the instance has a subnet.
    assert instance["SecurityGroups"] == [{"GroupId": STATE["default_sg_id"], "GroupName": "default"}]
    private = instance["PrivateIpAddress"]
    assert private.startswith("10.40.1.")
    assert instance["PrivateDnsName"] == f"ip-{private.replace('.', '-')}.ec2.internal"
    # The subnet maps a public address at launch; enable_dns_hostnames = true, but public DNS
    # names are not served (an empty string, as for the default VPC).
    assert "PublicIpAddress" in instance
    assert instance["SourceDestCheck"] is True
    # Every networkInterfaceSet item carries attachment.deviceIndex; the primary one is device 0.
    enis = sorted(instance["NetworkInterfaces"], key=lambda e: e["Attachment"]["DeviceIndex"])
    assert [e["Attachment"]["DeviceIndex"] for e in enis] == list(range(eni_count))
    primary = enis[0]
    assert primary["PrivateIpAddress"] == private and primary["SubnetId"] == STATE["subnet_id"]
    assert primary["Groups"] == [{"GroupId": STATE["default_sg_id"], "GroupName": "default"}]
    assert primary["Attachment"]["DeleteOnTermination"] is True
    [itype] = ec2.describe_instance_types(InstanceTypes=[instance["InstanceType"]])["InstanceTypes"]
    assert itype["BurstablePerformanceSupported"] is True
    assert ec2.describe_tags(Filters=[f("resource-id", instance_id), f("key", "aws:ec2launchtemplate:id")])["Tags"] == []
    [vpc] = ec2.describe_vpcs(VpcIds=[instance["VpcId"]])["Vpcs"]
    assert vpc["IsDefault"] is False
    assert ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")[
        "InstanceInitiatedShutdownBehavior"] == {"Value": "stop"}
    [bdm] = instance["BlockDeviceMappings"]
    [volume] = ec2.describe_volumes(VolumeIds=[bdm["Ebs"]["VolumeId"]])["Volumes"]
    assert volume["Attachments"][0]["InstanceId"] == instance_id
    for attribute, key in (("disableApiStop", "DisableApiStop"), ("disableApiTermination", "DisableApiTermination")):
        assert ec2.describe_instance_attribute(InstanceId=instance_id, Attribute=attribute)[key] == {"Value": False}
    assert "UserData" in ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
    assert ec2.describe_instance_credit_specifications(InstanceIds=[instance_id])[
        "InstanceCreditSpecifications"] == [{"InstanceId": instance_id, "CpuCredits": "unlimited"}]
    STATE["primary_eni_id"] = primary["NetworkInterfaceId"]
    return instance


INSTANCE_READ = [
    "DescribeInstances", "DescribeInstanceTypes", "DescribeTags", "DescribeVpcs", "DescribeInstanceAttribute",
    "DescribeVolumes", "DescribeInstanceAttribute", "DescribeInstanceAttribute", "DescribeInstanceAttribute",
    "DescribeInstanceCreditSpecifications",
]


def test_aws_instance_in_the_subnet(tf):
    needs("subnet_id", "default_sg_id")
    ec2, wire = tf["ec2"], tf["wire"]
    token = terraform_unique_id()
    start = wire.mark()
    resp = ec2.run_instances(
        ImageId=tf["image_id"], InstanceType="t3.micro", MinCount=1, MaxCount=1, ClientToken=token,
        SubnetId=STATE["subnet_id"], SecurityGroupIds=[STATE["default_sg_id"]],
        DisableApiTermination=False, EbsOptimized=False, Monitoring={"Enabled": False},
        HibernationOptions={"Configured": False}, Placement={"AvailabilityZone": ""},
        CreditSpecification={"CpuCredits": "unlimited"})
    sent = wire.last("RunInstances")
    assert (sent["SubnetId"], sent["SecurityGroupId.1"], sent["Placement.AvailabilityZone"]) == (
        STATE["subnet_id"], STATE["default_sg_id"], "")
    instance_id = resp["Instances"][0]["InstanceId"]
    STATE["instance_id"] = instance_id
    state_change("instance create", lambda: (lambda i: (i, i["State"]["Name"]))(find_instance(ec2, instance_id)),
                 ["pending"], ["running"])
    read_start = wire.mark()
    instance = read_instance(tf, eni_count=1)
    assert wire.actions(read_start) == INSTANCE_READ
    assert wire.distinct(start)[:2] == ["RunInstances", "DescribeInstances"]
    STATE["launch_public_ip"] = instance["PublicIpAddress"]


# =========================================================================== aws_eip, aws_eip_association


def read_eip(tf) -> dict:
    """resourceEIPRead: DescribeAddresses(AllocationId.1), then the domain-name attribute
    (DescribeAddressesAttribute; not found and InvalidAction are tolerated, other errors fail)."""
    ec2 = tf["ec2"]
    alloc_id = STATE["allocation_id"]
    address = find_eip(ec2, AllocationIds=[alloc_id])
    assert address["AllocationId"] == alloc_id
    assert address["Domain"] == "vpc"
    assert address["PublicIp"] == STATE["public_ip"]
    assert address["PublicIpv4Pool"] == "amazon" and address["NetworkBorderGroup"] == "us-east-1"
    for absent in ("CarrierIp", "CustomerOwnedIp", "CustomerOwnedIpv4Pool"):
        assert absent not in address, absent
    assert address["Tags"] == tags(Name="tf-eip")
    attrs = ec2.describe_addresses_attribute(AllocationIds=[alloc_id], Attribute="domain-name")["Addresses"]
    # No reverse DNS record: no item, or one without a PtrRecord (ptr_record = null).
    assert attrs == [] or (len(attrs) == 1 and attrs[0]["AllocationId"] == alloc_id and not attrs[0].get("PtrRecord")), attrs
    return address


def test_aws_eip_create_and_read(tf):
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    answer = ec2.allocate_address(Domain="vpc", TagSpecifications=tag_spec("elastic-ip", Name="tf-eip"))
    assert wire.last("AllocateAddress") == {
        "Domain": "vpc", "TagSpecification.1.ResourceType": "elastic-ip", "TagSpecification.1.Tag.1.Key": "Name",
        "TagSpecification.1.Tag.1.Value": "tf-eip"}
    alloc_id = answer["AllocationId"]
    assert alloc_id.startswith("eipalloc-"), "eipID.IsVPC: anything else is EC2-Classic, an error"
    STATE.update(allocation_id=alloc_id, public_ip=answer["PublicIp"])
    # RetryWhenNotFound(findEIPByAllocationID), then the read.
    find_eip(ec2, AllocationIds=[alloc_id])
    address = read_eip(tf)
    for absent in ("AssociationId", "InstanceId", "NetworkInterfaceId", "PrivateIpAddress"):
        assert absent not in address, absent
    assert wire.distinct(start) == ["AllocateAddress", "DescribeAddresses", "DescribeAddressesAttribute"]
    assert wire.last("DescribeAddressesAttribute") == {"AllocationId.1": alloc_id, "Attribute": "domain-name"}


def test_aws_eip_association_create_and_read(tf):
    needs("allocation_id", "instance_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    answer = ec2.associate_address(AllocationId=STATE["allocation_id"], InstanceId=STATE["instance_id"])
    assert wire.last("AssociateAddress") == {"AllocationId": STATE["allocation_id"], "InstanceId": STATE["instance_id"]}
    association_id = answer["AssociationId"]
    assert association_id.startswith("eipassoc-"), "an id that is not eipassoc- is read as EC2-Classic's public IP"
    STATE["eip_association_id"] = association_id
    # RetryWhen(FindEIPByAssociationID): DescribeAddresses(Filter association-id), exactly one.
    address = find_eip(ec2, Filters=[f("association-id", association_id)])
    assert address["AssociationId"] == association_id
    assert wire.last("DescribeAddresses") == {"Filter.1.Name": "association-id", "Filter.1.Value.1": association_id}
    # resourceEIPAssociationRead.
    address = find_eip(ec2, Filters=[f("association-id", association_id)])
    assert (address["AllocationId"], address["InstanceId"], address["PublicIp"]) == (
        STATE["allocation_id"], STATE["instance_id"], STATE["public_ip"])
    assert address["NetworkInterfaceId"] == STATE["primary_eni_id"]
    assert address["NetworkInterfaceOwnerId"] == tf["account"].account_id
    assert wire.distinct(start) == ["AssociateAddress", "DescribeAddresses"]
    assert address["PrivateIpAddress"] == find_instance(ec2, STATE["instance_id"])["PrivateIpAddress"]
    # The instance shows the Elastic IP in place of its launch-given address.
    assert find_instance(ec2, STATE["instance_id"])["PublicIpAddress"] == STATE["public_ip"]


# =========================================================================== aws_network_interface


def read_network_interface(tf, *, description: str) -> dict:
    """resourceNetworkInterfaceRead: DescribeNetworkInterfaces(NetworkInterfaceId.1)."""
    eni = find_network_interface(tf["ec2"], STATE["eni_id"])
    assert eni["OwnerId"] == tf["account"].account_id
    attachment = eni["Attachment"]
    assert (attachment["AttachmentId"], attachment["DeviceIndex"], attachment["InstanceId"]) == (
        STATE["eni_attachment_id"], 1, STATE["instance_id"])
    assert attachment["Status"] == "attached"
    assert eni["Description"] == description
    assert eni["InterfaceType"] == "interface"
    assert eni.get("Ipv4Prefixes", []) == [] and eni.get("Ipv6Prefixes", []) == []
    assert eni["Ipv6Addresses"] == []
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", eni["MacAddress"])
    assert "OutpostArn" not in eni
    private = eni["PrivateIpAddress"]
    assert private.startswith("10.40.1.")
    assert eni["PrivateDnsName"] == f"ip-{private.replace('.', '-')}.ec2.internal"
    assert eni["PrivateIpAddresses"] == [{"PrivateDnsName": eni["PrivateDnsName"], "Primary": True,
                                          "PrivateIpAddress": private}]
    assert eni["Groups"] == [{"GroupId": STATE["default_sg_id"], "GroupName": "default"}]
    assert eni["SourceDestCheck"] is True
    assert eni["SubnetId"] == STATE["subnet_id"] and eni["VpcId"] == STATE["vpc_id"]
    assert eni["Status"] == "in-use"
    assert eni["TagSet"] == tags(Name="tf-eni")
    return eni


def test_aws_network_interface_create_attach_and_read(tf):
    needs("subnet_id", "default_sg_id", "instance_id")
    ec2, wire = tf["ec2"], tf["wire"]
    token = terraform_unique_id()
    start = wire.mark()
    created = ec2.create_network_interface(
        ClientToken=token, SubnetId=STATE["subnet_id"], Description="tf-eni", Groups=[STATE["default_sg_id"]],
        TagSpecifications=tag_spec("network-interface", Name="tf-eni"))["NetworkInterface"]
    assert wire.last("CreateNetworkInterface") == {
        "ClientToken": token, "SubnetId": STATE["subnet_id"], "Description": "tf-eni",
        "SecurityGroupId.1": STATE["default_sg_id"], "TagSpecification.1.ResourceType": "network-interface",
        "TagSpecification.1.Tag.1.Key": "Name", "TagSpecification.1.Tag.1.Value": "tf-eni"}
    eni_id = created["NetworkInterfaceId"]
    assert re.fullmatch(r"eni-[0-9a-f]{17}", eni_id)
    STATE["eni_id"] = eni_id
    # WaitNetworkInterfaceCreated: pending -> available.
    state_change("interface create", lambda: (lambda e: (e, e["Status"]))(find_network_interface(ec2, eni_id)),
                 ["pending"], ["available"])
    # source_dest_check is true (the default): nothing sent. attachNetworkInterface.
    answer = ec2.attach_network_interface(DeviceIndex=1, InstanceId=STATE["instance_id"], NetworkInterfaceId=eni_id)
    assert wire.last("AttachNetworkInterface") == {"DeviceIndex": "1", "InstanceId": STATE["instance_id"],
                                                   "NetworkInterfaceId": eni_id}
    attachment_id = answer["AttachmentId"]
    assert re.fullmatch(r"eni-attach-[0-9a-f]{17}", attachment_id)
    STATE["eni_attachment_id"] = attachment_id
    # WaitNetworkInterfaceAttached: DescribeNetworkInterfaces(attachment.attachment-id),
    # attaching -> attached.
    state_change("interface attach",
                 lambda: (lambda a: (a, a["Status"]))(find_network_interface_attachment(ec2, attachment_id)),
                 ["attaching"], ["attached"])
    assert wire.last("DescribeNetworkInterfaces") == {"Filter.1.Name": "attachment.attachment-id",
                                                      "Filter.1.Value.1": attachment_id}
    eni = read_network_interface(tf, description="tf-eni")
    assert eni["Attachment"]["InstanceOwnerId"] == tf["account"].account_id
    assert wire.distinct(start) == ["CreateNetworkInterface", "DescribeNetworkInterfaces", "AttachNetworkInterface",
                                    "DescribeNetworkInterfaces"]
    # The instance now has two interfaces, each with its device index.
    read_instance(tf, eni_count=2)


def test_aws_route_to_the_interface(tf):
    """aws_route.peer: a route to the interface; the route and the table read back (the table's
    read looks the interface up to keep routes to this account's interfaces)."""
    needs("private_rtb_id", "eni_id", "instance_id")
    route = create_route(tf, STATE["private_rtb_id"], PEER_CIDR, NetworkInterfaceId=STATE["eni_id"])
    # On EC2 a route to an interface attached to an instance names the instance and its owner.
    assert route == {"DestinationCidrBlock": PEER_CIDR, "NetworkInterfaceId": STATE["eni_id"],
                     "InstanceId": STATE["instance_id"], "InstanceOwnerId": tf["account"].account_id,
                     "Origin": "CreateRoute", "State": "active"}
    read_route_table(tf, STATE["private_rtb_id"], "tf-private", [route])


# =========================================================================== terraform plan (refresh)


def test_plan_refresh_reads_the_same(tf):
    needs("vpc_id", "subnet_id", "igw_id", "public_rtb_id", "association_id", "instance_id", "allocation_id",
          "eip_association_id", "eni_id")
    ec2 = tf["ec2"]
    assert read_vpc(tf) == VPC_READ
    read_subnet(tf)
    read_internet_gateway(tf)
    read_route_table(tf, STATE["public_rtb_id"], "tf-public",
                     [{"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": STATE["igw_id"], "Origin": "CreateRoute",
                       "State": "active"}])
    read_route(tf, STATE["public_rtb_id"], "0.0.0.0/0")
    read_association(tf, STATE["association_id"], STATE["public_rtb_id"])
    read_instance(tf, eni_count=2)
    address = read_eip(tf)
    # aws_eip's refresh now sees the association (association_id, instance, network_interface).
    assert (address["AssociationId"], address["InstanceId"]) == (STATE["eip_association_id"], STATE["instance_id"])
    find_eip(ec2, Filters=[f("association-id", STATE["eip_association_id"])])
    read_network_interface(tf, description="tf-eni")


# =========================================================================== in-place updates


def test_update_route_table_association(tf):
    """aws_route_table_association.a's route_table_id changed: ReplaceRouteTableAssociation,
    whose new association id becomes the resource's id, then WaitRouteTableAssociationUpdated."""
    needs("association_id", "private_rtb_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    answer = ec2.replace_route_table_association(AssociationId=STATE["association_id"],
                                                 RouteTableId=STATE["private_rtb_id"])
    assert wire.last("ReplaceRouteTableAssociation") == {"AssociationId": STATE["association_id"],
                                                         "RouteTableId": STATE["private_rtb_id"]}
    new_id = answer["NewAssociationId"]
    assert re.fullmatch(r"rtbassoc-[0-9a-f]{17}", new_id)
    assert answer["AssociationState"]["State"] in ("associating", "associated")
    STATE["association_id"] = new_id
    state_change("association update",
                 lambda: (lambda a: (a, a["AssociationState"]["State"]))(find_route_table_association(ec2, new_id)),
                 ["associating"], ["associated"])
    read_association(tf, new_id, STATE["private_rtb_id"])
    assert wire.distinct(start) == ["ReplaceRouteTableAssociation", "DescribeRouteTables"]
    # The subnet left the public table.
    [public] = ec2.describe_route_tables(RouteTableIds=[STATE["public_rtb_id"]])["RouteTables"]
    assert public["Associations"] == []


def test_update_network_interface_description(tf):
    needs("eni_id", "eni_attachment_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    ec2.modify_network_interface_attribute(NetworkInterfaceId=STATE["eni_id"], Description={"Value": "tf-eni v2"})
    assert wire.last("ModifyNetworkInterfaceAttribute") == {"NetworkInterfaceId": STATE["eni_id"],
                                                            "Description.Value": "tf-eni v2"}
    read_network_interface(tf, description="tf-eni v2")
    assert wire.actions(start) == ["ModifyNetworkInterfaceAttribute", "DescribeNetworkInterfaces"]


def test_update_route_target(tf):
    """aws_route.peer's network_interface_id changed to the instance's primary interface:
    ReplaceRoute, then WaitRouteReady and the read."""
    needs("private_rtb_id", "primary_eni_id", "instance_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    ec2.replace_route(RouteTableId=STATE["private_rtb_id"], DestinationCidrBlock=PEER_CIDR,
                      NetworkInterfaceId=STATE["primary_eni_id"])
    assert wire.last("ReplaceRoute") == {"RouteTableId": STATE["private_rtb_id"], "DestinationCidrBlock": PEER_CIDR,
                                         "NetworkInterfaceId": STATE["primary_eni_id"]}
    state_change("route ready",
                 lambda: (find_route_by_ipv4_destination(ec2, STATE["private_rtb_id"], PEER_CIDR), "ready"),
                 [], ["ready"], continuous=2, not_found_checks=1000)
    route = read_route(tf, STATE["private_rtb_id"], PEER_CIDR)
    assert route == {"DestinationCidrBlock": PEER_CIDR, "NetworkInterfaceId": STATE["primary_eni_id"],
                     "InstanceId": STATE["instance_id"], "InstanceOwnerId": tf["account"].account_id,
                     "Origin": "CreateRoute", "State": "active"}
    assert wire.distinct(start) == ["ReplaceRoute", "DescribeRouteTables"]


def test_eip_disassociation_gives_a_public_address_back(tf):
    """EC2 (User Guide, Elastic IP addresses): an Elastic IP associated with an instance
    releases its launch-given public address; when the Elastic IP is disassociated, the
    instance (with one network interface) is given a new public address within a few minutes
    (none when it has a second interface). Terraform's destroy
    order depends on it: the internet gateway's detach then meets DependencyViolation until
    the instance is gone, as above."""
    needs("subnet_id", "default_sg_id")
    ec2 = tf["ec2"]
    [instance] = ec2.run_instances(ImageId=tf["image_id"], InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                   SubnetId=STATE["subnet_id"], SecurityGroupIds=[STATE["default_sg_id"]])["Instances"]
    instance_id = instance["InstanceId"]
    alloc_id = None
    try:
        instance = state_change("instance create",
                                lambda: (lambda i: (i, i["State"]["Name"]))(find_instance(ec2, instance_id)),
                                ["pending"], ["running"])
        assert "PublicIpAddress" in instance
        alloc = ec2.allocate_address(Domain="vpc")
        alloc_id = alloc["AllocationId"]
        association_id = ec2.associate_address(AllocationId=alloc_id, InstanceId=instance_id)["AssociationId"]
        assert find_instance(ec2, instance_id)["PublicIpAddress"] == alloc["PublicIp"]
        ec2.disassociate_address(AssociationId=association_id)
        # "within a few minutes" on EC2; here, within POLL_TIMEOUT.
        deadline = time.monotonic() + POLL_TIMEOUT
        while True:
            after = find_instance(ec2, instance_id)
            if after.get("PublicIpAddress") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert after.get("PublicIpAddress") not in (None, alloc["PublicIp"]), after.get("PublicIpAddress")
        assert after["NetworkInterfaces"][0]["Association"]["IpOwnerId"] == "amazon"
    finally:
        if alloc_id:
            with contextlib.suppress(ClientError):
                ec2.release_address(AllocationId=alloc_id)
        ec2.terminate_instances(InstanceIds=[instance_id])
        state_change("instance delete", lambda: (lambda i: (i, i["State"]["Name"]))(find_instance(ec2, instance_id)),
                     ["pending", "running", "shutting-down", "stopping", "stopped"], ["terminated"])


# =========================================================================== terraform destroy


def delete_route(tf, table_id: str, destination: str) -> None:
    """resourceRouteDelete: DeleteRoute (InvalidRoute.NotFound is success), WaitRouteDeleted
    (not found twice in a row)."""
    ec2 = tf["ec2"]
    try:
        ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock=destination)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidRoute.NotFound", e.response
        return
    state_change("route delete", lambda: (find_route_by_ipv4_destination(ec2, table_id, destination), "ready"),
                 ["ready"], [], continuous=2)


def delete_route_table(tf, table_id: str) -> None:
    """resourceRouteTableDelete: read it, disassociate what is left, DeleteRouteTable,
    WaitRouteTableDeleted (until InvalidRouteTableID.NotFound, twice)."""
    ec2 = tf["ec2"]
    table = find_route_table_by_id(ec2, table_id)
    for association in table["Associations"]:
        ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route_table(RouteTableId=table_id)
    state_change("route table delete", lambda: (find_route_table_by_id(ec2, table_id), "ready"), ["ready"], [],
                 continuous=2)


def test_destroy_route_and_network_interface(tf):
    """aws_route.peer, then aws_network_interface.extra: DetachNetworkInterface(Force=true),
    WaitNetworkInterfaceDetached (attached/detaching -> detached; not found, the attachment
    gone, is success), DeleteNetworkInterface."""
    needs("private_rtb_id", "eni_id", "eni_attachment_id")
    ec2, wire = tf["ec2"], tf["wire"]
    start = wire.mark()
    delete_route(tf, STATE["private_rtb_id"], PEER_CIDR)
    assert wire.distinct(start) == ["DeleteRoute", "DescribeRouteTables"]

    start = wire.mark()
    ec2.detach_network_interface(AttachmentId=STATE["eni_attachment_id"], Force=True)
    assert wire.last("DetachNetworkInterface") == {"AttachmentId": STATE["eni_attachment_id"], "Force": "true"}
    with contextlib.suppress(NotFound):
        state_change("interface detach",
                     lambda: (lambda a: (a, a["Status"]))(find_network_interface_attachment(ec2, STATE["eni_attachment_id"])),
                     ["attached", "detaching"], ["detached"])
    ec2.delete_network_interface(NetworkInterfaceId=STATE["eni_id"])
    assert wire.last("DeleteNetworkInterface") == {"NetworkInterfaceId": STATE["eni_id"]}
    assert wire.distinct(start) == ["DetachNetworkInterface", "DescribeNetworkInterfaces", "DeleteNetworkInterface"]
    with api_error("InvalidNetworkInterfaceID.NotFound"):
        ec2.describe_network_interfaces(NetworkInterfaceIds=[STATE.pop("eni_id")])


def disassociate_again(ec2, association_id: str) -> None:
    try:
        ec2.disassociate_address(AssociationId=association_id)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidAssociationID.NotFound", e.response


def test_destroy_eip_association_and_eip(tf):
    """aws_eip_association.web: DisassociateAddress(AssociationId). aws_eip.web: its state
    (refreshed before the destroy) still holds the association id, so it disassociates again
    (InvalidAssociationID.NotFound is success), then ReleaseAddress(AllocationId)."""
    needs("allocation_id", "eip_association_id")
    ec2, wire = tf["ec2"], tf["wire"]
    ec2.disassociate_address(AssociationId=STATE["eip_association_id"])
    # DisassociateAddress is idempotent on EC2 (its reference says so): the second one
    # succeeds, or answers the one code the provider takes for success.
    disassociate_again(ec2, STATE["eip_association_id"])
    ec2.release_address(AllocationId=STATE["allocation_id"])
    assert wire.last("ReleaseAddress") == {"AllocationId": STATE["allocation_id"]}
    with api_error("InvalidAllocationID.NotFound"):
        ec2.describe_addresses(AllocationIds=[STATE.pop("allocation_id")])


def test_destroy_instance_and_internet_gateway(tf):
    """aws_internet_gateway.gw does not depend on the instance: Terraform destroys both at once.
    A detach while the VPC's instance has a public address mapped through the gateway meets
    DependencyViolation, which detachInternetGateway retries until the instance is gone; then
    WaitInternetGatewayDetached waits for the attachment to go and DeleteInternetGateway
    (retried on DependencyViolation) deletes it."""
    needs("instance_id", "igw_id", "vpc_id")
    ec2, wire = tf["ec2"], tf["wire"]
    vpc_id, igw_id = STATE["vpc_id"], STATE["igw_id"]
    start = wire.mark()
    try:
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        detached = True
    except ClientError as e:
        # On EC2 this is the case: the instance got a public address back when the Elastic
        # IP left it (test_eip_disassociation_gives_a_public_address_back).
        assert e.response["Error"]["Code"] == "DependencyViolation", e.response
        detached = False

    # aws_instance.web: protection off, TerminateInstances, wait terminated.
    ec2.modify_instance_attribute(InstanceId=STATE["instance_id"], DisableApiTermination={"Value": False})
    ec2.terminate_instances(InstanceIds=[STATE["instance_id"]])
    state_change("instance delete", lambda: (lambda i: (i, i["State"]["Name"]))(find_instance(ec2, STATE["instance_id"])),
                 ["pending", "running", "shutting-down", "stopping", "stopped"], ["terminated"])
    STATE.pop("instance_id")

    if not detached:
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assert wire.since(start, "DetachInternetGateway")[-1] == {"InternetGatewayId": igw_id, "VpcId": vpc_id}
    start = wire.mark()
    state_change("internet gateway detach",
                 lambda: (lambda a: (a, a["State"]))(find_internet_gateway_attachment(ec2, igw_id, vpc_id)),
                 ["available", "detaching"], [])
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    assert wire.distinct(start) == ["DescribeInternetGateways", "DeleteInternetGateway"]
    with api_error("InvalidInternetGatewayID.NotFound"):
        ec2.describe_internet_gateways(InternetGatewayIds=[STATE.pop("igw_id")])


def test_destroy_routes_association_and_tables(tf):
    """aws_route.default; aws_route_table_association.a: DisassociateRouteTable,
    WaitRouteTableAssociationDeleted (associated/disassociating -> gone); the two tables."""
    needs("public_rtb_id", "private_rtb_id", "association_id")
    ec2, wire = tf["ec2"], tf["wire"]
    delete_route(tf, STATE["public_rtb_id"], "0.0.0.0/0")
    start = wire.mark()
    ec2.disassociate_route_table(AssociationId=STATE["association_id"])
    state_change("association delete",
                 lambda: (lambda a: (a, a["AssociationState"]["State"]))(
                     find_route_table_association(ec2, STATE["association_id"])),
                 ["disassociating", "associated"], [])
    assert wire.distinct(start) == ["DisassociateRouteTable", "DescribeRouteTables"]
    for key in ("public_rtb_id", "private_rtb_id"):
        start = wire.mark()
        delete_route_table(tf, STATE[key])
        assert wire.distinct(start) == ["DescribeRouteTables", "DeleteRouteTable", "DescribeRouteTables"]
        STATE.pop(key)


def test_destroy_subnet_and_vpc(tf):
    """aws_vpc.main's DeleteVpc may come while the subnet still exists: DependencyViolation,
    retried (vpcDeletedTimeout). aws_subnet.a: deleteLingeringENIs (Lambda's, then
    Comprehend's: two DescribeNetworkInterfaces), DeleteSubnet. Then the VPC's retry succeeds and
    RetryUntilNotFound(findVPCByID) polls until InvalidVpcID.NotFound."""
    needs("vpc_id", "subnet_id")
    ec2, wire = tf["ec2"], tf["wire"]
    vpc_id, subnet_id = STATE["vpc_id"], STATE["subnet_id"]
    with api_error("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted."):
        ec2.delete_vpc(VpcId=vpc_id)

    start = wire.mark()
    lambda_enis = ec2.describe_network_interfaces(Filters=[f("description", "AWS Lambda VPC ENI*"),
                                                           f("subnet-id", subnet_id)])["NetworkInterfaces"]
    assert lambda_enis == []
    left = ec2.describe_network_interfaces(Filters=[f("subnet-id", subnet_id)])["NetworkInterfaces"]
    assert [e for e in left if e.get("RequesterId", "").endswith(":Comprehend")] == []
    # The terminated instance's interface went with it: the first DeleteSubnet succeeds (a
    # DependencyViolation here sends the v6 provider to DescribeVpcEndpoints, see below).
    ec2.delete_subnet(SubnetId=subnet_id)
    assert wire.distinct(start) == ["DescribeNetworkInterfaces", "DeleteSubnet"]
    with api_error("InvalidSubnetID.NotFound"):
        ec2.delete_subnet(SubnetId=subnet_id)
    STATE.pop("subnet_id")

    start = wire.mark()
    ec2.delete_vpc(VpcId=vpc_id)
    state_change("VPC delete", lambda: (lambda v: (v, v["State"]))(find_vpc(ec2, vpc_id)), ["available"], [])
    assert wire.distinct(start) == ["DeleteVpc", "DescribeVpcs"]
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist"):
        ec2.describe_vpcs(VpcIds=[STATE.pop("vpc_id")])
    # Nothing of the apply is left in the account.
    assert ec2.describe_vpcs(Filters=[f("is-default", "false")])["Vpcs"] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert ec2.describe_internet_gateways(Filters=[f("tag:Name", "tf-igw")])["InternetGateways"] == []


# =========================================================================== what else the provider sends


def test_network_interface_with_private_ips(tf):
    """`private_ips = ["10.41.1.50"]` (the provider's usual way to pin an interface's address):
    CreateNetworkInterface with PrivateIpAddresses.1.{PrivateIpAddress,Primary=true}
    (expandPrivateIPAddressSpecifications), as EC2 accepts."""
    ec2 = tf["ec2"]
    vpc_id = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    try:
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.41.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
        try:
            eni = ec2.create_network_interface(
                ClientToken=terraform_unique_id(), SubnetId=subnet_id,
                PrivateIpAddresses=[{"PrivateIpAddress": "10.41.1.50", "Primary": True}])["NetworkInterface"]
            try:
                assert eni["PrivateIpAddress"] == "10.41.1.50"
                assert eni["PrivateIpAddresses"][0]["Primary"] is True
            finally:
                ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
        finally:
            ec2.delete_subnet(SubnetId=subnet_id)
    finally:
        ec2.delete_vpc(VpcId=vpc_id)


def test_subnet_delete_meeting_dependency_violation(tf):
    """resourceSubnetDelete (v6): DeleteSubnet's DependencyViolation (an interface still in the
    subnet) makes the provider look for GuardDuty's VPC endpoints before retrying: DescribeVpcs
    (VpcId.1, the owner check), then DescribeVpcEndpoints (vpc-id, service-name, the
    GuardDuty tag; the two values are inferred). An answer with no endpoint lets the retry go
    on; any error but an authorization one fails the destroy."""
    ec2 = tf["ec2"]
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    try:
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.42.1.0/24", AvailabilityZone=ZONE)["Subnet"]["SubnetId"]
        eni_id = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]["NetworkInterfaceId"]
        try:
            with api_error("DependencyViolation"):
                ec2.delete_subnet(SubnetId=subnet_id)
            [vpc] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
            assert vpc["OwnerId"] == tf["account"].account_id
            endpoints = ec2.describe_vpc_endpoints(Filters=[
                f("service-name", "com.amazonaws.us-east-1.guardduty-data"),
                f("tag:GuardDutyManaged", "true"), f("vpc-id", vpc_id)])["VpcEndpoints"]
            assert endpoints == []
        finally:
            ec2.delete_network_interface(NetworkInterfaceId=eni_id)
            ec2.delete_subnet(SubnetId=subnet_id)
    finally:
        ec2.delete_vpc(VpcId=vpc_id)


def test_not_found_codes_the_provider_branches_on(tf):
    """A refresh or destroy after something went outside Terraform: each finder's *.NotFound
    code (taken for "gone": removed from the state, or success on delete)."""
    ec2 = tf["ec2"]
    missing = {"igw": "igw-0123456789abcdef0", "rtb": "rtb-0123456789abcdef0", "eni": "eni-0123456789abcdef0",
               "alloc": "eipalloc-0123456789abcdef0", "assoc": "eipassoc-0123456789abcdef0",
               "rtbassoc": "rtbassoc-0123456789abcdef0", "attach": "eni-attach-0123456789abcdef0",
               "acl": "acl-0123456789abcdef0"}
    with api_error("InvalidInternetGatewayID.NotFound"):
        ec2.describe_internet_gateways(InternetGatewayIds=[missing["igw"]])
    with api_error("InvalidInternetGatewayID.NotFound"):
        ec2.delete_internet_gateway(InternetGatewayId=missing["igw"])
    with api_error("InvalidRouteTableID.NotFound"):
        ec2.describe_route_tables(RouteTableIds=[missing["rtb"]])
    with api_error("InvalidRouteTableID.NotFound"):
        ec2.delete_route_table(RouteTableId=missing["rtb"])
    with api_error("InvalidNetworkInterfaceID.NotFound"):
        ec2.describe_network_interfaces(NetworkInterfaceIds=[missing["eni"]])
    with api_error("InvalidNetworkInterfaceID.NotFound"):
        ec2.delete_network_interface(NetworkInterfaceId=missing["eni"])
    with api_error("InvalidAttachmentID.NotFound"):
        ec2.detach_network_interface(AttachmentId=missing["attach"], Force=True)
    with api_error("InvalidAllocationID.NotFound"):
        ec2.describe_addresses(AllocationIds=[missing["alloc"]])
    with api_error("InvalidAllocationID.NotFound"):
        ec2.release_address(AllocationId=missing["alloc"])
    disassociate_again(ec2, missing["assoc"])
    with api_error("InvalidAssociationID.NotFound"):
        ec2.disassociate_route_table(AssociationId=missing["rtbassoc"])
    with api_error("InvalidNetworkAclID.NotFound"):
        ec2.describe_network_acls(NetworkAclIds=[missing["acl"]])
    # A filter matching nothing is an empty set, which the finders take for not found too.
    assert ec2.describe_addresses(Filters=[f("association-id", missing["assoc"])])["Addresses"] == []
    assert ec2.describe_route_tables(Filters=[f("association.route-table-association-id", missing["rtbassoc"])])[
        "RouteTables"] == []
    assert ec2.describe_network_interfaces(Filters=[f("attachment.attachment-id", missing["attach"])])[
        "NetworkInterfaces"] == []
