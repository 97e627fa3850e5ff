"""VPC networking through boto3 and the AWS CLI: VPCs, subnets, internet gateways, route tables,
Elastic IPs and the network interfaces RunInstances makes, with EC2's errors; and what the
gateway builds on this host for them (a namespace per VPC, a bridge per subnet, the 1:1 NAT of
public addresses), looked at with `ip` and `nft`. Guests that use the network are in
test_real_guest.py; this module's gateway is conftest's (libvirt's test driver), whose VPCs are
built on the host all the same.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from assertions import api_error, dry_run, uid

VPC_ID = re.compile(r"^vpc-[0-9a-f]{17}$")
MISSING_VPC = "vpc-0123456789abcdef0"
MISSING_IGW = "igw-0123456789abcdef0"
MISSING_RTB = "rtb-0123456789abcdef0"
MISSING_ALLOC = "eipalloc-0123456789abcdef0"


def f(name: str, *values: str) -> dict:
    return {"Name": name, "Values": list(values)}


def ip(*args: str) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def deployment(gateway) -> str:
    text = gateway.stdout_path.read_text()
    m = re.search(r"Host network: VPCs built here \(deployment ([0-9a-f]{4})\)", text)
    assert m, text
    return m.group(1)


def namespace(gateway, vpc_id: str) -> str:
    return f"ec2gw-{deployment(gateway)}-{vpc_id}"


def bridge(gateway, subnet_id: str) -> str:
    return f"e{deployment(gateway)}b{subnet_id.split('-', 1)[1][:9]}"


def wait_until(what: str, cond, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


@pytest.fixture
def vpc(ec2):
    made = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]
    yield made
    cleanup_vpc(ec2, made["VpcId"])


def cleanup_vpc(ec2, vpc_id: str) -> None:
    """Whatever a test left in the VPC goes, then the VPC."""
    res = ec2.describe_instances(Filters=[f("vpc-id", vpc_id)])["Reservations"]
    ids = [i["InstanceId"] for r in res for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
        wait_until("instances gone", lambda: not ec2.describe_network_interfaces(
            Filters=[f("vpc-id", vpc_id), f("status", "in-use")])["NetworkInterfaces"], timeout=60)
    for eni in ec2.describe_network_interfaces(Filters=[f("vpc-id", vpc_id)])["NetworkInterfaces"]:
        ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])
    for t in ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id)])["RouteTables"]:
        for a in t["Associations"]:
            if not a["Main"]:
                ec2.disassociate_route_table(AssociationId=a["RouteTableAssociationId"])
        if not any(a["Main"] for a in t["Associations"]):
            ec2.delete_route_table(RouteTableId=t["RouteTableId"])
    for g in ec2.describe_internet_gateways(Filters=[f("attachment.vpc-id", vpc_id)])["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=g["InternetGatewayId"], VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=g["InternetGatewayId"])
    for s in ec2.describe_subnets(Filters=[f("vpc-id", vpc_id)])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    ec2.delete_vpc(VpcId=vpc_id)


def test_create_vpc_and_what_comes_with_it(ec2, gateway):
    answer = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}])["Vpc"]
    vpc_id = answer["VpcId"]
    try:
        assert VPC_ID.match(vpc_id)
        assoc = answer["CidrBlockAssociationSet"]
        assert answer == {
            "VpcId": vpc_id, "OwnerId": gateway.account_id, "State": "pending", "CidrBlock": "10.1.0.0/16",
            "CidrBlockAssociationSet": [{"CidrBlock": "10.1.0.0/16", "AssociationId": assoc[0]["AssociationId"],
                                         "CidrBlockState": {"State": "associated"}}],
            "DhcpOptionsId": answer["DhcpOptionsId"], "Tags": [{"Key": "Name", "Value": "main"}],
            "InstanceTenancy": "default", "IsDefault": False,
        }
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        [described] = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"]
        assert described == {**answer, "State": "available"}
        # Built on the host: the VPC's namespace holds its DNS address (+2) and the metadata
        # address, and the VPC is isolated in it.
        ns = namespace(gateway, vpc_id)
        assert netns_exists(ns)
        lo = ip("-n", ns, "-4", "-o", "addr", "show", "dev", "lo")
        assert "10.1.0.2/32" in lo and "169.254.169.254/32" in lo, lo
        # What Terraform's aws_vpc read looks for, as on EC2.
        [main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
        assert main["Routes"] == [{"DestinationCidrBlock": "10.1.0.0/16", "GatewayId": "local",
                                   "Origin": "CreateRouteTable", "State": "active"}]
        assert [a["Main"] for a in main["Associations"]] == [True]
        assert main["Associations"][0]["AssociationState"] == {"State": "associated"}
        [group] = ec2.describe_security_groups(Filters=[f("vpc-id", vpc_id), f("group-name", "default")])["SecurityGroups"]
        assert group["Description"] == "default VPC security group"
        for attribute, key, value in [("enableDnsSupport", "EnableDnsSupport", True),
                                      ("enableDnsHostnames", "EnableDnsHostnames", False),
                                      ("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics", False)]:
            assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)[key] == {"Value": value}
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
        assert ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"] == {"Value": True}
        assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=[f("tag:Name", "main"), f("is-default", "false")])["Vpcs"]] == [vpc_id]
    finally:
        ec2.delete_vpc(VpcId=vpc_id)
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{vpc_id}' does not exist"):
        ec2.describe_vpcs(VpcIds=[vpc_id])
    # Nothing of it is left on the host, nor any of its rows (its default group and main table).
    wait_until("namespace removed", lambda: not netns_exists(namespace(gateway, vpc_id)))
    assert ec2.describe_security_groups(Filters=[f("vpc-id", vpc_id)])["SecurityGroups"] == []
    assert ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id)])["RouteTables"] == []


def test_create_vpc_errors(ec2, client_for, second_account):
    with api_error("InvalidVpc.Range", "The CIDR '10.0.0.0/8' is invalid."):
        ec2.create_vpc(CidrBlock="10.0.0.0/8")
    with api_error("InvalidParameterValue",
                   "Value (10.0.0.1/16) for parameter cidrBlock is invalid. This is not a valid CIDR block."):
        ec2.create_vpc(CidrBlock="10.0.0.1/16")
    with api_error("InvalidParameterValue"):
        ec2.create_vpc(CidrBlock="banana")
    dry_run(ec2.create_vpc, CidrBlock="10.2.0.0/16")
    assert ec2.describe_vpcs(Filters=[f("cidr", "10.2.0.0/16")])["Vpcs"] == []
    with api_error("InvalidVpcID.NotFound"):
        ec2.delete_vpc(VpcId=MISSING_VPC)
    with api_error("InvalidVpcID.Malformed"):
        ec2.delete_vpc(VpcId="vpc-nothex")
    # EC2's default limit: five VPCs per account and region, the default VPC among them.
    other = client_for(second_account)
    made = []
    try:
        while len(other.describe_vpcs()["Vpcs"]) < 5:
            made.append(other.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"])
        with api_error("VpcLimitExceeded", "The maximum number of VPCs has been reached."):
            other.create_vpc(CidrBlock="10.9.0.0/16")
        # Another account's VPC is not there for this one.
        with api_error("InvalidVpcID.NotFound"):
            ec2.delete_vpc(VpcId=made[0])
    finally:
        for vpc_id in made:
            other.delete_vpc(VpcId=vpc_id)


def test_subnets(ec2, gateway, vpc):
    vpc_id = vpc["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1b",
                               TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "tier", "Value": "web"}]}])["Subnet"]
    subnet_id = subnet["SubnetId"]
    assert subnet == {
        "SubnetId": subnet_id, "SubnetArn": f"arn:aws:ec2:us-east-1:{gateway.account_id}:subnet/{subnet_id}",
        "State": "pending", "VpcId": vpc_id, "OwnerId": gateway.account_id, "CidrBlock": "10.0.1.0/24",
        "AvailableIpAddressCount": 251, "AvailabilityZone": "us-east-1b", "AvailabilityZoneId": "use1-az2",
        "DefaultForAz": False, "MapPublicIpOnLaunch": False, "MapCustomerOwnedIpOnLaunch": False,
        "AssignIpv6AddressOnCreation": False, "EnableDns64": False, "Ipv6Native": False,
        "Tags": [{"Key": "tier", "Value": "web"}],
        "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                          "EnableResourceNameDnsAAAARecord": False},
    }
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # Its bridge is in the root namespace, with no address of the host's on it.
    br = bridge(gateway, subnet_id)
    assert Path("/sys/class/net", br, "bridge").is_dir()
    assert "inet " not in ip("-o", "addr", "show", "dev", br)
    # The router (+1) is the VPC namespace's.
    assert "10.0.1.1/24" in ip("-n", namespace(gateway, vpc_id), "-4", "-o", "addr")
    ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
    [described] = ec2.describe_subnets(Filters=[f("vpc-id", vpc_id), f("tag:tier", "web")])["Subnets"]
    assert described["MapPublicIpOnLaunch"] is True and described["State"] == "available"
    with api_error("InvalidSubnet.Conflict", "The CIDR '10.0.1.128/25' conflicts with another subnet"):
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.128/25")
    with api_error("InvalidSubnet.Range", "The CIDR '10.1.0.0/24' is invalid."):
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.1.0.0/24")
    with api_error("InvalidSubnet.Range", "The CIDR '10.0.2.0/29' is invalid."):
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/29")
    with api_error("InvalidVpcID.NotFound"):
        ec2.create_subnet(VpcId=MISSING_VPC, CidrBlock="10.0.2.0/24")
    with api_error("InvalidParameterValue", "Invalid availability zone: [us-east-1z]"):
        ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/24", AvailabilityZone="us-east-1z")
    with api_error("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted."):
        ec2.delete_vpc(VpcId=vpc_id)
    dry_run(ec2.delete_subnet, SubnetId=subnet_id)
    ec2.delete_subnet(SubnetId=subnet_id)
    with api_error("InvalidSubnetID.NotFound"):
        ec2.delete_subnet(SubnetId=subnet_id)
    wait_until("bridge removed", lambda: not Path("/sys/class/net", br).exists())


def test_internet_gateways(ec2, client_for, second_account, vpc):
    vpc_id = vpc["VpcId"]
    igw = ec2.create_internet_gateway(TagSpecifications=[
        {"ResourceType": "internet-gateway", "Tags": [{"Key": "Name", "Value": "gw"}]}])["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert re.match(r"^igw-[0-9a-f]{17}$", igw_id)
    assert igw == {"Attachments": [], "InternetGatewayId": igw_id, "OwnerId": igw["OwnerId"],
                   "Tags": [{"Key": "Name", "Value": "gw"}]}
    try:
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        [found] = ec2.describe_internet_gateways(Filters=[f("attachment.vpc-id", vpc_id)])["InternetGateways"]
        assert found["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
        with api_error("Resource.AlreadyAssociated", f"resource {igw_id} is already attached to network {vpc_id}"):
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        second = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        with api_error("Resource.AlreadyAssociated", f"Network {vpc_id} already has an internet gateway attached"):
            ec2.attach_internet_gateway(InternetGatewayId=second, VpcId=vpc_id)
        with api_error("Gateway.NotAttached", f"resource {second} is not attached to network {vpc_id}"):
            ec2.detach_internet_gateway(InternetGatewayId=second, VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=second)
        with api_error("DependencyViolation", f"The internetGateway '{igw_id}' has dependencies and cannot be deleted."):
            ec2.delete_internet_gateway(InternetGatewayId=igw_id)
        with api_error("InvalidInternetGatewayID.NotFound"):
            client_for(second_account).detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        with api_error("InvalidInternetGatewayID.NotFound", f"The internetGateway ID '{MISSING_IGW}' does not exist"):
            ec2.describe_internet_gateways(InternetGatewayIds=[MISSING_IGW])
        dry_run(ec2.detach_internet_gateway, InternetGatewayId=igw_id, VpcId=vpc_id)
        ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        assert ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]["Attachments"] == []
    finally:
        ec2.delete_internet_gateway(InternetGatewayId=igw_id)


def test_route_tables_and_routes(ec2, vpc):
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.3.0/24")["Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]
    table_id = table["RouteTableId"]
    assert re.match(r"^rtb-[0-9a-f]{17}$", table_id)
    assert table["Associations"] == [] and table["VpcId"] == vpc_id
    with api_error("Gateway.NotAttached"):
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assert ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)["Return"] is True
    with api_error("RouteAlreadyExists", "The route identified by 0.0.0.0/0 already exists."):
        ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    with api_error("InvalidParameterValue",
                   f"cannot remove local route 10.0.0.0/16 in route table {table_id}"):
        ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="10.0.0.0/16")
    with api_error("InvalidRoute.NotFound",
                   f"no route with destination-cidr-block 192.0.2.0/24 in route table {table_id}"):
        ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="192.0.2.0/24")
    assoc_id = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)["AssociationId"]
    assert re.match(r"^rtbassoc-[0-9a-f]{17}$", assoc_id)
    with api_error("Resource.AlreadyAssociated"):
        ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
    [found] = ec2.describe_route_tables(Filters=[f("association.subnet-id", subnet_id)])["RouteTables"]
    assert found["RouteTableId"] == table_id
    assert found["Associations"] == [{"Main": False, "RouteTableAssociationId": assoc_id, "RouteTableId": table_id,
                                      "SubnetId": subnet_id, "AssociationState": {"State": "associated"}}]
    assert found["Routes"] == [
        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id, "Origin": "CreateRoute", "State": "active"},
        {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local", "Origin": "CreateRouteTable", "State": "active"},
    ]
    assert [t["RouteTableId"] for t in ec2.describe_route_tables(
        Filters=[f("route.gateway-id", igw_id)])["RouteTables"]] == [table_id]
    with api_error("DependencyViolation", f"The routeTable '{table_id}' has dependencies and cannot be deleted."):
        ec2.delete_route_table(RouteTableId=table_id)
    [main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
    with api_error("InvalidParameterValue"):
        ec2.disassociate_route_table(AssociationId=main["Associations"][0]["RouteTableAssociationId"])
    # Detached, the gateway's route is a blackhole, as on EC2.
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    [found] = ec2.describe_route_tables(RouteTableIds=[table_id])["RouteTables"]
    assert found["Routes"][0]["State"] == "blackhole"
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    ec2.disassociate_route_table(AssociationId=assoc_id)
    with api_error("InvalidAssociationID.NotFound"):
        ec2.disassociate_route_table(AssociationId=assoc_id)
    ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")
    ec2.delete_route_table(RouteTableId=table_id)
    with api_error("InvalidRouteTableID.NotFound", f"The routeTable ID '{MISSING_RTB}' does not exist"):
        ec2.describe_route_tables(RouteTableIds=[MISSING_RTB])


def public_route(gateway, public_ip: str) -> str:
    return ip("-4", "route", "show", f"{public_ip}/32")


def nat_table(gateway, vpc_id: str) -> str:
    proc = subprocess.run(["ip", "netns", "exec", namespace(gateway, vpc_id), "nft", "list", "table", "ip", "ec2gw"],
                          capture_output=True, text=True, timeout=30)
    return proc.stdout if proc.returncode == 0 else ""


def test_instances_in_a_subnet_and_elastic_ips(ec2, gateway, import_image, vpc, client_for, second_account):
    """RunInstances into a subnet gives the instance a primary interface with an address of the
    subnet; an Elastic IP on it is NAT'd 1:1 by the VPC's router only while the VPC has an
    internet gateway and the subnet's route table sends 0.0.0.0/0 to it."""
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.5.0/24")["Subnet"]["SubnetId"]
    image_id = import_image(uid("vpc-image"))["ImageId"]
    [a, b] = ec2.run_instances(ImageId=image_id, MinCount=2, MaxCount=2, SubnetId=subnet_id)["Instances"]
    assert a["PrivateIpAddress"] == "10.0.5.4" and b["PrivateIpAddress"] == "10.0.5.5"
    assert a["PrivateDnsName"] == "ip-10-0-5-4.ec2.internal"
    assert "PublicIpAddress" not in a
    [eni] = a["NetworkInterfaces"]
    assert re.match(r"^eni-[0-9a-f]{17}$", eni["NetworkInterfaceId"])
    assert re.match(r"^02(:[0-9a-f]{2}){5}$", eni["MacAddress"])
    assert eni["Attachment"]["DeviceIndex"] == 0 and eni["Attachment"]["Status"] == "attached"
    assert eni["Attachment"]["DeleteOnTermination"] is True
    assert re.match(r"^eni-attach-[0-9a-f]{17}$", eni["Attachment"]["AttachmentId"])
    assert eni["PrivateIpAddresses"] == [{"PrivateDnsName": "ip-10-0-5-4.ec2.internal", "Primary": True,
                                          "PrivateIpAddress": "10.0.5.4"}]
    assert eni["SubnetId"] == subnet_id and eni["VpcId"] == vpc_id and eni["SourceDestCheck"] is True
    [group] = ec2.describe_security_groups(Filters=[f("vpc-id", vpc_id)])["SecurityGroups"]
    assert eni["Groups"] == [{"GroupId": group["GroupId"], "GroupName": "default"}]
    assert a["VpcId"] == vpc_id and a["SubnetId"] == subnet_id
    [described] = ec2.describe_network_interfaces(Filters=[f("attachment.instance-id", a["InstanceId"])])["NetworkInterfaces"]
    assert described["NetworkInterfaceId"] == eni["NetworkInterfaceId"] and described["Status"] == "in-use"
    assert described["Attachment"]["InstanceId"] == a["InstanceId"]
    with api_error("InvalidIPAddress.InUse", "The specified address is already in use."):
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnet_id, PrivateIpAddress="10.0.5.4")
    with api_error("InvalidParameterValue", "Address 10.0.6.9 does not fall within the subnet's address range"):
        ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, SubnetId=subnet_id, PrivateIpAddress="10.0.6.9")
    [c] = ec2.run_instances(ImageId=image_id, MinCount=1, MaxCount=1, NetworkInterfaces=[{
        "DeviceIndex": 0, "SubnetId": subnet_id, "PrivateIpAddress": "10.0.5.77", "AssociatePublicIpAddress": True}])["Instances"]
    assert c["PrivateIpAddress"] == "10.0.5.77" and "PublicIpAddress" in c

    # The Elastic IP.
    alloc = ec2.allocate_address(Domain="vpc")
    alloc.pop("ResponseMetadata")
    alloc_id, public_ip = alloc["AllocationId"], alloc["PublicIp"]
    assert re.match(r"^eipalloc-[0-9a-f]{17}$", alloc_id)
    assert alloc == {"AllocationId": alloc_id, "PublicIpv4Pool": "amazon", "NetworkBorderGroup": "us-east-1",
                     "Domain": "vpc", "PublicIp": public_ip}
    assoc_id = ec2.associate_address(AllocationId=alloc_id, InstanceId=a["InstanceId"])["AssociationId"]
    assert re.match(r"^eipassoc-[0-9a-f]{17}$", assoc_id)
    [addr] = ec2.describe_addresses(AllocationIds=[alloc_id])["Addresses"]
    assert addr == {"AllocationId": alloc_id, "AssociationId": assoc_id, "Domain": "vpc",
                    "NetworkInterfaceId": eni["NetworkInterfaceId"], "NetworkInterfaceOwnerId": gateway.account_id,
                    "PrivateIpAddress": "10.0.5.4", "Tags": [], "PublicIpv4Pool": "amazon",
                    "NetworkBorderGroup": "us-east-1", "InstanceId": a["InstanceId"], "SubnetId": subnet_id,
                    "PublicIp": public_ip}
    assert ec2.describe_addresses(Filters=[f("instance-id", a["InstanceId"])])["Addresses"] == [addr]
    assert ec2.describe_addresses(PublicIps=[public_ip])["Addresses"] == [addr]
    inst = ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert inst["PublicIpAddress"] == public_ip
    assert inst["NetworkInterfaces"][0]["Association"] == {"IpOwnerId": gateway.account_id, "PublicDnsName": "",
                                                           "PublicIp": public_ip}
    with api_error("InvalidIPAddress.InUse"):
        ec2.release_address(AllocationId=alloc_id)
    with api_error("InvalidAllocationID.NotFound"):
        client_for(second_account).associate_address(AllocationId=alloc_id, InstanceId=a["InstanceId"])

    # No internet gateway yet: the address maps to nothing on the host.
    time.sleep(0.5)
    assert public_route(gateway, public_ip) == ""
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    [main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    wait_until("public route", lambda: public_route(gateway, public_ip))
    nat = nat_table(gateway, vpc_id)
    assert public_ip in nat and "10.0.5.4" in nat, nat
    # Disassociated: the mapping goes.
    ec2.disassociate_address(AssociationId=assoc_id)
    wait_until("public route removed", lambda: public_route(gateway, public_ip) == "")
    assert public_ip not in nat_table(gateway, vpc_id)
    assert "PublicIpAddress" not in ec2.describe_instances(InstanceIds=[a["InstanceId"]])["Reservations"][0]["Instances"][0]
    ec2.release_address(AllocationId=alloc_id)
    with api_error("InvalidAllocationID.NotFound", f"The allocation ID '{MISSING_ALLOC}' does not exist"):
        ec2.describe_addresses(AllocationIds=[MISSING_ALLOC])
    with api_error("InvalidAddress.NotFound", f"Address '{public_ip}' not found."):
        ec2.describe_addresses(PublicIps=[public_ip])

    # Terminated, the instances' interfaces go, and the subnet's addresses come back.
    ids = [a["InstanceId"], b["InstanceId"], c["InstanceId"]]
    ec2.terminate_instances(InstanceIds=ids)
    wait_until("interfaces deleted", lambda: not ec2.describe_network_interfaces(
        Filters=[f("subnet-id", subnet_id)])["NetworkInterfaces"], timeout=60)
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"] == 251
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)


def test_address_limit_and_errors(ec2, client_for, second_account):
    other = client_for(second_account)
    made = []
    try:
        for _ in range(5):
            made.append(other.allocate_address(Domain="vpc")["AllocationId"])
        with api_error("AddressLimitExceeded", "The maximum number of addresses has been reached."):
            other.allocate_address(Domain="vpc")
    finally:
        for alloc_id in made:
            other.release_address(AllocationId=alloc_id)
    with api_error("InvalidAllocationID.Malformed"):
        ec2.release_address(AllocationId="eipalloc-zz")
    with api_error("MissingParameter"):
        ec2.associate_address(AllocationId=MISSING_ALLOC)
    dry_run(ec2.allocate_address, Domain="vpc")


def test_a_bare_run_instances_gets_a_public_address(ec2, gateway, import_image):
    """The default VPC, as on EC2: default subnets map a public address at launch, and the main
    route table sends 0.0.0.0/0 to the attached internet gateway, so the address is routed."""
    [default] = ec2.describe_vpcs(Filters=[f("is-default", "true")])["Vpcs"]
    [igw] = ec2.describe_internet_gateways(Filters=[f("attachment.vpc-id", default["VpcId"])])["InternetGateways"]
    [main] = ec2.describe_route_tables(Filters=[f("vpc-id", default["VpcId"]), f("association.main", "true")])["RouteTables"]
    assert {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw["InternetGatewayId"], "Origin": "CreateRoute",
            "State": "active"} in main["Routes"]
    [i] = ec2.run_instances(ImageId=import_image(uid("vpc-image"))["ImageId"], MinCount=1, MaxCount=1)["Instances"]
    try:
        public_ip = i["PublicIpAddress"]
        assert i["PrivateIpAddress"].startswith("172.31.")
        assert i["NetworkInterfaces"][0]["Association"]["IpOwnerId"] == "amazon"
        wait_until("public route", lambda: public_route(gateway, public_ip))
        # Launch-given addresses are not Elastic IPs.
        assert ec2.describe_addresses(PublicIps=[]).get("Addresses") == []
    finally:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"]])
    wait_until("public route removed", lambda: public_route(gateway, public_ip) == "", timeout=60)


def test_the_cli_builds_a_network(aws, gateway, ec2):
    def cli(*args):
        result = aws("ec2", *args, "--endpoint-url", gateway.endpoint, "--output", "json")
        assert result.rc == 0, result
        return result.json() if result.stdout.strip() else None

    vpc_id = cli("create-vpc", "--cidr-block", "10.20.0.0/16")["Vpc"]["VpcId"]
    try:
        assert aws("ec2", "wait", "vpc-available", "--vpc-ids", vpc_id, "--endpoint-url", gateway.endpoint).rc == 0
        subnet_id = cli("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.20.1.0/24")["Subnet"]["SubnetId"]
        assert aws("ec2", "wait", "subnet-available", "--subnet-ids", subnet_id,
                   "--endpoint-url", gateway.endpoint).rc == 0
        igw_id = cli("create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
        cli("attach-internet-gateway", "--internet-gateway-id", igw_id, "--vpc-id", vpc_id)
        rtb_id = cli("create-route-table", "--vpc-id", vpc_id)["RouteTable"]["RouteTableId"]
        assert cli("create-route", "--route-table-id", rtb_id, "--destination-cidr-block", "0.0.0.0/0",
                   "--gateway-id", igw_id) == {"Return": True}
        cli("associate-route-table", "--route-table-id", rtb_id, "--subnet-id", subnet_id)
        tables = cli("describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")["RouteTables"]
        assert sorted(len(t["Routes"]) for t in tables) == [1, 2]
        result = aws("ec2", "delete-vpc", "--vpc-id", vpc_id, "--endpoint-url", gateway.endpoint)
        assert result.rc != 0 and "DependencyViolation" in result.stderr, result
    finally:
        cleanup_vpc(ec2, vpc_id)


def test_network_acls_and_dhcp_options_as_terraform_reads_a_vpc(ec2, vpc):
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.7.0/24")["Subnet"]["SubnetId"]
    [acl] = ec2.describe_network_acls(Filters=[f("default", "true"), f("vpc-id", vpc_id)])["NetworkAcls"]
    assert re.match(r"^acl-[0-9a-f]{17}$", acl["NetworkAclId"])
    entry = lambda egress, number, action: {"CidrBlock": "0.0.0.0/0", "Egress": egress, "Protocol": "-1",  # noqa: E731
                                            "RuleAction": action, "RuleNumber": number}
    assert acl["Entries"] == [entry(True, 100, "allow"), entry(True, 32767, "deny"),
                              entry(False, 100, "allow"), entry(False, 32767, "deny")]
    assert acl["IsDefault"] is True and acl["VpcId"] == vpc_id
    [assoc] = acl["Associations"]
    assert assoc["SubnetId"] == subnet_id and assoc["NetworkAclId"] == acl["NetworkAclId"]
    assert re.match(r"^aclassoc-[0-9a-f]{17}$", assoc["NetworkAclAssociationId"])
    assert ec2.describe_network_acls(NetworkAclIds=[acl["NetworkAclId"]])["NetworkAcls"] == [acl]
    assert [a["NetworkAclId"] for a in ec2.describe_network_acls(
        Filters=[f("association.subnet-id", subnet_id)])["NetworkAcls"]] == [acl["NetworkAclId"]]
    with api_error("InvalidNetworkAclID.NotFound"):
        ec2.describe_network_acls(NetworkAclIds=["acl-0123456789abcdef0"])
    [dopt] = ec2.describe_dhcp_options(DhcpOptionsIds=[vpc["DhcpOptionsId"]])["DhcpOptions"]
    assert dopt["DhcpConfigurations"] == [
        {"Key": "domain-name", "Values": [{"Value": "ec2.internal"}]},
        {"Key": "domain-name-servers", "Values": [{"Value": "AmazonProvidedDNS"}]},
    ]
    assert ec2.describe_dhcp_options(Filters=[f("key", "domain-name")])["DhcpOptions"] == [dopt]
    ec2.delete_subnet(SubnetId=subnet_id)


def test_replace_route_and_route_table_association(ec2, vpc):
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.8.0/24")["Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    [main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
    other = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    with api_error("InvalidRoute.NotFound"):
        ec2.replace_route(RouteTableId=other, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.create_route(RouteTableId=other, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.replace_route(RouteTableId=other, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assoc = ec2.associate_route_table(RouteTableId=main["RouteTableId"], SubnetId=subnet_id)["AssociationId"]
    moved = ec2.replace_route_table_association(AssociationId=assoc, RouteTableId=other)
    assert moved["AssociationState"] == {"State": "associated"} and moved["NewAssociationId"] != assoc
    [found] = ec2.describe_route_tables(Filters=[f("association.subnet-id", subnet_id)])["RouteTables"]
    assert found["RouteTableId"] == other
    # The main association moves too: the other table becomes the VPC's main one.
    main_assoc = main["Associations"][0]["RouteTableAssociationId"]
    new_main = ec2.replace_route_table_association(AssociationId=main_assoc, RouteTableId=other)["NewAssociationId"]
    [now_main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
    assert now_main["RouteTableId"] == other
    assert {a["RouteTableAssociationId"] for a in now_main["Associations"] if a["Main"]} == {new_main}
    ec2.replace_route_table_association(AssociationId=new_main, RouteTableId=main["RouteTableId"])
    ec2.disassociate_route_table(AssociationId=moved["NewAssociationId"])
    ec2.delete_route_table(RouteTableId=other)
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    ec2.delete_subnet(SubnetId=subnet_id)


def test_network_interfaces_of_their_own(ec2, gateway, vpc, import_image):
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet_id, Description="second", PrivateIpAddress="10.0.9.50",
                                       SecondaryPrivateIpAddressCount=1, TagSpecifications=[
                                           {"ResourceType": "network-interface", "Tags": [{"Key": "Name", "Value": "n"}]}])["NetworkInterface"]
    eni_id = eni["NetworkInterfaceId"]
    assert eni["Status"] == "available" and "Attachment" not in eni
    assert eni["PrivateIpAddress"] == "10.0.9.50" and eni["Description"] == "second"
    assert [(p["PrivateIpAddress"], p["Primary"]) for p in eni["PrivateIpAddresses"]] == [("10.0.9.50", True), ("10.0.9.4", False)]
    assert eni["TagSet"] == [{"Key": "Name", "Value": "n"}]
    ec2.get_waiter("network_interface_available").wait(NetworkInterfaceIds=[eni_id],
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    assigned = ec2.assign_private_ip_addresses(NetworkInterfaceId=eni_id, SecondaryPrivateIpAddressCount=1)
    assert assigned["AssignedPrivateIpAddresses"] == [{"PrivateIpAddress": "10.0.9.5"}]
    ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni_id, PrivateIpAddresses=["10.0.9.5"])
    with api_error("InvalidParameterValue"):
        ec2.unassign_private_ip_addresses(NetworkInterfaceId=eni_id, PrivateIpAddresses=["10.0.9.50"])
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, SourceDestCheck={"Value": False})
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="sourceDestCheck")[
        "SourceDestCheck"] == {"Value": False}
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Description={"Value": "renamed"})
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="description")[
        "Description"] == {"Value": "renamed"}
    [group] = ec2.describe_security_groups(Filters=[f("vpc-id", vpc_id)])["SecurityGroups"]
    assert ec2.describe_network_interface_attribute(NetworkInterfaceId=eni_id, Attribute="groupSet")["Groups"] == [
        {"GroupId": group["GroupId"], "GroupName": "default"}]
    with api_error("InvalidGroup.NotFound"):
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni_id, Groups=["sg-0123456789abcdef0"])

    [inst] = ec2.run_instances(ImageId=import_image(uid("eni-image"))["ImageId"], MinCount=1, MaxCount=1,
                               SubnetId=subnet_id)["Instances"]
    wait_until("running", lambda: ec2.describe_instances(InstanceIds=[inst["InstanceId"]])[
        "Reservations"][0]["Instances"][0]["State"]["Name"] == "running")
    with api_error("InvalidParameterValue",
                   f"Instance '{inst['InstanceId']}' already has an interface attached at device index '0'."):
        ec2.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=inst["InstanceId"], DeviceIndex=0)
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni_id, InstanceId=inst["InstanceId"], DeviceIndex=1)
    assert re.match(r"^eni-attach-[0-9a-f]{17}$", attachment["AttachmentId"])
    wait_until("attached", lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=[eni_id])[
        "NetworkInterfaces"][0].get("Attachment", {}).get("Status") == "attached")
    with api_error("InvalidNetworkInterface.InUse"):
        ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    shown = ec2.describe_instances(InstanceIds=[inst["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert [(n["NetworkInterfaceId"], n["Attachment"]["DeviceIndex"]) for n in shown["NetworkInterfaces"]] == [
        (shown["NetworkInterfaces"][0]["NetworkInterfaceId"], 0), (eni_id, 1)]
    primary = shown["NetworkInterfaces"][0]["Attachment"]["AttachmentId"]
    with api_error("OperationNotPermitted"):
        ec2.detach_network_interface(AttachmentId=primary)
    ec2.detach_network_interface(AttachmentId=attachment["AttachmentId"])
    ec2.get_waiter("network_interface_available").wait(NetworkInterfaceIds=[eni_id],
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    with api_error("InvalidNetworkInterfaceID.NotFound"):
        ec2.delete_network_interface(NetworkInterfaceId=eni_id)
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])
    wait_until("gone", lambda: not ec2.describe_network_interfaces(Filters=[f("subnet-id", subnet_id)])["NetworkInterfaces"],
               timeout=60)
    ec2.delete_subnet(SubnetId=subnet_id)


def test_create_default_vpc_after_the_default_one_is_deleted(gateway, client_for):
    ec2 = client_for(gateway.create_account())
    [default] = ec2.describe_vpcs(Filters=[f("is-default", "true")])["Vpcs"]
    with api_error("DefaultVpcAlreadyExists"):
        ec2.create_default_vpc()
    cleanup_vpc(ec2, default["VpcId"])
    assert ec2.describe_vpcs()["Vpcs"] == []
    made = ec2.create_default_vpc()["Vpc"]
    assert made["IsDefault"] is True and made["CidrBlock"] == "172.31.0.0/16" and made["VpcId"] != default["VpcId"]
    subnets = ec2.describe_subnets(Filters=[f("vpc-id", made["VpcId"])])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert all(s["DefaultForAz"] and s["MapPublicIpOnLaunch"] for s in subnets)
    [igw] = ec2.describe_internet_gateways(Filters=[f("attachment.vpc-id", made["VpcId"])])["InternetGateways"]
    assert igw["Attachments"] == [{"State": "available", "VpcId": made["VpcId"]}]
    attrs = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert attrs[0]["AttributeValues"] == [{"AttributeValue": made["VpcId"]}]


def test_describe_addresses_attribute(ec2):
    alloc = ec2.allocate_address(Domain="vpc")
    try:
        answer = ec2.describe_addresses_attribute(AllocationIds=[alloc["AllocationId"]], Attribute="domain-name")
        assert answer["Addresses"] == [{"PublicIp": alloc["PublicIp"], "AllocationId": alloc["AllocationId"]}]
    finally:
        ec2.release_address(AllocationId=alloc["AllocationId"])


def test_the_host_network_is_repaired_after_a_hand_removes_it(ec2, gateway, vpc):
    """The reconciler rebuilds what was removed behind the gateway's back: a VPC's namespace
    (`ip netns del`) and a subnet's bridge (`ip link del`)."""
    vpc_id = vpc["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.10.0/24")["Subnet"]["SubnetId"]
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ns, br = namespace(gateway, vpc_id), bridge(gateway, subnet_id)
    router = lambda: netns_exists(ns) and "10.0.10.1/24" in ip("-n", ns, "-4", "-o", "addr")  # noqa: E731
    assert router() and Path("/sys/class/net", br).exists()
    ip("netns", "del", ns)
    wait_until("namespace rebuilt", router)
    ip("link", "del", br)
    wait_until("bridge rebuilt", lambda: Path("/sys/class/net", br, "bridge").is_dir())
    # The router's veth is on the new bridge again.
    wait_until("router on the bridge", lambda: any(
        p.name.startswith(f"e{deployment(gateway)}r") for p in Path("/sys/class/net", br, "brif").iterdir()))
    ec2.delete_subnet(SubnetId=subnet_id)


def host_objects(dep: str) -> set[str]:
    """Every namespace and link on the host whose name says it is deployment `dep`'s."""
    links = {line.split()[0].split("@")[0] for line in ip("-br", "link").splitlines() if line.strip()}
    spaces = {p.name for p in Path("/run/netns").iterdir()} if Path("/run/netns").exists() else set()
    return {n for n in links if n.startswith(f"e{dep}")} | {n for n in spaces if n.startswith(f"ec2gw-{dep}-")}


def test_kill_9_while_networks_are_built_leaves_nothing_stray(ec2gw_bin, tmp_path):
    """A gateway killed (SIGKILL) while VPCs, subnets and Elastic IPs are made and deleted:
    after a restart the host has exactly the database's networks, and after everything is
    deleted, nothing of them."""
    import signal
    import threading

    from conftest import Gateway, create_account, free_port, make_client, network_env, purge_network, stop, wait_ready

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_url = f"sqlite://{data_dir / 'ec2gw.sqlite'}"
    account = create_account(ec2gw_bin, database_url, data_dir)
    port = free_port()
    starts = []

    def start() -> Gateway:
        n = len(starts)
        out, err = tmp_path / f"stdout.{n}.log", tmp_path / f"stderr.{n}.log"
        cmd = [str(ec2gw_bin), "serve", "--listen", f"127.0.0.1:{port}", "--database", database_url,
               "--data-dir", str(data_dir), "--libvirt-uri", "test:///default", "--domain-type", "test"]
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(cmd, stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=network_env("198.19.4.0/24"))
        gw = Gateway(binary=ec2gw_bin, endpoint=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port,
                     database_url=database_url, data_dir=data_dir, stdout_path=out, stderr_path=err,
                     account=account, process=proc)
        starts.append(gw)
        wait_ready(gw)
        return gw

    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(disk), "64M"], check=True, capture_output=True)
    image_id = json.loads(subprocess.run(
        [str(ec2gw_bin), "admin", "--json", "--database", database_url, "--data-dir", str(data_dir), "image", "import",
         str(disk), "--name", "churn", "--account", account.account_id],
        check=True, capture_output=True, text=True).stdout)["ImageId"]

    def pool_routes() -> set[str]:
        return {line.split()[0] for line in ip("-4", "route", "show").splitlines() if line.startswith("198.19.4.")}

    try:
        gw = start()
        dep = deployment(gw)
        for round_ in range(3):
            client = make_client(gw, account)
            stop_flag = threading.Event()

            def churn():
                n = 0
                while not stop_flag.is_set():
                    n += 1
                    try:
                        vpc_id = client.create_vpc(CidrBlock=f"10.{n % 200}.0.0/16")["Vpc"]["VpcId"]
                        subnet_id = client.create_subnet(VpcId=vpc_id, CidrBlock=f"10.{n % 200}.1.0/24")["Subnet"]["SubnetId"]
                        if n % 3 == 0:
                            client.delete_subnet(SubnetId=subnet_id)
                            client.delete_vpc(VpcId=vpc_id)
                            continue
                        igw = client.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
                        client.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc_id)
                        [main] = client.describe_route_tables(Filters=[f("vpc-id", vpc_id)])["RouteTables"]
                        client.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0",
                                            GatewayId=igw)
                        [i] = client.run_instances(ImageId=image_id, MinCount=1, MaxCount=1,
                                                   SubnetId=subnet_id)["Instances"]
                        alloc = client.allocate_address(Domain="vpc")["AllocationId"]
                        assoc = client.associate_address(AllocationId=alloc, InstanceId=i["InstanceId"])["AssociationId"]
                        if n % 2:
                            client.disassociate_address(AssociationId=assoc)
                            client.release_address(AllocationId=alloc)
                            client.terminate_instances(InstanceIds=[i["InstanceId"]])
                    except Exception:  # noqa: BLE001 (the gateway is killed under it, or a limit is hit)
                        time.sleep(0.05)

            worker = threading.Thread(target=churn, daemon=True)
            worker.start()
            time.sleep(1.0 + 0.4 * round_)
            gw.process.send_signal(signal.SIGKILL)
            gw.process.wait(timeout=10)
            stop_flag.set()
            worker.join(timeout=30)
            gw = start()
            client = make_client(gw, account)
            vpcs = {v["VpcId"] for v in client.describe_vpcs()["Vpcs"]}
            subnets = {s["SubnetId"] for s in client.describe_subnets()["Subnets"]}
            wanted = {f"ec2gw-{dep}-{v}" for v in vpcs} | {bridge(gw, s) for s in subnets}
            wait_until("the host matches the database", lambda: wanted <= host_objects(dep) and not {
                n for n in host_objects(dep)
                if n.startswith(f"ec2gw-{dep}-") and n not in wanted} and not {
                n for n in host_objects(dep) if n.startswith(f"e{dep}b") and n not in wanted}, timeout=30)
            # The host routes exactly the public addresses mapped to an instance (every VPC here
            # has an internet gateway and a route to it, or none of either).
            mapped = {a["PublicIp"] for a in client.describe_addresses()["Addresses"] if a.get("AssociationId")}
            wait_until("the public routes match", lambda: pool_routes() == mapped, timeout=30)
        made = sum(len(re.findall(r'action="CreateVpc".*status=200', g.stderr_path.read_text())) for g in starts)
        assert made >= 3, f"the churn made {made} VPCs: the kills hit nothing"
        associated = sum(len(re.findall(r'action="AssociateAddress".*status=200', g.stderr_path.read_text()))
                         for g in starts)
        assert associated >= 1, "the churn associated no Elastic IP"
        # Everything deleted: nothing of the deployment is left on the host.
        for a in client.describe_addresses()["Addresses"]:
            if a.get("AssociationId"):
                client.disassociate_address(AssociationId=a["AssociationId"])
            client.release_address(AllocationId=a["AllocationId"])
        for v in client.describe_vpcs()["Vpcs"]:
            cleanup_vpc(client, v["VpcId"])
        wait_until("the host is clean", lambda: host_objects(dep) == set(), timeout=30)
        assert pool_routes() == set()
        assert not (data_dir / "network").exists() or not any((data_dir / "network").iterdir())
        procs = subprocess.run(["pgrep", "-af", str(data_dir / "network")], capture_output=True, text=True).stdout
        assert procs.strip() == "", procs
    finally:
        for g in starts:
            stop(g.process)
        purge_network(ec2gw_bin, database_url, data_dir)
