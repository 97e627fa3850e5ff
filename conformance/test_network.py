"""The default network every account has, as on EC2: one default VPC (172.31.0.0/16), a
default subnet per availability zone and the VPC's `default` security group, through boto3
and the AWS CLI. Instance placement in it is in test_instances.py."""

from __future__ import annotations

import re

import pytest

from assertions import api_error, dry_run, loose, uid

VPC_ID = re.compile(r"^vpc-[0-9a-f]{17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{17}$")
GROUP_ID = re.compile(r"^sg-[0-9a-f]{17}$")
ZONES = [("us-east-1a", "use1-az1"), ("us-east-1b", "use1-az2"), ("us-east-1c", "use1-az3")]
MISSING_VPC = "vpc-0123456789abcdef0"
MISSING_SUBNET = "subnet-0123456789abcdef0"
MISSING_GROUP = "sg-0123456789abcdef0"


def f(name: str, *values: str) -> dict:
    return {"Name": name, "Values": list(values)}


@pytest.fixture(scope="module")
def vpc(ec2) -> dict:
    [vpc] = ec2.describe_vpcs()["Vpcs"]
    return vpc


def test_the_default_vpc(ec2, gateway, vpc):
    assert VPC_ID.match(vpc["VpcId"])
    assoc = vpc["CidrBlockAssociationSet"]
    assert vpc == {
        "VpcId": vpc["VpcId"], "OwnerId": gateway.account_id, "State": "available", "CidrBlock": "172.31.0.0/16",
        "CidrBlockAssociationSet": [{"CidrBlock": "172.31.0.0/16", "AssociationId": assoc[0]["AssociationId"],
                                     "CidrBlockState": {"State": "associated"}}],
        "DhcpOptionsId": vpc["DhcpOptionsId"], "Tags": [], "InstanceTenancy": "default", "IsDefault": True,
    }
    assert re.match(r"^vpc-cidr-assoc-[0-9a-f]{17}$", assoc[0]["AssociationId"])
    assert re.match(r"^dopt-[0-9a-f]{17}$", vpc["DhcpOptionsId"])
    # The same on every call (derived, not random), and DescribeAccountAttributes names it.
    assert ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"] == [vpc]
    attrs = ec2.describe_account_attributes(AttributeNames=["default-vpc"])["AccountAttributes"]
    assert attrs[0]["AttributeValues"] == [{"AttributeValue": vpc["VpcId"]}]


@pytest.mark.parametrize("filters,found", [
    ([f("isDefault", "true")], True),  # what Ansible's ec2_instance sends
    ([f("is-default", "true")], True),
    ([f("is-default", "false")], False),
    ([f("state", "available"), f("cidr", "172.31.*")], True),
    ([f("cidr-block-association.cidr-block", "10.0.0.0/16")], False),
    ([f("cidr-block-association.state", "associated")], True),
    ([f("tag-key", "Name")], False),
    ([f("ipv6-cidr-block-association.ipv6-cidr-block", "*")], False),
])
def test_describe_vpcs_filters(ec2, vpc, filters, found):
    assert [v["VpcId"] for v in ec2.describe_vpcs(Filters=filters)["Vpcs"]] == ([vpc["VpcId"]] if found else [])


def test_describe_vpcs_by_owner_and_dhcp_options(ec2, vpc, gateway):
    assert len(ec2.describe_vpcs(Filters=[f("owner-id", gateway.account_id),
                                          f("dhcp-options-id", vpc["DhcpOptionsId"])])["Vpcs"]) == 1
    assert ec2.describe_vpcs(Filters=[f("owner-id", "123456789012")])["Vpcs"] == []


def test_describe_vpcs_errors(ec2, client_for, second_account, vpc):
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{MISSING_VPC}' does not exist"):
        ec2.describe_vpcs(VpcIds=[MISSING_VPC])
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{MISSING_VPC}' does not exist"):
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"], MISSING_VPC])
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_vpcs(Filters=[f("bogus", "x")])
    with api_error("InvalidParameterValue"):
        loose(client_for).describe_vpcs(MaxResults=4)
    dry_run(ec2.describe_vpcs)
    # Each account has its own: another account's VPC does not exist for this one.
    other = client_for(second_account)
    [theirs] = other.describe_vpcs()["Vpcs"]
    assert theirs["VpcId"] != vpc["VpcId"] and theirs["OwnerId"] == second_account.account_id
    with api_error("InvalidVpcID.NotFound"):
        ec2.describe_vpcs(VpcIds=[theirs["VpcId"]])


def test_describe_vpc_attribute_as_terraform_reads_a_vpc(ec2, aws, gateway, vpc, client_for, second_account):
    """Terraform's aws_vpc read asks for each of the three attributes in turn."""
    vpc_id = vpc["VpcId"]
    for attribute, key, value in [
        ("enableDnsSupport", "EnableDnsSupport", True),
        ("enableDnsHostnames", "EnableDnsHostnames", True),
        ("enableNetworkAddressUsageMetrics", "EnableNetworkAddressUsageMetrics", False),
    ]:
        answer = ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute=attribute)
        answer.pop("ResponseMetadata")
        assert answer == {"VpcId": vpc_id, key: {"Value": value}}
    result = aws("ec2", "describe-vpc-attribute", "--vpc-id", vpc_id, "--attribute", "enableDnsSupport",
                 "--endpoint-url", gateway.endpoint, "--output", "json")
    assert result.rc == 0, result
    assert result.json() == {"VpcId": vpc_id, "EnableDnsSupport": {"Value": True}}
    with api_error("InvalidParameterValue", "Value (bogus) for parameter attribute is invalid. Unknown attribute."):
        ec2.describe_vpc_attribute(VpcId=vpc_id, Attribute="bogus")
    with api_error("InvalidVpcID.NotFound", f"The vpc ID '{MISSING_VPC}' does not exist"):
        ec2.describe_vpc_attribute(VpcId=MISSING_VPC, Attribute="enableDnsSupport")
    with api_error("InvalidVpcID.NotFound"):
        client_for(second_account).describe_vpc_attribute(VpcId=vpc_id, Attribute="enableDnsSupport")
    dry_run(ec2.describe_vpc_attribute, VpcId=vpc_id, Attribute="enableDnsSupport")


def test_vpc_tags(ec2, vpc):
    name = uid("main")
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": name}])
    try:
        [tagged] = ec2.describe_vpcs(Filters=[f("tag:Name", name)])["Vpcs"]
        assert tagged["Tags"] == [{"Key": "Name", "Value": name}]
        tags = ec2.describe_tags(Filters=[f("resource-id", vpc["VpcId"])])["Tags"]
        assert tags == [{"ResourceId": vpc["VpcId"], "ResourceType": "vpc", "Key": "Name", "Value": name}]
    finally:
        ec2.delete_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name"}])
    assert ec2.describe_vpcs(Filters=[f("tag:Name", name)])["Vpcs"] == []
    with api_error("InvalidVpcID.NotFound"):
        ec2.create_tags(Resources=[MISSING_VPC], Tags=[{"Key": "Name", "Value": "x"}])


def test_default_subnets_one_per_zone(ec2, gateway, vpc):
    subnets = sorted(ec2.describe_subnets()["Subnets"], key=lambda s: s["AvailabilityZone"])
    assert [(s["AvailabilityZone"], s["AvailabilityZoneId"]) for s in subnets] == ZONES
    for subnet, cidr in zip(subnets, ["172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"], strict=True):
        assert SUBNET_ID.match(subnet["SubnetId"])
        # A /20 has 4,096 addresses; EC2 reserves 5; other tests' instances hold some.
        in_use = len(ec2.describe_network_interfaces(Filters=[f("subnet-id", subnet["SubnetId"])])["NetworkInterfaces"])
        assert subnet == {
            "SubnetId": subnet["SubnetId"],
            "SubnetArn": f"arn:aws:ec2:us-east-1:{gateway.account_id}:subnet/{subnet['SubnetId']}",
            "State": "available", "VpcId": vpc["VpcId"], "OwnerId": gateway.account_id, "CidrBlock": cidr,
            "AvailableIpAddressCount": 4091 - in_use, "AvailabilityZone": subnet["AvailabilityZone"],
            "AvailabilityZoneId": subnet["AvailabilityZoneId"], "DefaultForAz": True, "MapPublicIpOnLaunch": True,
            "MapCustomerOwnedIpOnLaunch": False, "AssignIpv6AddressOnCreation": False, "EnableDns64": False,
            "Ipv6Native": False, "Tags": [],
            "PrivateDnsNameOptionsOnLaunch": {"HostnameType": "ip-name", "EnableResourceNameDnsARecord": False,
                                              "EnableResourceNameDnsAAAARecord": False},
        }


def test_describe_subnets_filters_as_ansible_sends_them(ec2, vpc):
    # ec2_instance's get_default_subnet: vpc-id, state, default-for-az.
    found = ec2.describe_subnets(Filters=[f("vpc-id", vpc["VpcId"]), f("state", "available"),
                                          f("default-for-az", "true")])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in found) == [z for z, _ in ZONES]
    [b] = ec2.describe_subnets(Filters=[f("availability-zone", "us-east-1b")])["Subnets"]
    assert ec2.describe_subnets(Filters=[f("availabilityZoneId", "use1-az2")])["Subnets"] == [b]
    assert ec2.describe_subnets(Filters=[f("cidr-block", "172.31.16.0/20")])["Subnets"] == [b]
    assert ec2.describe_subnets(SubnetIds=[b["SubnetId"]])["Subnets"] == [b]
    assert ec2.describe_subnets(Filters=[f("defaultForAz", "false")])["Subnets"] == []
    assert ec2.describe_subnets(Filters=[f("vpc-id", MISSING_VPC)])["Subnets"] == []


def test_describe_subnets_errors_and_paging(ec2):
    with api_error("InvalidSubnetID.NotFound", f"The subnet ID '{MISSING_SUBNET}' does not exist"):
        ec2.describe_subnets(SubnetIds=[MISSING_SUBNET])
    with api_error("InvalidParameterValue", "The filter 'subnet-name' is invalid"):
        ec2.describe_subnets(Filters=[f("subnet-name", "x")])
    dry_run(ec2.describe_subnets)
    pages = list(ec2.get_paginator("describe_subnets").paginate(PaginationConfig={"PageSize": 5}))
    assert [len(p["Subnets"]) for p in pages] == [len(ZONES)] and "NextToken" not in pages[0]


def test_the_default_security_group(ec2, gateway, vpc):
    [group] = ec2.describe_security_groups()["SecurityGroups"]
    assert GROUP_ID.match(group["GroupId"])
    assert group == {
        "GroupId": group["GroupId"], "GroupName": "default", "Description": "default VPC security group",
        "OwnerId": gateway.account_id, "VpcId": vpc["VpcId"], "Tags": [],
        "SecurityGroupArn": f"arn:aws:ec2:us-east-1:{gateway.account_id}:security-group/{group['GroupId']}",
        # AWS's default rules: all traffic from the group's own members in, everything out.
        "IpPermissions": [{"IpProtocol": "-1", "IpRanges": [], "Ipv6Ranges": [], "PrefixListIds": [],
                           "UserIdGroupPairs": [{"GroupId": group["GroupId"], "UserId": gateway.account_id}]}],
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
                                 "PrefixListIds": [], "UserIdGroupPairs": []}],
    }
    assert ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"] == [group]
    assert ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"] == [group]
    by_filter = ec2.describe_security_groups(Filters=[f("vpc-id", vpc["VpcId"]), f("group-name", "default"),
                                                      f("egress.ip-permission.cidr", "0.0.0.0/0")])
    assert by_filter["SecurityGroups"] == [group]
    assert ec2.describe_security_groups(Filters=[f("group-name", "web")])["SecurityGroups"] == []


def test_describe_security_groups_errors(ec2, vpc):
    with api_error("InvalidGroup.NotFound", f"The security group '{MISSING_GROUP}' does not exist"):
        ec2.describe_security_groups(GroupIds=[MISSING_GROUP])
    with api_error("InvalidGroup.NotFound",
                   f"The security group 'web' does not exist in default VPC '{vpc['VpcId']}'"):
        ec2.describe_security_groups(GroupNames=["web"])
    with api_error("InvalidGroupId.Malformed", 'Invalid id: "sg-1" (expecting "sg-...")'):
        ec2.describe_security_groups(GroupIds=["sg-1"])
    with api_error("InvalidParameterValue", "The filter 'group' is invalid"):
        ec2.describe_security_groups(Filters=[f("group", "x")])
    dry_run(ec2.describe_security_groups)


def test_the_cli_reads_the_network(aws, gateway, vpc):
    def cli(*args: str):
        return aws("ec2", *args, "--endpoint-url", gateway.endpoint, "--output", "json")

    assert cli("describe-vpcs", "--filters", "Name=isDefault,Values=true", "--query", "Vpcs[].VpcId").json() == [
        vpc["VpcId"]]
    zones = cli("describe-subnets", "--filters", f"Name=vpc-id,Values={vpc['VpcId']}",
                "--query", "sort(Subnets[].AvailabilityZone)").json()
    assert zones == [z for z, _ in ZONES]
    names = cli("describe-security-groups", "--group-names", "default",
                "--query", "SecurityGroups[].[GroupName,VpcId]").json()
    assert names == [["default", vpc["VpcId"]]]
    rc, _, stderr = cli("describe-subnets", "--subnet-ids", MISSING_SUBNET)
    assert rc == 255  # the AWS CLI v1 exit status for a service error
    assert ("An error occurred (InvalidSubnetID.NotFound) when calling the DescribeSubnets operation: "
            f"The subnet ID '{MISSING_SUBNET}' does not exist") in stderr
