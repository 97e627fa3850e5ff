"""Core conformance: regions, zones, account attributes, signing and the error envelope,
through the AWS CLI, boto3 and hand-made SigV4 requests against a live gateway."""

from __future__ import annotations

import datetime
import os
import re
import secrets
import sqlite3
import string
import subprocess
import time

import pytest
import requests
from botocore.exceptions import ClientError

from assertions import assert_cli_error
from conftest import Account, Gateway, clean_env, free_port, stop, wait_ready

import ec2wire
from ec2wire import NS, action, utcnow

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
ZONE_IDS = {"us-east-1a": "use1-az1", "us-east-1b": "use1-az2", "us-east-1c": "use1-az3"}
ACCOUNT_ATTRIBUTES = {
    "supported-platforms",
    "default-vpc",
    "max-instances",
    "max-elastic-ips",
    "vpc-max-elastic-ips",
    "vpc-max-security-groups-per-interface",
}
NUMERIC_ATTRIBUTES = ACCOUNT_ATTRIBUTES - {"supported-platforms", "default-vpc"}


def client_error(excinfo) -> tuple[str, int]:
    err = excinfo.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def assert_request_id_matches(response: dict) -> None:
    meta = response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["RequestId"], meta
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]


def assert_error(reply: ec2wire.Reply, code: str, status: int) -> str:
    """The reply is AWS's error envelope with this code and status; returns the message."""
    assert reply.status == status, reply.describe()
    got_code, message = reply.error
    assert got_code == code, reply.describe()
    assert message, reply.describe()
    assert reply.header_request_id, reply.describe()
    assert reply.error_request_id == reply.header_request_id, reply.describe()
    return message


def assert_regions_ok(reply: ec2wire.Reply) -> None:
    assert reply.status == 200, reply.describe()
    assert reply.root.tag == f"{{{NS}}}DescribeRegionsResponse", reply.text
    assert reply.header_request_id, reply.describe()
    assert reply.success_request_id == reply.header_request_id, reply.describe()
    assert reply.items("regionInfo", "regionName") == ["us-east-1"], reply.text
    assert reply.items("regionInfo", "optInStatus") == ["opt-in-not-required"], reply.text


def zone_names(response: dict) -> list[str]:
    return [z["ZoneName"] for z in response["AvailabilityZones"]]


def random_access_key_id() -> str:
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


# =========================================================================== AWS CLI


def cli_config(aws, gateway, how: str) -> tuple[list[str], dict[str, str | None]]:
    """Point the CLI at the gateway `how`; returns (extra args, extra env).

    Profile variants carry the credentials in the shared credentials file and take the
    environment's keys away, so that only the profile can make the call succeed."""
    ep = gateway.endpoint
    if how == "flag":
        return ["--endpoint-url", ep], {}
    if how == "env-service":
        return [], {"AWS_ENDPOINT_URL_EC2": ep}
    if how == "env-global":
        return [], {"AWS_ENDPOINT_URL": ep}
    if how == "profile-endpoint_url":
        config = f"[profile gw]\nregion = us-east-1\nendpoint_url = {ep}\n"
    elif how in ("profile-services", "env-profile-services"):
        config = (
            "[profile gw]\nregion = us-east-1\nservices = ec2gw\n\n"
            f"[services ec2gw]\nec2 =\n  endpoint_url = {ep}\n"
        )
    else:
        raise ValueError(how)
    aws.write_config(config)
    aws.write_credentials(
        f"[gw]\naws_access_key_id = {gateway.access_key}\naws_secret_access_key = {gateway.secret_key}\n"
    )
    env = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_DEFAULT_REGION": None}
    if how == "env-profile-services":
        return [], {**env, "AWS_PROFILE": "gw"}
    return ["--profile", "gw"], env


ENDPOINT_SOURCES = [
    "flag",
    "env-service",
    "env-global",
    "profile-endpoint_url",
    "profile-services",
    "env-profile-services",
]


@pytest.mark.parametrize("how", ENDPOINT_SOURCES)
def test_cli_describe_regions_endpoint_sources(aws, gateway, how):
    args, env = cli_config(aws, gateway, how)
    out = aws("ec2", "describe-regions", "--output", "json", *args, env=env).json()
    assert [r["RegionName"] for r in out["Regions"]] == ["us-east-1"]
    assert [r["OptInStatus"] for r in out["Regions"]] == ["opt-in-not-required"]


@pytest.mark.parametrize("how", ["flag", "env-service", "profile-services"])
def test_cli_describe_availability_zones(aws, gateway, how):
    args, env = cli_config(aws, gateway, how)
    out = aws("ec2", "describe-availability-zones", "--output", "json", *args, env=env).json()
    zones = out["AvailabilityZones"]
    assert [z["ZoneName"] for z in zones] == ZONES
    assert [z["ZoneId"] for z in zones] == [ZONE_IDS[n] for n in ZONES]
    assert {z["State"] for z in zones} == {"available"}
    assert {z["RegionName"] for z in zones} == {"us-east-1"}


def test_cli_query_text(aws, gateway):
    result = aws(
        "ec2", "describe-availability-zones", "--endpoint-url", gateway.endpoint,
        "--query", "AvailabilityZones[].ZoneName", "--output", "text",
    )
    assert result.rc == 0, result
    assert result.stdout == "us-east-1a\tus-east-1b\tus-east-1c\n"


def test_cli_query_json_with_filter(aws, gateway):
    result = aws(
        "ec2", "describe-availability-zones", "--endpoint-url", gateway.endpoint,
        "--filters", "Name=zone-id,Values=use1-az2,use1-az3",
        "--query", "AvailabilityZones[].[ZoneName,ZoneId,State]", "--output", "json",
    )
    assert result.json() == [["us-east-1b", "use1-az2", "available"], ["us-east-1c", "use1-az3", "available"]]


def test_cli_describe_regions_query(aws, gateway):
    result = aws(
        "ec2", "describe-regions", "--endpoint-url", gateway.endpoint, "--region-names", "us-east-1",
        "--query", "Regions[0].RegionName", "--output", "text",
    )
    assert result.rc == 0, result
    assert result.stdout == "us-east-1\n"


def test_cli_describe_account_attributes(aws, gateway):
    out = aws(
        "ec2", "describe-account-attributes", "--endpoint-url", gateway.endpoint,
        "--attribute-names", "supported-platforms", "--output", "json",
    ).json()
    assert out["AccountAttributes"] == [
        {"AttributeName": "supported-platforms", "AttributeValues": [{"AttributeValue": "VPC"}]}
    ]


def test_cli_dry_run(aws, gateway):
    result = aws("ec2", "describe-regions", "--dry-run", "--endpoint-url", gateway.endpoint)
    assert_cli_error(result, "DryRunOperation", "DescribeRegions")


def test_cli_wrong_secret(aws, gateway):
    result = aws(
        "ec2", "describe-regions", "--endpoint-url", gateway.endpoint,
        env={"AWS_SECRET_ACCESS_KEY": "w" * 40},
    )
    assert_cli_error(result, "SignatureDoesNotMatch", "DescribeRegions", (
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details."))


def test_cli_unknown_access_key(aws, gateway):
    result = aws(
        "ec2", "describe-regions", "--endpoint-url", gateway.endpoint,
        env={"AWS_ACCESS_KEY_ID": random_access_key_id()},
    )
    assert_cli_error(result, "AuthFailure", "DescribeRegions",
                     "AWS was not able to validate the provided access credentials")


def test_cli_unknown_zone(aws, gateway):
    result = aws(
        "ec2", "describe-availability-zones", "--endpoint-url", gateway.endpoint,
        "--zone-names", "us-east-1z",
    )
    assert_cli_error(result, "InvalidParameterValue", "DescribeAvailabilityZones")


# =========================================================================== boto3: regions


def test_describe_regions(ec2):
    resp = ec2.describe_regions()
    assert_request_id_matches(resp)
    assert [r["RegionName"] for r in resp["Regions"]] == ["us-east-1"]
    region = resp["Regions"][0]
    assert region["OptInStatus"] == "opt-in-not-required"
    assert region["Endpoint"]


def test_describe_regions_by_name(ec2):
    resp = ec2.describe_regions(RegionNames=["us-east-1"])
    assert [r["RegionName"] for r in resp["Regions"]] == ["us-east-1"]


def test_describe_regions_unknown_name(ec2):
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_regions(RegionNames=["xx-nowhere-9"])
    assert client_error(excinfo) == ("InvalidParameterValue", 400)


def test_describe_regions_all_regions(ec2):
    enabled = ec2.describe_regions()["Regions"]
    every = ec2.describe_regions(AllRegions=True)["Regions"]
    names = [r["RegionName"] for r in every]
    assert "us-east-1" in names
    assert len(names) == len(set(names))
    for region in enabled:
        assert region in every
    for region in every:
        assert region["OptInStatus"] in {"opt-in-not-required", "opted-in", "not-opted-in"}, region


@pytest.mark.parametrize(
    "name, values, expected",
    [
        ("region-name", ["us-east-1"], ["us-east-1"]),
        ("region-name", ["eu-west-1", "us-east-1"], ["us-east-1"]),
        ("region-name", ["xx-nowhere-9"], []),
        ("opt-in-status", ["opt-in-not-required"], ["us-east-1"]),
        ("opt-in-status", ["not-opted-in"], []),
        ("endpoint", ["no.such.endpoint.example"], []),
    ],
)
def test_describe_regions_filters(ec2, name, values, expected):
    resp = ec2.describe_regions(Filters=[{"Name": name, "Values": values}])
    assert [r["RegionName"] for r in resp["Regions"]] == expected


def test_describe_regions_filter_endpoint(ec2):
    endpoint = ec2.describe_regions()["Regions"][0]["Endpoint"]
    resp = ec2.describe_regions(Filters=[{"Name": "endpoint", "Values": [endpoint]}])
    assert [r["RegionName"] for r in resp["Regions"]] == ["us-east-1"]


def test_describe_regions_filters_are_anded(ec2):
    resp = ec2.describe_regions(
        Filters=[
            {"Name": "region-name", "Values": ["us-east-1"]},
            {"Name": "opt-in-status", "Values": ["not-opted-in"]},
        ]
    )
    assert resp["Regions"] == []


# =========================================================================== boto3: zones


def test_describe_availability_zones(ec2):
    resp = ec2.describe_availability_zones()
    assert_request_id_matches(resp)
    zones = resp["AvailabilityZones"]
    assert zone_names(resp) == ZONES
    for zone in zones:
        assert zone["ZoneId"] == ZONE_IDS[zone["ZoneName"]]
        assert zone["State"] == "available"
        assert zone["RegionName"] == "us-east-1"
        assert zone["ZoneType"] == "availability-zone"
        assert zone["OptInStatus"] == "opt-in-not-required"
        assert zone["GroupName"], zone
    assert len({z["GroupName"] for z in zones}) == 1


def test_describe_availability_zones_all(ec2):
    resp = ec2.describe_availability_zones(AllAvailabilityZones=True)
    assert zone_names(resp) == ZONES


def test_describe_availability_zones_by_name(ec2):
    resp = ec2.describe_availability_zones(ZoneNames=["us-east-1b"])
    assert [(z["ZoneName"], z["ZoneId"]) for z in resp["AvailabilityZones"]] == [("us-east-1b", "use1-az2")]


def test_describe_availability_zones_by_names(ec2):
    resp = ec2.describe_availability_zones(ZoneNames=["us-east-1c", "us-east-1a"])
    assert sorted(zone_names(resp)) == ["us-east-1a", "us-east-1c"]


def test_describe_availability_zones_by_id(ec2):
    resp = ec2.describe_availability_zones(ZoneIds=["use1-az3"])
    assert [(z["ZoneName"], z["ZoneId"]) for z in resp["AvailabilityZones"]] == [("us-east-1c", "use1-az3")]


@pytest.mark.parametrize("kwargs", [{"ZoneNames": ["us-east-1z"]}, {"ZoneIds": ["use1-az9"]}])
def test_describe_availability_zones_unknown(ec2, kwargs):
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_availability_zones(**kwargs)
    assert client_error(excinfo) == ("InvalidParameterValue", 400)


@pytest.mark.parametrize(
    "name, values, expected",
    [
        ("zone-name", ["us-east-1a", "us-east-1c"], ["us-east-1a", "us-east-1c"]),
        ("zone-name", ["us-east-1z"], []),
        ("zone-id", ["use1-az2"], ["us-east-1b"]),
        ("state", ["available"], ZONES),
        ("state", ["impaired", "unavailable"], []),
        ("region-name", ["us-east-1"], ZONES),
        ("region-name", ["eu-west-1"], []),
        ("zone-type", ["availability-zone"], ZONES),
        ("zone-type", ["local-zone"], []),
        ("group-name", ["no-such-group"], []),
    ],
)
def test_describe_availability_zones_filters(ec2, name, values, expected):
    resp = ec2.describe_availability_zones(Filters=[{"Name": name, "Values": values}])
    assert zone_names(resp) == expected


def test_describe_availability_zones_filter_group_name(ec2):
    group = ec2.describe_availability_zones()["AvailabilityZones"][0]["GroupName"]
    resp = ec2.describe_availability_zones(Filters=[{"Name": "group-name", "Values": [group]}])
    assert zone_names(resp) == ZONES


def test_describe_availability_zones_filters_are_anded(ec2):
    resp = ec2.describe_availability_zones(
        Filters=[
            {"Name": "zone-name", "Values": ["us-east-1a", "us-east-1b"]},
            {"Name": "zone-id", "Values": ["use1-az2", "use1-az3"]},
        ]
    )
    assert zone_names(resp) == ["us-east-1b"]


def test_describe_availability_zones_names_and_filter(ec2):
    resp = ec2.describe_availability_zones(
        ZoneNames=["us-east-1a", "us-east-1b"], Filters=[{"Name": "state", "Values": ["available"]}]
    )
    assert zone_names(resp) == ["us-east-1a", "us-east-1b"]


# =========================================================================== boto3: account attributes


def attributes(resp: dict) -> dict[str, list[str]]:
    return {
        a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]]
        for a in resp["AccountAttributes"]
    }


def test_describe_account_attributes_all(ec2):
    resp = ec2.describe_account_attributes()
    assert_request_id_matches(resp)
    attrs = attributes(resp)
    assert len(resp["AccountAttributes"]) == len(ACCOUNT_ATTRIBUTES)
    assert set(attrs) == ACCOUNT_ATTRIBUTES
    assert attrs["supported-platforms"] == ["VPC"]
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert attrs["default-vpc"] == [vpc["VpcId"]]
    for name in NUMERIC_ATTRIBUTES:
        assert len(attrs[name]) == 1, (name, attrs[name])
        assert attrs[name][0].isdigit() and int(attrs[name][0]) > 0, (name, attrs[name])


def test_describe_account_attributes_by_name(ec2):
    resp = ec2.describe_account_attributes(AttributeNames=["supported-platforms"])
    assert attributes(resp) == {"supported-platforms": ["VPC"]}
    resp = ec2.describe_account_attributes(AttributeNames=["default-vpc", "max-instances"])
    attrs = attributes(resp)
    assert set(attrs) == {"default-vpc", "max-instances"}
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", attrs["default-vpc"][0])
    assert attrs["max-instances"][0].isdigit()


# =========================================================================== boto3: dry run


@pytest.mark.parametrize(
    "method, kwargs",
    [
        ("describe_regions", {}),
        ("describe_availability_zones", {}),
        ("describe_account_attributes", {"AttributeNames": ["supported-platforms"]}),
    ],
)
def test_dry_run(ec2, method, kwargs):
    with pytest.raises(ClientError) as excinfo:
        getattr(ec2, method)(DryRun=True, **kwargs)
    assert client_error(excinfo) == ("DryRunOperation", 412)


# =========================================================================== accounts and keys


def test_second_account_key_works(gateway, second_account, client_for):
    assert second_account.account_id != gateway.account_id
    assert len(second_account.account_id) == 12 and second_account.account_id.isdigit()
    assert second_account.access_key.startswith("AKIA") and len(second_account.access_key) == 20
    assert len(second_account.secret_key) == 40
    resp = client_for(second_account).describe_regions()
    assert [r["RegionName"] for r in resp["Regions"]] == ["us-east-1"]


def test_key_list_by_account(gateway, second_account):
    listed = gateway.admin_json("key", "list", "--account", second_account.account_id)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"], k["AccountId"]) for k in listed] == [
        (second_account.access_key, "Active", second_account.account_id)
    ]
    everyone = gateway.admin_json("key", "list")["AccessKeyMetadata"]
    ids = {k["AccessKeyId"] for k in everyone}
    assert {gateway.access_key, second_account.access_key} <= ids


# The gateway keeps signing keys for up to 5 s (README: access keys): a disabled or deleted key is
# refused within that, not at once.
KEY_CACHE_SECONDS = 5


def refused_within_cache_time(gateway, key) -> ec2wire.Reply:
    """The first answer to a call with `key` that is not a success, polled for the cache's time."""
    started = time.monotonic()
    while True:
        reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), key.access_key, key.secret_key)
        if reply.status != 200 or time.monotonic() - started > KEY_CACHE_SECONDS + 2:
            break
        time.sleep(0.1)
    assert time.monotonic() - started <= KEY_CACHE_SECONDS + 0.5
    return reply


def test_disabled_key_is_refused(gateway):
    key = gateway.create_key(gateway.account_id)
    ok = ec2wire.call(gateway.endpoint, action("DescribeRegions"), key.access_key, key.secret_key)
    assert_regions_ok(ok)
    gateway.admin("key", "disable", key.access_key)
    listed = gateway.admin_json("key", "list", "--account", gateway.account_id)["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in listed}[key.access_key] == "Inactive"
    assert_error(refused_within_cache_time(gateway, key), "AuthFailure", 401)


def test_deleted_key_is_refused(gateway):
    key = gateway.create_key(gateway.account_id)
    assert_regions_ok(ec2wire.call(gateway.endpoint, action("DescribeRegions"), key.access_key, key.secret_key))
    gateway.admin("key", "delete", key.access_key)
    listed = gateway.admin_json("key", "list")["AccessKeyMetadata"]
    assert key.access_key not in {k["AccessKeyId"] for k in listed}
    assert_error(refused_within_cache_time(gateway, key), "AuthFailure", 401)


def test_secrets_rotate_while_the_gateway_serves(gateway):
    """`ec2gw admin secrets rotate` seals every secret under a new key and leaves the key file
    with that key alone; the running gateway reads the file again and every key still signs."""
    key = gateway.create_key(gateway.account_id)
    key_file = gateway.data_dir / "secret.key"
    before = [line for line in key_file.read_text().splitlines() if line and not line.startswith("#")]
    assert len(before) == 1
    if gateway.database_url.startswith("sqlite://"):
        db = sqlite3.connect(gateway.database_url.removeprefix("sqlite://"))
        try:
            stored = dict(db.execute("SELECT access_key_id, secret_sealed FROM access_keys").fetchall())
        finally:
            db.close()
        assert stored[key.access_key] != key.secret_key
        assert key.secret_key not in "".join(stored.values()), "a secret in plain text"

    rotated = gateway.admin_json("secrets", "rotate")
    assert rotated["KeyFile"] == str(key_file)
    assert rotated["Resealed"] >= 2 and len(rotated["Retired"]) == 1
    after = [line for line in key_file.read_text().splitlines() if line and not line.startswith("#")]
    assert len(after) == 1 and after != before
    assert os.stat(key_file).st_mode & 0o7777 == 0o600
    for access_key, secret in [(key.access_key, key.secret_key), (gateway.access_key, gateway.secret_key)]:
        assert_regions_ok(ec2wire.call(gateway.endpoint, action("DescribeRegions"), access_key, secret))


def test_files_at_rest_are_the_gateways_alone(ec2gw_bin, tmp_path):
    """A first start on a data dir that does not exist yet: the dir is 0711 (QEMU passes
    through to the disks, no one lists it), the database files and the key file 0600."""
    data_dir = tmp_path / "fresh" / "data"
    port = free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with open(out, "wb") as o, open(err, "wb") as e:
        process = subprocess.Popen(
            [str(ec2gw_bin), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir),
             "--libvirt-uri", "test:///default", "--domain-type", "test"],
            stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=clean_env(),
        )
    try:
        gw = Gateway(binary=ec2gw_bin, endpoint=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port,
                     database_url=f"sqlite://{data_dir / 'ec2gw.sqlite'}", data_dir=data_dir, stdout_path=out,
                     stderr_path=err, account=Account("", "", ""), process=process)
        wait_ready(gw)
        printed = out.read_text()
        assert f"Data directory: {data_dir}" in printed.splitlines(), printed
        secret = re.search(r"aws_secret_access_key (\S+)", printed).group(1)
        modes = {p.name: os.stat(p).st_mode & 0o7777 for p in [data_dir, *data_dir.iterdir()]}
        assert modes == {"data": 0o711, "ec2gw.sqlite": 0o600, "ec2gw.sqlite-wal": 0o600,
                         "ec2gw.sqlite-shm": 0o600, "secret.key": 0o600}, modes
        assert secret.encode() not in (data_dir / "ec2gw.sqlite").read_bytes()
        assert secret.encode() not in (data_dir / "ec2gw.sqlite-wal").read_bytes()
    finally:
        stop(process)


# =========================================================================== wire: success


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_signed_request(gateway, method):
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key, method=method)
    assert_regions_ok(reply)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_signed_request_with_list_params(gateway, method):
    params = action("DescribeAvailabilityZones", **{"ZoneName.1": "us-east-1c", "ZoneName.2": "us-east-1a"})
    reply = ec2wire.call(gateway.endpoint, params, gateway.access_key, gateway.secret_key, method=method)
    assert reply.status == 200, reply.describe()
    assert reply.root.tag == f"{{{NS}}}DescribeAvailabilityZonesResponse"
    assert sorted(reply.items("availabilityZoneInfo", "zoneName")) == ["us-east-1a", "us-east-1c"]


def test_request_ids_are_unique(gateway):
    ids = set()
    for _ in range(3):
        reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key)
        assert_regions_ok(reply)
        ids.add(reply.header_request_id)
    assert len(ids) == 3


def test_clock_skew_within_limit_is_accepted(gateway):
    when = utcnow() - datetime.timedelta(minutes=10)
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key, when=when)
    assert_regions_ok(reply)


# =========================================================================== wire: errors


def test_wrong_secret(gateway):
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, "w" * 40)
    assert_error(reply, "SignatureDoesNotMatch", 403)


def test_wrong_secret_get(gateway):
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, "w" * 40, method="GET")
    assert_error(reply, "SignatureDoesNotMatch", 403)


def test_unknown_access_key(gateway):
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), random_access_key_id(), gateway.secret_key)
    assert_error(reply, "AuthFailure", 401)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_request_date_out_of_window(gateway, minutes):
    when = utcnow() + datetime.timedelta(minutes=minutes)
    reply = ec2wire.call(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key, when=when)
    assert_error(reply, "RequestExpired", 400)


def test_body_tampered_after_signing(gateway):
    req = ec2wire.sign(
        gateway.endpoint, action("DescribeRegions", **{"RegionName.1": "us-east-1"}),
        gateway.access_key, gateway.secret_key,
    )
    tampered = ec2wire.encode(action("DescribeRegions", **{"RegionName.1": "us-east-2"})).encode()
    assert len(tampered) == len(req.body)
    assert_error(ec2wire.send(req, body=tampered), "SignatureDoesNotMatch", 403)


def test_query_tampered_after_signing(gateway):
    req = ec2wire.sign(
        gateway.endpoint, action("DescribeRegions", **{"RegionName.1": "us-east-1"}),
        gateway.access_key, gateway.secret_key, method="GET",
    )
    assert "RegionName.1=us-east-1" in req.url
    req.url = req.url.replace("RegionName.1=us-east-1", "RegionName.1=us-east-2")
    assert_error(ec2wire.send(req), "SignatureDoesNotMatch", 403)


def test_missing_action(gateway):
    reply = ec2wire.call(gateway.endpoint, action(None), gateway.access_key, gateway.secret_key)
    assert_error(reply, "MissingAction", 400)


def test_unknown_action(gateway):
    reply = ec2wire.call(gateway.endpoint, action("DescribeUnicorns"), gateway.access_key, gateway.secret_key)
    assert_error(reply, "InvalidAction", 400)


def test_unsupported_version(gateway):
    params = [("Action", "DescribeRegions"), ("Version", "2099-01-01")]
    reply = ec2wire.call(gateway.endpoint, params, gateway.access_key, gateway.secret_key)
    assert_error(reply, "NoSuchVersion", 400)


def test_unknown_parameter(gateway):
    params = action("DescribeRegions", Unicorn="1")
    reply = ec2wire.call(gateway.endpoint, params, gateway.access_key, gateway.secret_key)
    assert_error(reply, "UnknownParameter", 400)


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_unsigned_request(gateway, method):
    body = ec2wire.encode(action("DescribeRegions"))
    if method == "POST":
        resp = requests.post(
            gateway.endpoint + "/", data=body, headers={"Content-Type": ec2wire.FORM_CONTENT_TYPE}, timeout=10
        )
    else:
        resp = requests.get(gateway.endpoint + "/?" + body, timeout=10)
    # What EC2 itself answers to an anonymous Query API call (not MissingAuthenticationToken/403).
    message = assert_error(ec2wire.Reply.of(resp), "MissingParameter", 400)
    assert message == "The request must contain the parameter AWSAccessKeyId"


def malformed_authorizations(access_key: str) -> list[str]:
    scope = f"{access_key}/{utcnow():%Y%m%d}/us-east-1/ec2/aws4_request"
    return [
        "AWS4-HMAC-SHA256 garbage",
        f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=content-type;host;x-amz-date",
        f"AWS4-HMAC-SHA256 Credential={scope}, Signature={'0' * 64}",
        f"AWS4-HMAC-SHA256 SignedHeaders=content-type;host;x-amz-date, Signature={'0' * 64}",
    ]


@pytest.mark.parametrize("variant", range(4))
def test_malformed_authorization_header(gateway, variant):
    req = ec2wire.sign(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key)
    req.headers.replace_header("Authorization", malformed_authorizations(gateway.access_key)[variant])
    assert_error(ec2wire.send(req), "IncompleteSignature", 400)


# =========================================================================== presigned URLs


def test_presigned_url_from_boto3(ec2):
    url = ec2.generate_presigned_url("describe_regions", Params={"RegionNames": ["us-east-1"]}, ExpiresIn=300)
    assert_regions_ok(ec2wire.Reply.of(requests.get(url, timeout=10)))


def test_presigned_url_signed_as_get(gateway):
    url = ec2wire.presign(gateway.endpoint, action("DescribeRegions"), gateway.access_key, gateway.secret_key)
    assert_regions_ok(ec2wire.Reply.of(requests.get(url, timeout=10)))


def test_presigned_url_signed_two_minutes_ago(ec2):
    with ec2wire.signing_clock(utcnow() - datetime.timedelta(minutes=2)):
        url = ec2.generate_presigned_url("describe_regions", ExpiresIn=3600)
    assert_regions_ok(ec2wire.Reply.of(requests.get(url, timeout=10)))


def test_presigned_url_expired(ec2):
    with ec2wire.signing_clock(utcnow() - datetime.timedelta(minutes=2)):
        url = ec2.generate_presigned_url("describe_regions", ExpiresIn=60)
    assert_error(ec2wire.Reply.of(requests.get(url, timeout=10)), "RequestExpired", 400)


def test_presigned_url_tampered(ec2):
    url = ec2.generate_presigned_url("describe_regions", Params={"RegionNames": ["us-east-1"]}, ExpiresIn=300)
    assert "RegionName.1=us-east-1" in url
    url = url.replace("RegionName.1=us-east-1", "RegionName.1=us-east-2")
    assert_error(ec2wire.Reply.of(requests.get(url, timeout=10)), "SignatureDoesNotMatch", 403)


def test_presigned_url_wrong_secret(gateway):
    url = ec2wire.presign(gateway.endpoint, action("DescribeRegions"), gateway.access_key, "w" * 40)
    assert_error(ec2wire.Reply.of(requests.get(url, timeout=10)), "SignatureDoesNotMatch", 403)
