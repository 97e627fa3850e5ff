"""Real guests on real VPC networks: ec2gw on qemu:///system builds each VPC on this host (a
namespace as its router, a bridge per subnet, dnsmasq for DHCP and DNS, nftables for the 1:1 NAT
of public addresses), and the test image's guests take their address by DHCP and answer HTTP
(scripts/build-test-image: /cgi-bin/id, /cgi-bin/probe?ADDR from the guest, /cgi-bin/resolve).

Traffic goes only to public addresses of this gateway's own pool (198.19.2.0/24), which the
host routes into its VPC namespaces and nowhere else: the gateway's nftables table drops what
the host would send for the pool anywhere but into an uplink (checked before any packet is
sent), so an address that maps to no guest fails here instead of leaving the machine.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import AwsCli, admin_json, create_account, make_client
from test_real_guest import (  # noqa: F401  (fixtures)
    BOOT_TIMEOUT,
    INSTANCE_TYPE,
    console,
    describe,
    host,
    real_gateway,
    test_image,
    waiter,
    wait_until,
)

POOL = "198.19.2.0/24"
IP_LINE = re.compile(r"^EC2GW-TEST-GUEST-IP (\S+) (\S+) (\S+)/(\d+)\s*$", re.M)


def f(name: str, *values: str) -> dict:
    return {"Name": name, "Values": list(values)}


REAL: list = []


@pytest.fixture(scope="module")
def real(ec2gw_bin, test_image, request):  # noqa: F811
    with real_gateway(ec2gw_bin, test_image, "ec2gw-net-", request) as gw:
        REAL[:] = [gw]
        yield gw
        assert gw.alive(), f"ec2gw serve died during the module\n{gw.stderr_all()}"


@pytest.fixture(scope="module")
def ec2(real):
    return real.client()


HELD: set[str] = set()


def pool_is_held(real) -> None:
    """The host keeps the pool to itself: what it sends for an address of the pool goes into a
    VPC's uplink or nowhere (the deployment's nftables table), never out of the machine."""
    dep = re.search(r"deployment ([0-9a-f]{4})", real.current.stdout_path.read_text()).group(1)
    if dep in HELD:
        return
    table = subprocess.run(["nft", "list", "table", "ip", f"ec2gw-{dep}"], capture_output=True, text=True).stdout
    assert any(f"ip daddr {POOL}" in line and f'oifname != "e{dep}u*"' in line and line.strip().endswith("drop")
               for line in table.splitlines()), table
    HELD.add(dep)


def http(address: str, path: str, timeout: float = 5.0) -> str | None:
    """GET http://ADDRESS/PATH from the gateway host; None if nothing answers."""
    pool_is_held(REAL[0])
    assert address.startswith("198.19.2."), address
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=timeout) as r:
            return r.read().decode(errors="replace")
    except (urllib.error.URLError, OSError, TimeoutError):
        return None


def guest_addresses(ec2, instance_id: str, count: int = 1, timeout: float = BOOT_TIMEOUT) -> list[tuple]:
    """The guest's `EC2GW-TEST-GUEST-IP ifname mac ip prefix` console lines, once there are `count`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = IP_LINE.findall(console(ec2, instance_id))
        if len(lines) >= count:
            return lines
        time.sleep(0.2)
    raise AssertionError(f"{instance_id}: no address line on the console; tail:\n{console(ec2, instance_id)[-1500:]}")


def public_network(ec2, cidr: str = "10.0.0.0/16", subnet_cidr: str = "10.0.1.0/24") -> tuple[str, str]:
    """A VPC with a subnet whose main route table sends 0.0.0.0/0 to an attached internet gateway."""
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr)["Subnet"]["SubnetId"]
    igw_id = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    [main] = ec2.describe_route_tables(Filters=[f("vpc-id", vpc_id), f("association.main", "true")])["RouteTables"]
    ec2.create_route(RouteTableId=main["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id], WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return vpc_id, subnet_id


def answers(address: str, expect: str, timeout: float = 30.0) -> str:
    """Polls http://ADDRESS/cgi-bin/id until it answers with `expect` in it."""
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = http(address, "/cgi-bin/id", timeout=3)
        if body and expect in body:
            return body
        time.sleep(0.3)
    raise AssertionError(f"{address} did not answer with {expect!r} within {timeout} s (last: {body!r})")


def test_guests_in_a_vpc_get_their_addresses_reach_each_other_and_answer_at_an_elastic_ip(real, ec2, capsys,
                                                                                         test_image):  # noqa: F811
    t0 = time.monotonic()
    vpc_id, subnet_id = public_network(ec2)
    [a, b] = real.run(ec2, count=2, SubnetId=subnet_id)
    waiter(ec2, "instance_running", [a["InstanceId"], b["InstanceId"]])
    # Each guest got by DHCP exactly the address and MAC DescribeInstances shows.
    for inst in (a, b):
        desc = describe(ec2, inst["InstanceId"])
        [(ifname, mac, address, prefix)] = guest_addresses(ec2, inst["InstanceId"])
        assert (ifname, mac, address, prefix) == (
            "eth0", desc["NetworkInterfaces"][0]["MacAddress"], desc["PrivateIpAddress"], "24")
    took = time.monotonic() - t0
    a_ip, b_ip = a["PrivateIpAddress"], b["PrivateIpAddress"]

    alloc = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=a["InstanceId"])
    eip = alloc["PublicIp"]
    body = answers(eip, a_ip)
    assert f"inet {a_ip}/24" in body
    # A reaches B inside the subnet, and the VPC's DNS knows B's name.
    probe = http(eip, f"/cgi-bin/probe?{b_ip}", timeout=10)
    assert probe and f"inet {b_ip}/24" in probe, probe
    resolved = http(eip, f"/cgi-bin/resolve?ip-{b_ip.replace('.', '-')}", timeout=10)
    assert resolved and b_ip in resolved and "RESOLVE-FAILED" not in resolved, resolved
    with capsys.disabled():
        print(f"\nVPC + subnet + 2 guests with their DHCP addresses in {took:.1f} s; {eip} -> {a_ip}")

    # Another account's VPC with the same CIDR is a world of its own: its guest has A's address
    # and cannot reach B.
    account = create_account(real.binary, real.database_url, real.data_dir)
    other = make_client(real.current, account)
    _, subnet2 = public_network(other)
    theirs = admin_json(real.binary, real.database_url, real.data_dir, "image", "import", str(test_image),
                        "--name", "their-guest", "--account", account.account_id)["ImageId"]
    [c] = other.run_instances(ImageId=theirs, InstanceType=INSTANCE_TYPE, MinCount=1, MaxCount=1,
                              SubnetId=subnet2)["Instances"]
    real.instance_ids.add(c["InstanceId"])
    waiter(other, "instance_running", [c["InstanceId"]])
    assert c["PrivateIpAddress"] == a_ip
    guest_addresses(other, c["InstanceId"])
    alloc2 = other.allocate_address(Domain="vpc")
    other.associate_address(AllocationId=alloc2["AllocationId"], InstanceId=c["InstanceId"])
    c_mac = describe(other, c["InstanceId"])["NetworkInterfaces"][0]["MacAddress"]
    a_mac = describe(ec2, a["InstanceId"])["NetworkInterfaces"][0]["MacAddress"]
    assert c_mac in answers(alloc2["PublicIp"], a_ip)
    assert http(alloc2["PublicIp"], f"/cgi-bin/probe?{b_ip}", timeout=10).strip().endswith("PROBE-FAILED")
    # Each Elastic IP reaches its own guest.
    assert a_mac in answers(eip, a_ip) and c_mac not in answers(eip, a_ip)

    # A second interface, hot-plugged into the running guest: it comes up with its own address.
    eni = ec2.create_network_interface(SubnetId=subnet_id)["NetworkInterface"]
    attachment = ec2.attach_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"],
                                              InstanceId=a["InstanceId"], DeviceIndex=1)["AttachmentId"]
    wait_until("attached", lambda: ec2.describe_network_interfaces(NetworkInterfaceIds=[eni["NetworkInterfaceId"]])[
        "NetworkInterfaces"][0].get("Attachment", {}).get("Status") == "attached")
    lines = guest_addresses(ec2, a["InstanceId"], count=2)
    assert ("eth1", eni["MacAddress"], eni["PrivateIpAddress"], "24") in lines, lines
    body = answers(eip, eni["PrivateIpAddress"])
    assert body.count("link/ether") == 2, body
    ec2.detach_network_interface(AttachmentId=attachment)
    ec2.get_waiter("network_interface_available").wait(NetworkInterfaceIds=[eni["NetworkInterfaceId"]],
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    wait_until("the guest lost eth1", lambda: (http(eip, "/cgi-bin/id") or "").count("link/ether") == 1)
    ec2.delete_network_interface(NetworkInterfaceId=eni["NetworkInterfaceId"])

    # Disassociated, the address answers no more (the host holds it: nothing leaves).
    ec2.disassociate_address(PublicIp=eip)
    wait_until("the Elastic IP stops answering", lambda: http(eip, "/cgi-bin/id", timeout=2) is None)

    # Stop and start: the private address is kept.
    ec2.stop_instances(InstanceIds=[a["InstanceId"]])
    waiter(ec2, "instance_stopped", [a["InstanceId"]])
    ec2.start_instances(InstanceIds=[a["InstanceId"]])
    waiter(ec2, "instance_running", [a["InstanceId"]])
    lines = guest_addresses(ec2, a["InstanceId"], count=3)
    assert lines[-1][:3] == ("eth0", a_mac, a_ip) and describe(ec2, a["InstanceId"])["PrivateIpAddress"] == a_ip
    ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=a["InstanceId"])
    answers(eip, a_ip)


def test_a_bare_run_instances_is_reachable_at_its_public_address(real, ec2, tmp_path):
    """The default VPC, as on EC2: `aws ec2 run-instances` with nothing but an image, type and
    count, `aws ec2 wait instance-running`, and the instance answers at its public address."""
    aws = AwsCli(real.current, tmp_path)

    def cli(*args):
        result = aws("ec2", *args, "--endpoint-url", real.endpoint, "--output", "json")
        assert result.rc == 0, result
        return result.json() if result.stdout.strip() else None

    [d] = cli("run-instances", "--image-id", real.image_id, "--instance-type", INSTANCE_TYPE,
              "--count", "1")["Instances"]
    real.instance_ids.add(d["InstanceId"])
    assert aws("ec2", "wait", "instance-running", "--instance-ids", d["InstanceId"],
               "--endpoint-url", real.endpoint).rc == 0
    [[public_ip, private_ip]] = cli("describe-instances", "--instance-ids", d["InstanceId"], "--query",
                                    "Reservations[].Instances[].[PublicIpAddress,PrivateIpAddress]")
    assert public_ip.startswith("198.19.2.") and private_ip.startswith("172.31.")
    desc = describe(ec2, d["InstanceId"])
    public_ip = desc["PublicIpAddress"]
    assert desc["PrivateIpAddress"].startswith("172.31.")
    guest_addresses(ec2, d["InstanceId"])
    answers(public_ip, desc["PrivateIpAddress"])
    # Stopped, the launch-given address goes back; started, a new one is given and works.
    ec2.stop_instances(InstanceIds=[d["InstanceId"]])
    waiter(ec2, "instance_stopped", [d["InstanceId"]])
    assert "PublicIpAddress" not in describe(ec2, d["InstanceId"])
    ec2.start_instances(InstanceIds=[d["InstanceId"]])
    waiter(ec2, "instance_running", [d["InstanceId"]])
    again = describe(ec2, d["InstanceId"])["PublicIpAddress"]
    guest_addresses(ec2, d["InstanceId"], count=2)
    answers(again, desc["PrivateIpAddress"])
