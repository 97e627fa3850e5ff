"""Catalogue conformance: images (imported with `ec2gw admin image import`), instance types and
their offerings, key pairs and tags, through boto3 (client and resource APIs, paginators,
waiters) and the AWS CLI, against a live gateway.

Every test makes its own names (and, where it lists whole collections, its own accounts): the
gateway is shared by the whole session and public images are visible to every account.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import subprocess
import threading
import time
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
ZONE_IDS = ["use1-az1", "use1-az2", "use1-az3"]
from assertions import DRY_RUN_MESSAGE, api_error, assert_cli_error, dry_run, loose, uid  # noqa: F401
INVALID_KEY_FORMAT = "Key is not in valid OpenSSH public key format"
CREATE_TIME_FORMAT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
KEY_PAIR_ID = re.compile(r"^key-[0-9a-f]{17}$")
IMAGE_ID = re.compile(r"^ami-[0-9a-f]{17}$")
MISSING_IMAGE = "ami-0123456789abcdef0"


# =========================================================================== helpers




def image_names(response) -> list[str]:
    return sorted(i["Name"] for i in response["Images"])


def image_ids(response) -> set[str]:
    return {i["ImageId"] for i in response["Images"]}


def tag_dict(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def tag_rows(response) -> list[tuple[str, str, str, str]]:
    return sorted((t["ResourceId"], t["ResourceType"], t["Key"], t["Value"]) for t in response["Tags"])


def tags_of(client, resource_id: str) -> dict[str, str]:
    resp = client.describe_tags(Filters=[{"Name": "resource-id", "Values": [resource_id]}])
    assert "NextToken" not in resp, resp
    return {t["Key"]: t["Value"] for t in resp["Tags"]}


def key_names(response) -> list[str]:
    return sorted(k["KeyName"] for k in response["KeyPairs"])


def sh(cmd: list[str], data: bytes | None = None) -> bytes:
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=60)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}: {proc.stderr.decode(errors='replace')}"
    return proc.stdout


def colon_digest(openssl_output: bytes) -> str:
    """`SHA1(stdin)= 3f:a2:...` -> `3f:a2:...`"""
    return openssl_output.decode().strip().rsplit("= ", 1)[1]


def created_rsa_fingerprint(private_pem: str) -> str:
    """AWS's fingerprint of an RSA key it made: SHA-1 of the DER PKCS#8 private key."""
    der = sh(["openssl", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER"], private_pem.encode())
    return colon_digest(sh(["openssl", "sha1", "-c"], der))


def imported_rsa_fingerprint(public_path: Path) -> str:
    """AWS's fingerprint of an imported RSA key: MD5 of the DER SubjectPublicKeyInfo."""
    pem = sh(["ssh-keygen", "-e", "-m", "PKCS8", "-f", str(public_path)])
    der = sh(["openssl", "pkey", "-pubin", "-outform", "DER"], pem)
    return colon_digest(sh(["openssl", "md5", "-c"], der))


def ssh_sha256(path: Path) -> str:
    """The base64 part of `ssh-keygen -l -E sha256` (`256 SHA256:xxxx comment (ED25519)`)."""
    fields = sh(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)]).decode().split()
    assert fields[1].startswith("SHA256:"), fields
    return fields[1][len("SHA256:"):]


def write_private(tmp_path: Path, name: str, material: str) -> Path:
    path = tmp_path / name
    path.write_text(material + "\n")
    os.chmod(path, 0o600)
    return path


def openssh_public(private_path: Path) -> list[str]:
    """`type base64` of the public half of a private key file."""
    return sh(["ssh-keygen", "-y", "-f", str(private_path)]).decode().split()[:2]


class Recorder:
    """Records the parameters of every call of one operation a client makes."""

    def __init__(self, client, operation: str):
        self.calls: list[dict] = []
        client.meta.events.register(f"provide-client-params.ec2.{operation}", self._record)

    def _record(self, params, **kwargs):
        self.calls.append(dict(params))


def check_pages(pages: list[dict], recorder: Recorder, list_key: str, page_size: int, total: int) -> list:
    """The pages are full but for the last, chain through NextToken and end without one."""
    expected_sizes = [page_size] * (total // page_size) + ([total % page_size] if total % page_size else [])
    assert [len(p[list_key]) for p in pages] == expected_sizes
    for page in pages[:-1]:
        assert page.get("NextToken"), page
    assert "NextToken" not in pages[-1] or pages[-1]["NextToken"] in (None, ""), pages[-1]
    sent = [call.get("NextToken") for call in recorder.calls]
    assert sent == [None] + [p["NextToken"] for p in pages[:-1]]
    assert {call.get("MaxResults") for call in recorder.calls} == {page_size}
    return [item for page in pages for item in page[list_key]]


# =========================================================================== fixtures


@pytest.fixture(scope="module")
def ssh_keys(tmp_path_factory) -> dict[str, Path]:
    """Keys made by ssh-keygen: private paths under "rsa", "ed25519", "ecdsa" (public: +.pub)."""
    d = tmp_path_factory.mktemp("ssh")
    keys = {}
    for kind, extra in (("rsa", ["-b", "2048"]), ("ed25519", []), ("ecdsa", ["-b", "256"])):
        path = d / kind
        sh(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", f"conformance@{kind}", "-f", str(path)])
        keys[kind] = path
    return keys


def pub(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


@pytest.fixture(scope="module")
def catalogue(gateway, import_image, client_for):
    """An account of its own with three images (one public) and tags, for the filter tests."""
    account = gateway.create_account()
    ec2 = client_for(account)
    p = uid("flt")
    web1 = import_image(f"{p}-web-1", account, description="web server")["ImageId"]
    web2 = import_image(f"{p}-web-2", account, public=True, arch="arm64", description="web server arm")["ImageId"]
    db1 = import_image(f"{p}-db-1", account, arch="i386", description="database")["ImageId"]
    ec2.create_tags(Resources=[web1], Tags=[{"Key": "Role", "Value": "web"}, {"Key": "Tier", "Value": "front"}])
    ec2.create_tags(Resources=[web2], Tags=[{"Key": "Role", "Value": "web-arm"}])
    ec2.create_tags(Resources=[db1], Tags=[{"Key": "Role", "Value": "db"}, {"Key": "Env", "Value": "prod"}])
    images = {i["ImageId"]: i for i in ec2.describe_images(ImageIds=[web1, web2, db1])["Images"]}
    return {
        "account": account,
        "ec2": ec2,
        "p": p,
        "ids": {"web1": web1, "web2": web2, "db1": db1},
        "names": {"web1": f"{p}-web-1", "web2": f"{p}-web-2", "db1": f"{p}-db-1"},
        "created": {k: images[v]["CreationDate"] for k, v in {"web1": web1, "web2": web2, "db1": db1}.items()},
    }


@pytest.fixture(scope="module")
def sharing(gateway, import_image, client_for):
    """Three fresh accounts: X owns a private, a public and a Y-shared image; Y owns a private
    one; Z owns nothing. Read-only for the tests that use it."""
    x, y, z = gateway.create_account(), gateway.create_account(), gateway.create_account()
    p = uid("vis")
    px = import_image(f"{p}-x-private", x)["ImageId"]
    ux = import_image(f"{p}-x-public", x, public=True)["ImageId"]
    sx = import_image(f"{p}-x-shared", x)["ImageId"]
    py = import_image(f"{p}-y-private", y)["ImageId"]
    client_for(x).modify_image_attribute(
        ImageId=sx, LaunchPermission={"Add": [{"UserId": y.account_id}]}
    )
    return {
        "p": p,
        "x": x, "y": y, "z": z,
        "X": client_for(x), "Y": client_for(y), "Z": client_for(z),
        "px": px, "ux": ux, "sx": sx, "py": py,
    }


def scoped(sharing) -> list[dict]:
    return [{"Name": "name", "Values": [f"{sharing['p']}-*"]}]


# =========================================================================== images: import and describe


def test_import_image_and_describe_every_field(gateway, import_image, ec2, disk_image):
    name = uid("img")
    out = import_image(name, description="a tiny disk", arch="arm64")
    assert set(out) == {"ImageId", "Name", "OwnerId", "SizeGiB", "Sha256"}
    assert IMAGE_ID.match(out["ImageId"]), out
    assert out["Name"] == name
    assert out["OwnerId"] == gateway.account_id
    assert out["SizeGiB"] == 1
    assert out["Sha256"] == hashlib.sha256(disk_image.read_bytes()).hexdigest()

    resp = ec2.describe_images(ImageIds=[out["ImageId"]])
    assert "NextToken" not in resp
    [image] = resp["Images"]
    created = image.pop("CreationDate")
    assert CREATE_TIME_FORMAT.match(created), created
    when = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs(when - datetime.datetime.utcnow()) < datetime.timedelta(minutes=5), created
    image.pop("Tags", None)  # an untagged image: AWS omits tagSet, an empty list is as good
    assert image == {
        "ImageId": out["ImageId"],
        "ImageLocation": f"{gateway.account_id}/{name}",
        "State": "available",
        "OwnerId": gateway.account_id,
        "Public": False,
        "Architecture": "arm64",
        "ImageType": "machine",
        "PlatformDetails": "Linux/UNIX",
        "UsageOperation": "RunInstances",
        "Name": name,
        "Description": "a tiny disk",
        "RootDeviceType": "ebs",
        "RootDeviceName": "/dev/xvda",
        "BlockDeviceMappings": [
            {
                "DeviceName": "/dev/xvda",
                "Ebs": {"DeleteOnTermination": True, "VolumeSize": 1, "VolumeType": "gp3", "Encrypted": False},
            }
        ],
        "VirtualizationType": "hvm",
        "Hypervisor": "xen",
        "BootMode": "legacy-bios",
    }


def test_import_image_duplicate_name_is_refused(gateway, import_image, disk_image):
    name = uid("dup")
    first = import_image(name)
    proc = subprocess.run(
        [str(gateway.binary), "admin", "--database", gateway.database_url, "--data-dir", str(gateway.data_dir),
         "image", "import", str(disk_image), "--name", name, "--account", gateway.account_id, "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0, proc
    assert first["ImageId"] in proc.stderr, proc.stderr


def test_image_resource_api(gateway, import_image, resource_for):
    name = uid("res")
    image_id = import_image(name, description="resource api")["ImageId"]
    ec2 = resource_for()
    image = ec2.Image(image_id)
    assert (image.name, image.description, image.state, image.owner_id, image.architecture, image.public) == (
        name, "resource api", "available", gateway.account_id, "x86_64", False,
    )
    found = list(ec2.images.filter(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}]))
    assert [i.id for i in found] == [image_id]
    image.create_tags(Tags=[{"Key": "via", "Value": "resource"}])
    image.reload()
    assert tag_dict(image.tags) == {"via": "resource"}
    image.modify_attribute(Description={"Value": "changed"})
    image.reload()
    assert image.description == "changed"
    assert image.describe_attribute(Attribute="launchPermission")["LaunchPermissions"] == []
    image.deregister()
    with api_error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist"):
        ec2.meta.client.describe_images(ImageIds=[image_id])


def test_describe_images_unknown_and_malformed_ids(ec2, client_for):
    with api_error("InvalidAMIID.NotFound", f"The image id '[{MISSING_IMAGE}]' does not exist"):
        ec2.describe_images(ImageIds=[MISSING_IMAGE])
    with api_error("InvalidAMIID.Malformed", 'Invalid id: "ami-xyz" (expecting "ami-...")'):
        ec2.describe_images(ImageIds=["ami-xyz"])
    with api_error("InvalidParameterCombination"):
        ec2.describe_images(ImageIds=[MISSING_IMAGE], MaxResults=5)
    raw = loose(client_for)
    with api_error("InvalidParameterValue"):
        raw.describe_images(Owners=["self"], MaxResults=1001)
    with api_error("InvalidParameterValue"):
        raw.describe_images(Owners=["self"], MaxResults=0)
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        ec2.describe_images(Owners=["self"], MaxResults=5, NextToken="not-a-token")
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_images(Filters=[{"Name": "bogus", "Values": ["x"]}])


def test_describe_images_include_deprecated_changes_nothing(catalogue):
    ec2, ids = catalogue["ec2"], catalogue["ids"]
    plain = ec2.describe_images(Owners=["self"])
    with_deprecated = ec2.describe_images(Owners=["self"], IncludeDeprecated=True)
    assert image_ids(plain) == image_ids(with_deprecated) == set(ids.values())


# =========================================================================== images: visibility


def test_default_visibility_own_public_and_shared(sharing):
    s = sharing
    assert image_ids(s["X"].describe_images(Filters=scoped(s))) == {s["px"], s["ux"], s["sx"]}
    assert image_ids(s["Y"].describe_images(Filters=scoped(s))) == {s["py"], s["ux"], s["sx"]}
    assert image_ids(s["Z"].describe_images(Filters=scoped(s))) == {s["ux"]}
    assert image_ids(s["Y"].describe_images(ImageIds=[s["sx"], s["ux"]])) == {s["sx"], s["ux"]}
    with api_error("InvalidAMIID.NotFound", f"The image id '[{s['px']}]' does not exist"):
        s["Y"].describe_images(ImageIds=[s["px"]])
    with api_error("InvalidAMIID.NotFound", f"The image id '[{s['sx']}]' does not exist"):
        s["Z"].describe_images(ImageIds=[s["sx"]])


def test_describe_images_owners(sharing):
    s = sharing
    y, x = s["Y"], s["x"]
    assert image_ids(y.describe_images(Owners=[x.account_id], Filters=scoped(s))) == {s["ux"], s["sx"]}
    assert image_ids(y.describe_images(Owners=["self"], Filters=scoped(s))) == {s["py"]}
    assert image_ids(y.describe_images(Owners=["self", x.account_id], Filters=scoped(s))) == {
        s["py"], s["ux"], s["sx"]
    }
    assert image_ids(y.describe_images(Owners=["amazon"], Filters=scoped(s))) == set()
    assert image_ids(s["Z"].describe_images(Owners=[x.account_id], Filters=scoped(s))) == {s["ux"]}
    # Owner and image id together: the intersection.
    assert image_ids(y.describe_images(Owners=["self"], ImageIds=[s["py"]])) == {s["py"]}
    assert image_ids(y.describe_images(Owners=["self"], ImageIds=[s["ux"]])) == set()


def test_describe_images_executable_by_all(sharing):
    s = sharing
    for client in (s["X"], s["Y"], s["Z"]):
        assert image_ids(client.describe_images(ExecutableUsers=["all"], Filters=scoped(s))) == {s["ux"]}
    assert image_ids(
        s["Y"].describe_images(Owners=[s["x"].account_id], ExecutableUsers=["all"], Filters=scoped(s))
    ) == {s["ux"]}


def test_describe_images_executable_by_self(sharing):
    """ExecutableUsers=self scopes to explicit launch permissions: images shared with the caller
    (and, by older wording of the docs, its own), never someone else's public image."""
    s = sharing
    assert image_ids(s["Y"].describe_images(ExecutableUsers=["self"], Filters=scoped(s))) - {s["py"]} == {s["sx"]}
    assert image_ids(s["Z"].describe_images(ExecutableUsers=["self"], Filters=scoped(s))) == set()


def test_describe_images_executable_by_account(sharing):
    """ExecutableUsers=<another account>: only the images shared with that account."""
    s = sharing
    assert image_ids(s["X"].describe_images(ExecutableUsers=[s["y"].account_id], Filters=scoped(s))) == {s["sx"]}
    assert image_ids(s["X"].describe_images(ExecutableUsers=[s["z"].account_id], Filters=scoped(s))) == set()


# =========================================================================== images: filters


FILTER_CASES = [
    ([("image-id", ["{web1}"])], ["web1"]),
    ([("image-id", ["{web1}", "{db1}"])], ["web1", "db1"]),
    ([("image-id", ["ami-*"])], ["web1", "web2", "db1"]),
    ([("name", ["{p}-web-1"])], ["web1"]),
    ([("name", ["{p}-web-*"])], ["web1", "web2"]),
    ([("name", ["{p}-???-1"])], ["web1"]),
    ([("name", ["{p}-d?-1"])], ["db1"]),
    ([("name", ["{p}-WEB-1"])], []),
    ([("name", ["{p}-web"])], []),
    ([("name", ["{p}-web-1", "{p}-db-1"])], ["web1", "db1"]),
    ([("state", ["available"])], ["web1", "web2", "db1"]),
    ([("state", ["pending", "failed", "deregistered"])], []),
    ([("architecture", ["arm64"])], ["web2"]),
    ([("architecture", ["i386", "arm64"])], ["web2", "db1"]),
    ([("architecture", ["x86*"])], ["web1"]),
    ([("owner-id", ["{owner}"])], ["web1", "web2", "db1"]),
    ([("owner-id", ["000000000000"])], []),
    ([("is-public", ["true"])], ["web2"]),
    ([("is-public", ["false"])], ["web1", "db1"]),
    ([("image-type", ["machine"])], ["web1", "web2", "db1"]),
    ([("image-type", ["kernel", "ramdisk"])], []),
    ([("root-device-type", ["ebs"])], ["web1", "web2", "db1"]),
    ([("root-device-type", ["instance-store"])], []),
    ([("root-device-name", ["/dev/xvda"])], ["web1", "web2", "db1"]),
    ([("root-device-name", ["/dev/sda1"])], []),
    ([("virtualization-type", ["hvm"])], ["web1", "web2", "db1"]),
    ([("virtualization-type", ["paravirtual"])], []),
    ([("hypervisor", ["xen"])], ["web1", "web2", "db1"]),
    ([("hypervisor", ["ovm"])], []),
    ([("description", ["web server"])], ["web1"]),
    ([("description", ["web server*"])], ["web1", "web2"]),
    ([("description", ["*base"])], ["db1"]),
    ([("description", ["Web server"])], []),
    ([("creation-date", ["{year}-*"])], ["web1", "web2", "db1"]),
    ([("creation-date", ["1999-*"])], []),
    ([("tag:Role", ["web"])], ["web1"]),
    ([("tag:Role", ["web*"])], ["web1", "web2"]),
    ([("tag:Role", ["d?"])], ["db1"]),
    ([("tag:Role", ["web", "db"])], ["web1", "db1"]),
    ([("tag:Env", ["prod"])], ["db1"]),
    ([("tag:Env", ["dev"])], []),
    ([("tag:Nope", ["*"])], []),
    ([("tag-key", ["Env"])], ["db1"]),
    ([("tag-key", ["T*"])], ["web1"]),
    ([("tag-key", ["Role"])], ["web1", "web2", "db1"]),
    ([("tag-value", ["prod"])], ["db1"]),
    ([("tag-value", ["web*"])], ["web1", "web2"]),
    ([("tag-value", ["?ron?"])], ["web1"]),
    # Filters are AND-ed.
    ([("architecture", ["x86_64"]), ("tag:Role", ["web"])], ["web1"]),
    ([("architecture", ["i386"]), ("tag:Role", ["web"])], []),
    ([("is-public", ["false"]), ("name", ["{p}-web-*"])], ["web1"]),
    ([("tag-key", ["Role"]), ("tag-value", ["prod"])], ["db1"]),
]


def case_id(case) -> str:
    filters, _ = case
    return "&".join(f"{n}={'|'.join(v)}" for n, v in filters)


@pytest.mark.parametrize("case", FILTER_CASES, ids=[case_id(c) for c in FILTER_CASES])
def test_describe_images_filter(catalogue, case):
    filters, expected = case
    values = {**catalogue["ids"], "p": catalogue["p"], "owner": catalogue["account"].account_id,
              "year": catalogue["created"]["web1"][:4]}
    sent = [{"Name": name, "Values": [v.format(**values) for v in vals]} for name, vals in filters]
    resp = catalogue["ec2"].describe_images(Owners=["self"], Filters=sent)
    assert image_names(resp) == sorted(catalogue["names"][k] for k in expected)


def test_describe_images_filter_exact_creation_date(catalogue):
    created = catalogue["created"]
    resp = catalogue["ec2"].describe_images(
        Owners=["self"], Filters=[{"Name": "creation-date", "Values": [created["web1"]]}]
    )
    assert image_names(resp) == sorted(catalogue["names"][k] for k, v in created.items() if v == created["web1"])


def test_describe_images_tags_belong_to_the_owner(catalogue, second_account, client_for):
    """The owner sees its tags on its images; another account sees the public image untagged
    and cannot find it by the owner's tags."""
    ids = catalogue["ids"]
    [mine] = catalogue["ec2"].describe_images(ImageIds=[ids["web1"]])["Images"]
    assert tag_dict(mine["Tags"]) == {"Role": "web", "Tier": "front"}
    other = client_for(second_account)
    [theirs] = other.describe_images(ImageIds=[ids["web2"]])["Images"]
    assert tag_dict(theirs.get("Tags")) == {}
    assert other.describe_images(
        ImageIds=[ids["web2"]], Filters=[{"Name": "tag:Role", "Values": ["web-arm"]}]
    )["Images"] == []
    assert other.describe_images(
        Filters=[{"Name": "name", "Values": [f"{catalogue['p']}-*"]}, {"Name": "tag-key", "Values": ["Role"]}]
    )["Images"] == []


# =========================================================================== images: attributes


def test_describe_image_attribute(import_image, ec2):
    image_id = import_image(uid("attr"), description="described")["ImageId"]
    resp = ec2.describe_image_attribute(ImageId=image_id, Attribute="description")
    assert resp["ImageId"] == image_id
    assert resp["Description"] == {"Value": "described"}
    assert "LaunchPermissions" not in resp
    resp = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")
    assert (resp["ImageId"], resp["LaunchPermissions"]) == (image_id, [])
    resp = ec2.describe_image_attribute(ImageId=image_id, Attribute="blockDeviceMapping")
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert resp["BlockDeviceMappings"] == image["BlockDeviceMappings"]
    with api_error("InvalidRequest"):
        ec2.describe_image_attribute(ImageId=image_id, Attribute="bogus")
    with api_error("InvalidAMIID.NotFound", f"The image id '[{MISSING_IMAGE}]' does not exist"):
        ec2.describe_image_attribute(ImageId=MISSING_IMAGE, Attribute="description")


def test_modify_image_attribute_description(import_image, ec2):
    image_id = import_image(uid("desc"), description="before")["ImageId"]
    ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "after"})
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="description")["Description"] == {"Value": "after"}
    ec2.modify_image_attribute(ImageId=image_id, Attribute="description", Value="older form")
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["Description"] == "older form"
    with api_error("InvalidParameterCombination"):
        ec2.modify_image_attribute(ImageId=image_id)
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="description")["Description"] == {
        "Value": "older form"
    }


def test_modify_image_attribute_launch_permission(gateway, import_image, ec2, client_for):
    b = gateway.create_account()
    theirs = client_for(b)
    image_id = import_image(uid("perm"))["ImageId"]

    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": b.account_id}]})
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert perms == [{"UserId": b.account_id}]
    [seen] = theirs.describe_images(ImageIds=[image_id])["Images"]
    assert (seen["OwnerId"], seen["Public"]) == (gateway.account_id, False)
    assert image_ids(theirs.describe_images(ExecutableUsers=["self"], ImageIds=[image_id])) == {image_id}

    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"Group": "all"}]})
    perms = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
    assert sorted(perms, key=json.dumps) == sorted([{"Group": "all"}, {"UserId": b.account_id}], key=json.dumps)
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["Public"] is True

    ec2.modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Remove": [{"Group": "all"}, {"UserId": b.account_id}]}
    )
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"] == []
    assert ec2.describe_images(ImageIds=[image_id])["Images"][0]["Public"] is False
    with api_error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist"):
        theirs.describe_images(ImageIds=[image_id])

    with api_error("InvalidAMIAttributeItemValue"):
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": "not-an-account"}]})
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"] == []


def test_deregister_image(import_image, ec2):
    name = uid("dereg")
    image_id = import_image(name)["ImageId"]
    assert ec2.deregister_image(ImageId=image_id)["Return"] is True
    with api_error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist"):
        ec2.describe_images(ImageIds=[image_id])
    assert ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"] == []
    with pytest.raises(ClientError) as excinfo:
        ec2.deregister_image(ImageId=image_id)
    assert excinfo.value.response["Error"]["Code"] in ("InvalidAMIID.NotFound", "InvalidAMIID.Unavailable")
    with api_error("InvalidAMIID.NotFound", f"The image id '[{MISSING_IMAGE}]' does not exist"):
        ec2.deregister_image(ImageId=MISSING_IMAGE)
    with api_error("InvalidAMIID.Malformed"):
        ec2.deregister_image(ImageId="ami-nothex")


def test_deregister_image_takes_its_tags_along(import_image, ec2):
    """A deregistered image is gone: DescribeTags no longer lists its tags (as DeleteKeyPair's
    key pair's tags go with it)."""
    image_id = import_image(uid("deregtags"))["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "gone", "Value": "soon"}])
    assert tags_of(ec2, image_id) == {"gone": "soon"}
    ec2.deregister_image(ImageId=image_id)
    assert ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [image_id]}])["Tags"] == []
    assert ec2.describe_tags(Filters=[{"Name": "key", "Values": ["gone"]}, {"Name": "value", "Values": ["soon"]},
                                      {"Name": "resource-type", "Values": ["image"]}])["Tags"] == []


# =========================================================================== images: accounts


def test_cross_account_isolation(gateway, import_image, client_for):
    a, b = gateway.create_account(), gateway.create_account()
    A, B = client_for(a), client_for(b)
    p = uid("iso")
    private = import_image(f"{p}-private", a, description="a's own")["ImageId"]
    public = import_image(f"{p}-public", a, public=True, description="for all")["ImageId"]
    A.create_tags(Resources=[private, public], Tags=[{"Key": "owner", "Value": "a"}])
    key = A.create_key_pair(KeyName=f"{p}-key", KeyType="ed25519",
                            TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "owner", "Value": "a"}]}])

    # B sees the public image, untagged, and nothing else of A's.
    assert image_ids(B.describe_images(Filters=[{"Name": "name", "Values": [f"{p}-*"]}])) == {public}
    [seen] = B.describe_images(ImageIds=[public])["Images"]
    assert (seen["OwnerId"], seen["Public"], seen["Description"]) == (a.account_id, True, "for all")
    assert tag_dict(seen.get("Tags")) == {}
    assert B.describe_tags(Filters=[{"Name": "resource-id", "Values": [private, public, key["KeyPairId"]]}])["Tags"] == []
    assert B.describe_tags()["Tags"] == []
    assert B.describe_key_pairs()["KeyPairs"] == []
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{p}-key' does not exist"):
        B.describe_key_pairs(KeyNames=[f"{p}-key"])
    with api_error("InvalidKeyPair.NotFound"):
        B.describe_key_pairs(KeyPairIds=[key["KeyPairId"]])

    # B can change nothing of A's.
    not_found = f"The image id '[{private}]' does not exist"
    with api_error("InvalidAMIID.NotFound", not_found):
        B.describe_images(ImageIds=[private])
    with api_error("InvalidAMIID.NotFound", not_found):
        B.describe_image_attribute(ImageId=private, Attribute="description")
    with api_error("InvalidAMIID.NotFound", not_found):
        B.modify_image_attribute(ImageId=private, Description={"Value": "b was here"})
    with api_error("InvalidAMIID.NotFound", not_found):
        B.deregister_image(ImageId=private)
    with api_error("InvalidAMIID.NotFound"):
        B.create_tags(Resources=[private], Tags=[{"Key": "b", "Value": "was here"}])
    with api_error("InvalidAMIID.NotFound"):
        B.delete_tags(Resources=[private])
    with api_error("InvalidKeyPair.NotFound"):
        B.create_tags(Resources=[key["KeyPairId"]], Tags=[{"Key": "b", "Value": "was here"}])
    # As AWS answers DescribeImageAttribute on someone else's image (cloudquery#9406).
    not_yours = f"Not authorized for image:{public}"
    with api_error("AuthFailure", not_yours, status=401):
        B.modify_image_attribute(ImageId=public, Description={"Value": "b was here"})
    with api_error("AuthFailure", not_yours, status=401):
        B.modify_image_attribute(ImageId=public, LaunchPermission={"Remove": [{"Group": "all"}]})
    with api_error("AuthFailure", not_yours, status=401):
        B.deregister_image(ImageId=public)
    B.delete_key_pair(KeyName=f"{p}-key")  # B has no such key: succeeds, deletes nothing

    # Names are per account: B may use A's key name for a key of its own.
    b_key = B.create_key_pair(KeyName=f"{p}-key", KeyType="ed25519")
    assert b_key["KeyPairId"] != key["KeyPairId"]

    # A's things are as they were.
    [mine] = A.describe_images(ImageIds=[public])["Images"]
    assert (mine["Public"], mine["Description"], tag_dict(mine["Tags"])) == (True, "for all", {"owner": "a"})
    assert A.describe_images(ImageIds=[private])["Images"][0]["Description"] == "a's own"
    assert tags_of(A, private) == {"owner": "a"}
    [a_key] = A.describe_key_pairs(KeyNames=[f"{p}-key"])["KeyPairs"]
    assert (a_key["KeyPairId"], tag_dict(a_key["Tags"])) == (key["KeyPairId"], {"owner": "a"})
    [b_seen] = B.describe_key_pairs()["KeyPairs"]
    assert b_seen["KeyPairId"] == b_key["KeyPairId"]


def test_describe_image_attribute_of_another_accounts_image(sharing):
    """EC2 lets only the owner read an image's attributes; to anyone else it answers
    AuthFailure "Not authorized for image:ami-..." (cloudquery/cloudquery#9406)."""
    s = sharing
    for image in (s["ux"], s["sx"]):
        with pytest.raises(ClientError) as excinfo:
            s["Y"].describe_image_attribute(ImageId=image, Attribute="launchPermission")
        err = excinfo.value.response["Error"]
        assert (err["Code"], err["Message"]) == ("AuthFailure", f"Not authorized for image:{image}")


def test_tags_on_a_shared_image_belong_to_the_tagger(gateway, import_image, client_for):
    """"When you tag public or shared resources, the tags you assign are available only to your
    AWS account; no other AWS account will have access to those tags." (EC2 User Guide, Tag
    restrictions.)"""
    a, b = gateway.create_account(), gateway.create_account()
    A, B = client_for(a), client_for(b)
    image = import_image(uid("shtag"), a, public=True)["ImageId"]
    A.create_tags(Resources=[image], Tags=[{"Key": "who", "Value": "a"}])
    B.create_tags(Resources=[image], Tags=[{"Key": "who", "Value": "b"}])
    assert tags_of(A, image) == {"who": "a"}
    assert tags_of(B, image) == {"who": "b"}


# =========================================================================== images: paging and waiters


def test_describe_images_paginator(gateway, import_image, client_for):
    account = gateway.create_account()
    ids = {import_image(uid("page"), account)["ImageId"] for _ in range(7)}
    client = client_for(account)
    recorder = Recorder(client, "DescribeImages")
    pages = list(client.get_paginator("describe_images").paginate(
        Owners=["self"], PaginationConfig={"PageSize": 2}
    ))
    items = check_pages(pages, recorder, "Images", 2, 7)
    assert sorted(i["ImageId"] for i in items) == sorted(ids)
    assert "NextToken" not in client.describe_images(Owners=["self"])
    assert image_ids(client.describe_images(Owners=["self"], MaxResults=7)) == ids
    # Another account cannot continue this account's listing.
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        client_for(gateway.create_account()).describe_images(
            Owners=["self"], MaxResults=2, NextToken=pages[0]["NextToken"]
        )


def test_image_available_waiter(import_image, ec2):
    image_id = import_image(uid("wait"))["ImageId"]
    started = time.monotonic()
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1, "MaxAttempts": 3})
    assert time.monotonic() - started < 1.0  # available at once: the first poll succeeded
    ec2.deregister_image(ImageId=image_id)
    with pytest.raises(WaiterError) as excinfo:
        ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert excinfo.value.last_response["Error"]["Code"] == "InvalidAMIID.NotFound"


# =========================================================================== instance types


def test_describe_instance_types_t3_micro(ec2):
    resp = ec2.describe_instance_types(InstanceTypes=["t3.micro"])
    assert "NextToken" not in resp
    [t] = resp["InstanceTypes"]
    assert t["InstanceType"] == "t3.micro"
    assert t["BurstablePerformanceSupported"] is True
    for field in ("EbsInfo", "NetworkInfo", "PlacementGroupInfo", "ProcessorInfo", "VCpuInfo", "MemoryInfo"):
        assert isinstance(t[field], dict) and t[field], (field, t)
    assert t["VCpuInfo"]["DefaultVCpus"] == 2
    assert t["VCpuInfo"]["DefaultCores"] == 1
    assert t["VCpuInfo"]["DefaultThreadsPerCore"] == 2
    assert t["MemoryInfo"] == {"SizeInMiB": 1024}
    assert t["ProcessorInfo"]["SupportedArchitectures"] == ["x86_64"]
    assert t["ProcessorInfo"]["SustainedClockSpeedInGhz"] == 2.5
    assert t["EbsInfo"]["EbsOptimizedSupport"] == "default"
    assert t["EbsInfo"]["EncryptionSupport"] == "supported"
    assert t["EbsInfo"]["NvmeSupport"] == "required"
    assert t["NetworkInfo"]["NetworkPerformance"] == "Up to 5 Gigabit"
    assert t["NetworkInfo"]["EnaSupport"] == "required"
    assert t["SupportedRootDeviceTypes"] == ["ebs"]
    assert t["SupportedVirtualizationTypes"] == ["hvm"]
    assert t["Hypervisor"] == "nitro"
    assert t["CurrentGeneration"] is True
    assert t["BareMetal"] is False


def test_t3_micro_network_matches_aws(ec2):
    """AWS's published figures for t3.micro: 2 network interfaces of 2 IPv4 and 2 IPv6
    addresses each (what EKS's max-pods=4 for t3.micro comes from)."""
    [t] = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"]
    network = t["NetworkInfo"]
    assert (network["MaximumNetworkInterfaces"], network["Ipv4AddressesPerInterface"],
            network["Ipv6AddressesPerInterface"], network["Ipv6Supported"]) == (2, 2, 2, True)
    cards = [{k: c[k] for k in ("NetworkCardIndex", "NetworkPerformance", "MaximumNetworkInterfaces")}
             for c in network["NetworkCards"]]
    assert cards == [{"NetworkCardIndex": 0, "NetworkPerformance": "Up to 5 Gigabit", "MaximumNetworkInterfaces": 2}]


def test_t3_micro_placement_strategies_match_aws(ec2):
    """Burstable performance instances (T2, T3, ...) cannot be launched into a cluster
    placement group, so AWS lists only partition and spread for t3.micro."""
    [t] = ec2.describe_instance_types(InstanceTypes=["t3.micro"])["InstanceTypes"]
    assert sorted(t["PlacementGroupInfo"]["SupportedStrategies"]) == ["partition", "spread"]


def test_describe_instance_types_by_name_and_errors(ec2, client_for):
    resp = ec2.describe_instance_types(InstanceTypes=["m5.large", "t3.micro"])
    assert sorted(t["InstanceType"] for t in resp["InstanceTypes"]) == ["m5.large", "t3.micro"]
    with api_error("InvalidInstanceType", "The following supplied instance types do not exist: [t9.huge]"):
        ec2.describe_instance_types(InstanceTypes=["t9.huge"])
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_instance_types(Filters=[{"Name": "bogus", "Values": ["x"]}])
    raw = loose(client_for)
    with api_error("InvalidParameterValue",
                   "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."):
        raw.describe_instance_types(MaxResults=4)
    with api_error("InvalidParameterValue"):
        raw.describe_instance_types(MaxResults=101)
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        ec2.describe_instance_types(MaxResults=5, NextToken="bogus")


@pytest.fixture(scope="module")
def all_types(gateway, client_for) -> list[dict]:
    resp = client_for().describe_instance_types()
    assert "NextToken" not in resp
    types = resp["InstanceTypes"]
    names = [t["InstanceType"] for t in types]
    assert len(names) == len(set(names))
    assert {"t2.micro", "t3.micro", "m5.large", "c5.large", "r5.large", "m5.4xlarge"} <= set(names)
    return types


TYPE_FILTERS = [
    ("instance-type", ["t3.*"], lambda t: re.fullmatch(r"t3\..*", t["InstanceType"]), "t3.micro"),
    ("instance-type", ["t?.micro"], lambda t: re.fullmatch(r"t.\.micro", t["InstanceType"]), "t2.micro"),
    ("instance-type", ["m5.large", "c5.large"], lambda t: t["InstanceType"] in ("m5.large", "c5.large"), "c5.large"),
    ("instance-type", ["*.4xlarge"], lambda t: t["InstanceType"].endswith(".4xlarge"), "m5.4xlarge"),
    ("vcpu-info.default-vcpus", ["16"], lambda t: t["VCpuInfo"]["DefaultVCpus"] == 16, "m5.4xlarge"),
    ("vcpu-info.default-vcpus", ["1", "4"], lambda t: t["VCpuInfo"]["DefaultVCpus"] in (1, 4), "t2.micro"),
    ("memory-info.size-in-mib", ["1024"], lambda t: t["MemoryInfo"]["SizeInMiB"] == 1024, "t3.micro"),
    ("burstable-performance-supported", ["true"], lambda t: t["BurstablePerformanceSupported"], "t3.micro"),
    ("burstable-performance-supported", ["false"], lambda t: not t["BurstablePerformanceSupported"], "m5.large"),
    ("processor-info.supported-architecture", ["x86_64"],
     lambda t: "x86_64" in t["ProcessorInfo"]["SupportedArchitectures"], "t3.micro"),
]


@pytest.mark.parametrize("name, values, predicate, anchor", TYPE_FILTERS,
                         ids=[f"{n}={'|'.join(v)}" for n, v, _, _ in TYPE_FILTERS])
def test_describe_instance_types_filter(ec2, all_types, name, values, predicate, anchor):
    resp = ec2.describe_instance_types(Filters=[{"Name": name, "Values": values}])
    got = sorted(t["InstanceType"] for t in resp["InstanceTypes"])
    assert got == sorted(t["InstanceType"] for t in all_types if predicate(t))
    assert anchor in got


def test_describe_instance_types_filters_and_with_names(ec2):
    resp = ec2.describe_instance_types(Filters=[
        {"Name": "instance-type", "Values": ["t3.*"]},
        {"Name": "memory-info.size-in-mib", "Values": ["2048"]},
    ])
    assert [t["InstanceType"] for t in resp["InstanceTypes"]] == ["t3.small"]
    resp = ec2.describe_instance_types(
        InstanceTypes=["t3.micro", "m5.large"],
        Filters=[{"Name": "burstable-performance-supported", "Values": ["false"]}],
    )
    assert [t["InstanceType"] for t in resp["InstanceTypes"]] == ["m5.large"]
    resp = ec2.describe_instance_types(Filters=[{"Name": "processor-info.supported-architecture", "Values": ["arm64"]}])
    assert resp["InstanceTypes"] == []


def test_describe_instance_types_paginator(client_for, all_types):
    client = client_for()
    recorder = Recorder(client, "DescribeInstanceTypes")
    pages = list(client.get_paginator("describe_instance_types").paginate(PaginationConfig={"PageSize": 5}))
    items = check_pages(pages, recorder, "InstanceTypes", 5, len(all_types))
    assert sorted(t["InstanceType"] for t in items) == sorted(t["InstanceType"] for t in all_types)


def test_describe_instance_type_offerings(ec2, all_types):
    names = sorted(t["InstanceType"] for t in all_types)
    resp = ec2.describe_instance_type_offerings()
    assert sorted((o["InstanceType"], o["LocationType"], o["Location"]) for o in resp["InstanceTypeOfferings"]) == [
        (n, "region", "us-east-1") for n in names
    ]
    resp = ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": ["t3.micro"]}]
    )
    assert sorted((o["InstanceType"], o["LocationType"], o["Location"]) for o in resp["InstanceTypeOfferings"]) == [
        ("t3.micro", "availability-zone", z) for z in ZONES
    ]
    resp = ec2.describe_instance_type_offerings(
        LocationType="availability-zone-id", Filters=[{"Name": "instance-type", "Values": ["m5.large"]}]
    )
    assert sorted(o["Location"] for o in resp["InstanceTypeOfferings"]) == ZONE_IDS
    resp = ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "location", "Values": ["us-east-1b"]}, {"Name": "instance-type", "Values": ["t?.micro"]}],
    )
    assert sorted((o["InstanceType"], o["Location"]) for o in resp["InstanceTypeOfferings"]) == [
        ("t2.micro", "us-east-1b"), ("t3.micro", "us-east-1b")
    ]
    resp = ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "location", "Values": ["us-east-1?"]}]
    )
    assert len(resp["InstanceTypeOfferings"]) == 3 * len(names)
    resp = ec2.describe_instance_type_offerings(Filters=[{"Name": "location", "Values": ["eu-west-1"]}])
    assert resp["InstanceTypeOfferings"] == []
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        ec2.describe_instance_type_offerings(Filters=[{"Name": "bogus", "Values": ["x"]}])
    with api_error("InvalidParameterValue"):
        ec2.describe_instance_type_offerings(LocationType="planet")


def test_describe_instance_type_offerings_paginator_and_bounds(client_for, all_types):
    client = client_for()
    recorder = Recorder(client, "DescribeInstanceTypeOfferings")
    pages = list(client.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", PaginationConfig={"PageSize": 5}
    ))
    total = 3 * len(all_types)
    items = check_pages(pages, recorder, "InstanceTypeOfferings", 5, total)
    got = sorted((o["InstanceType"], o["Location"]) for o in items)
    assert got == sorted((t["InstanceType"], z) for t in all_types for z in ZONES)
    raw = loose(client_for)
    with api_error("InvalidParameterValue",
                   "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."):
        raw.describe_instance_type_offerings(MaxResults=4)
    with api_error("InvalidParameterValue"):
        raw.describe_instance_type_offerings(MaxResults=1001)
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        client.describe_instance_type_offerings(MaxResults=5, NextToken="bogus")


# =========================================================================== key pairs


def test_create_rsa_key_pair(ec2, tmp_path):
    name = uid("rsa")
    resp = ec2.create_key_pair(KeyName=name)  # rsa is the default
    assert resp["KeyName"] == name
    assert KEY_PAIR_ID.match(resp["KeyPairId"]), resp
    material = resp["KeyMaterial"]
    assert material.startswith("-----BEGIN RSA PRIVATE KEY-----\n"), material[:40]
    assert material.rstrip().endswith("-----END RSA PRIVATE KEY-----"), material[-40:]
    assert resp["KeyFingerprint"] == created_rsa_fingerprint(material)
    assert re.fullmatch(r"([0-9a-f]{2}:){19}[0-9a-f]{2}", resp["KeyFingerprint"])

    [kp] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    assert (kp["KeyName"], kp["KeyPairId"], kp["KeyType"], kp["KeyFingerprint"]) == (
        name, resp["KeyPairId"], "rsa", resp["KeyFingerprint"]
    )
    assert kp["PublicKey"].split()[:2] == openssh_public(write_private(tmp_path, "rsa", material))
    assert isinstance(kp["CreateTime"], datetime.datetime)
    assert abs(kp["CreateTime"] - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=5)
    [plain] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    assert "PublicKey" not in plain


def test_create_ed25519_key_pair(ec2, tmp_path):
    name = uid("ed")
    resp = ec2.create_key_pair(KeyName=name, KeyType="ed25519", KeyFormat="pem")
    material = resp["KeyMaterial"]
    assert material.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n"), material[:40]
    assert material.rstrip().endswith("-----END OPENSSH PRIVATE KEY-----"), material[-40:]
    private = write_private(tmp_path, "ed", material)
    assert resp["KeyFingerprint"] == ssh_sha256(private) + "="
    assert len(resp["KeyFingerprint"]) == 44
    [kp] = ec2.describe_key_pairs(KeyPairIds=[resp["KeyPairId"]], IncludePublicKey=True)["KeyPairs"]
    assert (kp["KeyName"], kp["KeyType"], kp["KeyFingerprint"]) == (name, "ed25519", resp["KeyFingerprint"])
    assert kp["PublicKey"].split()[:2] == openssh_public(private)


def test_import_key_pairs(ec2, ssh_keys):
    rsa_name, ed_name = uid("imp-rsa"), uid("imp-ed")
    rsa = ec2.import_key_pair(KeyName=rsa_name, PublicKeyMaterial=pub(ssh_keys["rsa"]).read_bytes())
    assert rsa["KeyName"] == rsa_name
    assert KEY_PAIR_ID.match(rsa["KeyPairId"]), rsa
    assert rsa["KeyFingerprint"] == imported_rsa_fingerprint(pub(ssh_keys["rsa"]))
    assert re.fullmatch(r"([0-9a-f]{2}:){15}[0-9a-f]{2}", rsa["KeyFingerprint"])
    ed = ec2.import_key_pair(KeyName=ed_name, PublicKeyMaterial=pub(ssh_keys["ed25519"]).read_bytes())
    assert ed["KeyFingerprint"] == ssh_sha256(pub(ssh_keys["ed25519"])) + "="

    resp = ec2.describe_key_pairs(KeyNames=[rsa_name, ed_name], IncludePublicKey=True)
    by_name = {k["KeyName"]: k for k in resp["KeyPairs"]}
    assert sorted(by_name) == sorted([rsa_name, ed_name])
    for name, kind, result in ((rsa_name, "rsa", rsa), (ed_name, "ed25519", ed)):
        kp = by_name[name]
        assert (kp["KeyPairId"], kp["KeyType"], kp["KeyFingerprint"]) == (result["KeyPairId"], kind, result["KeyFingerprint"])
        assert kp["PublicKey"].split()[:2] == pub(ssh_keys[kind]).read_text().split()[:2]


def test_import_key_pair_rfc4716_and_long_name(ec2, ssh_keys):
    """ImportKeyPair also takes the RFC 4716 (`ssh-keygen -e`) form of a key; names run to 255
    ASCII characters."""
    rfc4716 = sh(["ssh-keygen", "-e", "-f", str(pub(ssh_keys["ed25519"]))])
    assert rfc4716.startswith(b"---- BEGIN SSH2 PUBLIC KEY ----"), rfc4716
    name = uid("rfc").ljust(255, "x")
    resp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=rfc4716)
    assert resp["KeyName"] == name
    assert resp["KeyFingerprint"] == ssh_sha256(pub(ssh_keys["ed25519"])) + "="
    [kp] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    assert kp["KeyType"] == "ed25519"
    assert kp["PublicKey"].split()[:2] == pub(ssh_keys["ed25519"]).read_text().split()[:2]


def test_key_pair_errors(ec2, client_for, ssh_keys):
    name = uid("kerr")
    ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    with api_error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists."):
        ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    with api_error("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists."):
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=pub(ssh_keys["ed25519"]).read_bytes())
    missing = uid("missing")
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{missing}' does not exist"):
        ec2.describe_key_pairs(KeyNames=[missing])
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{missing}' does not exist"):
        ec2.describe_key_pairs(KeyNames=[name, missing])
    with api_error("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyPairIds=["key-0123456789abcdef0"])
    for material in (b"not a key", b"ssh-rsa AAAAnotbase64!!", pub(ssh_keys["ecdsa"]).read_bytes(), b""):
        bad = uid("bad")
        with api_error("InvalidKey.Format", INVALID_KEY_FORMAT):
            loose(client_for).import_key_pair(KeyName=bad, PublicKeyMaterial=material)
        with api_error("InvalidKeyPair.NotFound"):
            ec2.describe_key_pairs(KeyNames=[bad])
    with api_error("InvalidParameterValue"):
        ec2.create_key_pair(KeyName=uid("kt"), KeyType="dsa")


def test_describe_key_pairs_filters(gateway, client_for, ssh_keys):
    client = client_for(gateway.create_account())
    p = uid("kf")
    web = client.create_key_pair(KeyName=f"{p}-web", KeyType="ed25519", TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "Role", "Value": "web"}, {"Key": "Env", "Value": "prod"}]}
    ])
    db = client.import_key_pair(KeyName=f"{p}-db", PublicKeyMaterial=pub(ssh_keys["rsa"]).read_bytes(),
                                TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "Role", "Value": "db"}]}])
    assert tag_dict(web["Tags"]) == {"Role": "web", "Env": "prod"}
    assert tag_dict(db["Tags"]) == {"Role": "db"}
    both = sorted([f"{p}-web", f"{p}-db"])

    def names(*filters):
        return key_names(client.describe_key_pairs(Filters=[{"Name": n, "Values": v} for n, v in filters]))

    assert key_names(client.describe_key_pairs()) == both
    assert names(("key-name", [f"{p}-web"])) == [f"{p}-web"]
    assert names(("key-name", [f"{p}-*"])) == both
    assert names(("key-name", [f"{p}-?b"])) == [f"{p}-db"]
    assert names(("key-pair-id", [db["KeyPairId"]])) == [f"{p}-db"]
    assert names(("fingerprint", [web["KeyFingerprint"]])) == [f"{p}-web"]
    assert names(("key-type", ["rsa"])) == [f"{p}-db"]
    assert names(("key-type", ["ed25519"])) == [f"{p}-web"]
    assert names(("tag:Role", ["web"])) == [f"{p}-web"]
    assert names(("tag:Role", ["*"])) == both
    assert names(("tag-key", ["Env"])) == [f"{p}-web"]
    assert names(("tag-value", ["d?"])) == [f"{p}-db"]
    assert names(("key-type", ["rsa"]), ("tag:Role", ["web"])) == []
    assert key_names(client.describe_key_pairs(KeyPairIds=[web["KeyPairId"], db["KeyPairId"]])) == both
    [kp] = client.describe_key_pairs(KeyNames=[f"{p}-web"])["KeyPairs"]
    assert tag_dict(kp["Tags"]) == {"Role": "web", "Env": "prod"}
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        client.describe_key_pairs(Filters=[{"Name": "bogus", "Values": ["x"]}])
    with api_error("InvalidParameterValue"):
        client.create_key_pair(KeyName=f"{p}-x", KeyType="ed25519", TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "b"}]}
        ])
    assert key_names(client.describe_key_pairs()) == both


def test_delete_key_pair(ec2):
    by_name, by_id = uid("del-name"), uid("del-id")
    ec2.create_key_pair(KeyName=by_name, KeyType="ed25519",
                        TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": "t", "Value": "1"}]}])
    second = ec2.create_key_pair(KeyName=by_id, KeyType="ed25519")
    first_id = ec2.describe_key_pairs(KeyNames=[by_name])["KeyPairs"][0]["KeyPairId"]
    resp = ec2.delete_key_pair(KeyName=by_name)
    assert (resp["Return"], resp["KeyPairId"]) == (True, first_id)
    with api_error("InvalidKeyPair.NotFound", f"The key pair '{by_name}' does not exist"):
        ec2.describe_key_pairs(KeyNames=[by_name])
    assert tags_of(ec2, first_id) == {}
    resp = ec2.delete_key_pair(KeyPairId=second["KeyPairId"])
    assert (resp["Return"], resp["KeyPairId"]) == (True, second["KeyPairId"])
    with api_error("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyPairIds=[second["KeyPairId"]])
    # Deleting a name that is not there succeeds, as on AWS.
    assert ec2.delete_key_pair(KeyName=uid("never"))["Return"] is True


def test_key_pair_resource_api(resource_for, ec2):
    res = resource_for()
    name = uid("kres")
    kp = res.create_key_pair(KeyName=name, KeyType="ed25519")
    assert kp.key_material.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    info = res.KeyPair(name)
    assert (info.key_fingerprint, info.key_pair_id, info.key_type) == (kp.key_fingerprint, kp.key_pair_id, "ed25519")
    assert [k.name for k in res.key_pairs.filter(KeyNames=[name])] == [name]
    info.delete()
    with api_error("InvalidKeyPair.NotFound"):
        ec2.describe_key_pairs(KeyNames=[name])


def test_key_pair_exists_waiter(ec2):
    name = uid("kwait")
    timer = threading.Timer(0.5, lambda: ec2.create_key_pair(KeyName=name, KeyType="ed25519"))
    started = time.monotonic()
    timer.start()
    try:
        ec2.get_waiter("key_pair_exists").wait(KeyNames=[name], WaiterConfig={"Delay": 1, "MaxAttempts": 4})
    finally:
        timer.join()
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3.5, elapsed  # retried on InvalidKeyPair.NotFound, then found it
    missing = uid("kwait-missing")
    with pytest.raises(WaiterError) as excinfo:
        ec2.get_waiter("key_pair_exists").wait(KeyNames=[missing], WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert "Max attempts exceeded" in str(excinfo.value)
    assert excinfo.value.last_response["Error"]["Code"] == "InvalidKeyPair.NotFound"


# =========================================================================== tags


def test_tag_limits(import_image, ec2):
    image_id = import_image(uid("limit"))["ImageId"]
    fifty = [{"Key": f"k{i:02d}", "Value": f"v{i}"} for i in range(50)]
    ec2.create_tags(Resources=[image_id], Tags=fifty)
    assert tags_of(ec2, image_id) == {t["Key"]: t["Value"] for t in fifty}
    with api_error("TagLimitExceeded"):
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "one-too-many", "Value": "x"}])
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "k00", "Value": "replaced"}])  # not a new key
    tags = tags_of(ec2, image_id)
    assert len(tags) == 50 and tags["k00"] == "replaced" and "one-too-many" not in tags

    fresh = import_image(uid("limit51"))["ImageId"]
    with api_error("TagLimitExceeded"):
        ec2.create_tags(Resources=[fresh], Tags=[{"Key": f"k{i}", "Value": ""} for i in range(51)])
    assert tags_of(ec2, fresh) == {}
    with api_error("TagLimitExceeded"):
        ec2.create_key_pair(KeyName=uid("k51"), KeyType="ed25519", TagSpecifications=[
            {"ResourceType": "key-pair", "Tags": [{"Key": f"k{i}", "Value": ""} for i in range(51)]}
        ])


def test_tag_key_and_value_lengths(import_image, ec2):
    image_id = import_image(uid("len"))["ImageId"]
    k128, v256 = "k" * 128, "v" * 256
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": k128, "Value": v256}, {"Key": "empty", "Value": ""}])
    assert tags_of(ec2, image_id) == {k128: v256, "empty": ""}
    with api_error("InvalidParameterValue"):
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "k" * 129, "Value": "x"}])
    with api_error("InvalidParameterValue"):
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "long", "Value": "v" * 257}])
    with api_error("InvalidParameterValue"):
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "aws:reserved", "Value": "x"}])
    with api_error("InvalidParameterValue"):  # all or nothing: the good tag is not set either
        ec2.create_tags(Resources=[image_id], Tags=[{"Key": "good", "Value": "x"}, {"Key": "aws:bad", "Value": "x"}])
    assert tags_of(ec2, image_id) == {k128: v256, "empty": ""}


def test_create_tags_bad_ids(import_image, ec2):
    image_id = import_image(uid("badid"))["ImageId"]
    with api_error("InvalidID", "The ID 'foo-123' is not valid"):
        ec2.create_tags(Resources=["foo-123"], Tags=[{"Key": "a", "Value": "b"}])
    with api_error("InvalidAMIID.NotFound"):
        ec2.create_tags(Resources=[image_id, MISSING_IMAGE], Tags=[{"Key": "a", "Value": "b"}])
    assert tags_of(ec2, image_id) == {}  # all or nothing across resources


def test_delete_tags(import_image, ec2):
    image_id = import_image(uid("deltags"))["ImageId"]
    key = ec2.create_key_pair(KeyName=uid("deltags"), KeyType="ed25519")["KeyPairId"]
    tags = [{"Key": k, "Value": v} for k, v in
            (("a", "1"), ("b", "2"), ("c", "3"), ("e", "x"), ("z", ""), ("keep", "yes"))]
    ec2.create_tags(Resources=[image_id, key], Tags=tags)

    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "a"}])  # by key, whatever the value
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "b", "Value": "nope"}])  # value differs: kept
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "c", "Value": "3"}])  # value matches: deleted
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "e", "Value": ""}])  # "" only deletes ""
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "z", "Value": ""}])
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "absent"}])  # nothing to delete: fine
    assert tags_of(ec2, image_id) == {"b": "2", "e": "x", "keep": "yes"}
    assert tags_of(ec2, key) == {t["Key"]: t["Value"] for t in tags}

    ec2.delete_tags(Resources=[image_id, key], Tags=[{"Key": "keep"}])
    assert tags_of(ec2, image_id) == {"b": "2", "e": "x"}
    assert "keep" not in tags_of(ec2, key)
    ec2.delete_tags(Resources=[image_id])  # every tag
    assert tags_of(ec2, image_id) == {}
    assert len(tags_of(ec2, key)) == 5


def test_describe_tags_filters(gateway, import_image, client_for):
    account = gateway.create_account()
    client = client_for(account)
    image = import_image(uid("dt"), account)["ImageId"]
    key = client.create_key_pair(KeyName=uid("dt"), KeyType="ed25519")["KeyPairId"]
    client.create_tags(Resources=[image], Tags=[{"Key": "Role", "Value": "web"}, {"Key": "Env", "Value": "prod"}])
    client.create_tags(Resources=[key], Tags=[{"Key": "Role", "Value": "db"}, {"Key": "Owner", "Value": "me"}])
    every = sorted([
        (image, "image", "Env", "prod"), (image, "image", "Role", "web"),
        (key, "key-pair", "Owner", "me"), (key, "key-pair", "Role", "db"),
    ])

    def rows(*filters):
        return tag_rows(client.describe_tags(Filters=[{"Name": n, "Values": v} for n, v in filters]))

    assert tag_rows(client.describe_tags()) == every
    assert rows(("resource-id", [image])) == [r for r in every if r[0] == image]
    assert rows(("resource-id", [image, key])) == every
    assert rows(("resource-type", ["image"])) == [r for r in every if r[1] == "image"]
    assert rows(("resource-type", ["key-pair"])) == [r for r in every if r[1] == "key-pair"]
    assert rows(("key", ["Role"])) == [r for r in every if r[2] == "Role"]
    assert rows(("key", ["R*"])) == [r for r in every if r[2] == "Role"]
    assert rows(("key", ["?nv"])) == [r for r in every if r[2] == "Env"]
    assert rows(("value", ["prod"])) == [r for r in every if r[3] == "prod"]
    assert rows(("value", ["?b"])) == [r for r in every if r[3] == "db"]
    assert rows(("tag:Role", ["web"])) == [(image, "image", "Role", "web")]
    assert rows(("key", ["Role"]), ("resource-type", ["key-pair"])) == [(key, "key-pair", "Role", "db")]
    assert rows(("key", ["Nope"])) == []
    with api_error("InvalidParameterValue", "The filter 'bogus' is invalid"):
        client.describe_tags(Filters=[{"Name": "bogus", "Values": ["x"]}])
    raw = loose(client_for, account)
    with api_error("InvalidParameterValue",
                   "Value ( 4 ) for parameter maxResults is invalid. Expecting a value greater than 5."):
        raw.describe_tags(MaxResults=4)
    with api_error("InvalidParameterValue"):
        raw.describe_tags(MaxResults=1001)
    with api_error("InvalidParameterValue", "The NextToken is invalid."):
        client.describe_tags(MaxResults=5, NextToken="bogus")


def test_describe_tags_paginator(gateway, client_for):
    account = gateway.create_account()
    client = client_for(account)
    k1 = client.create_key_pair(KeyName=uid("tp"), KeyType="ed25519")["KeyPairId"]
    k2 = client.create_key_pair(KeyName=uid("tp"), KeyType="ed25519")["KeyPairId"]
    client.create_tags(Resources=[k1], Tags=[{"Key": f"t{i:02d}", "Value": str(i)} for i in range(7)])
    client.create_tags(Resources=[k2], Tags=[{"Key": f"t{i:02d}", "Value": str(i)} for i in range(6)])
    recorder = Recorder(client, "DescribeTags")
    pages = list(client.get_paginator("describe_tags").paginate(PaginationConfig={"PageSize": 5}))
    items = check_pages(pages, recorder, "Tags", 5, 13)
    got = sorted((t["ResourceId"], t["Key"], t["Value"]) for t in items)
    assert len(set(got)) == 13
    assert got == sorted([(k1, f"t{i:02d}", str(i)) for i in range(7)] + [(k2, f"t{i:02d}", str(i)) for i in range(6)])
    # The same with a filter: only k2's tags, paged.
    recorder = Recorder(client, "DescribeTags")
    pages = list(client.get_paginator("describe_tags").paginate(
        Filters=[{"Name": "resource-id", "Values": [k2]}], PaginationConfig={"PageSize": 5}
    ))
    items = check_pages(pages, recorder, "Tags", 5, 6)
    assert {t["ResourceId"] for t in items} == {k2}


# =========================================================================== DryRun


def test_dry_run_mutations_change_nothing(gateway, import_image, ec2, ssh_keys):
    b = gateway.create_account()
    image_id = import_image(uid("dry"), description="as imported")["ImageId"]
    ec2.create_tags(Resources=[image_id], Tags=[{"Key": "keep", "Value": "me"}])
    key_name = uid("dry")
    ec2.create_key_pair(KeyName=key_name, KeyType="ed25519")

    dry_run(ec2.deregister_image, ImageId=image_id)
    dry_run(ec2.modify_image_attribute, ImageId=image_id, Description={"Value": "dry"})
    dry_run(ec2.modify_image_attribute, ImageId=image_id,
            LaunchPermission={"Add": [{"Group": "all"}, {"UserId": b.account_id}]})
    dry_run(ec2.create_tags, Resources=[image_id], Tags=[{"Key": "dry", "Value": "run"}])
    dry_run(ec2.delete_tags, Resources=[image_id])
    new_key, imported = uid("dry-new"), uid("dry-imp")
    dry_run(ec2.create_key_pair, KeyName=new_key, KeyType="ed25519")
    dry_run(ec2.import_key_pair, KeyName=imported, PublicKeyMaterial=pub(ssh_keys["ed25519"]).read_bytes())
    dry_run(ec2.delete_key_pair, KeyName=key_name)

    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert (image["State"], image["Description"], image["Public"]) == ("available", "as imported", False)
    assert tag_dict(image["Tags"]) == {"keep": "me"}
    assert ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"] == []
    assert key_names(ec2.describe_key_pairs(KeyNames=[key_name])) == [key_name]
    for name in (new_key, imported):
        with api_error("InvalidKeyPair.NotFound"):
            ec2.describe_key_pairs(KeyNames=[name])


def test_dry_run_reads(ec2, import_image):
    image_id = import_image(uid("dryread"))["ImageId"]
    dry_run(ec2.describe_images, Owners=["self"])
    dry_run(ec2.describe_image_attribute, ImageId=image_id, Attribute="description")
    dry_run(ec2.describe_instance_types)
    dry_run(ec2.describe_instance_type_offerings)
    dry_run(ec2.describe_key_pairs)
    dry_run(ec2.describe_tags)


# =========================================================================== AWS CLI
# Each `aws` run costs most of a second (interpreter and botocore start-up), so these tests make
# few calls each; boto3 covers the same behaviour in depth above.


def test_cli_describe_images_query_and_filters(aws, gateway, import_image):
    p = uid("cli")
    import_image(f"{p}-b", arch="arm64")
    import_image(f"{p}-a", description="first")
    result = aws(
        "ec2", "describe-images", "--endpoint-url", gateway.endpoint, "--owners", "self",
        "--filters", f"Name=name,Values={p}-*", "Name=state,Values=available",
        "--query", "sort_by(Images,&Name)[].[Name,Architecture,State,OwnerId,Description]", "--output", "json",
    )
    assert result.json() == [
        [f"{p}-a", "x86_64", "available", gateway.account_id, "first"],
        [f"{p}-b", "arm64", "available", gateway.account_id, None],
    ]


def test_cli_describe_images_max_items_and_page_size(aws, gateway, import_image):
    account = gateway.create_account()
    ids = {import_image(uid("clipage"), account)["ImageId"] for _ in range(5)}
    base = ["ec2", "describe-images", "--endpoint-url", gateway.endpoint, "--owners", "self", "--output", "json"]
    first = aws(*base, "--page-size", "2", "--max-items", "3", account=account).json()
    assert len(first["Images"]) == 3 and first["NextToken"], first
    rest = aws(*base, "--page-size", "2", "--starting-token", first["NextToken"], account=account).json()
    assert "NextToken" not in rest, rest
    got = [i["ImageId"] for i in first["Images"] + rest["Images"]]
    assert sorted(got) == sorted(ids)  # every image once, across the CLI's own token


def test_cli_instance_types_and_offerings(aws, gateway, all_types):
    first = aws(
        "ec2", "describe-instance-types", "--endpoint-url", gateway.endpoint, "--page-size", "5",
        "--max-items", "7", "--output", "json",
    ).json()
    got = [t["InstanceType"] for t in first["InstanceTypes"]]
    assert len(got) == len(set(got)) == 7 and first["NextToken"], first
    assert set(got) <= {t["InstanceType"] for t in all_types}
    result = aws(
        "ec2", "describe-instance-type-offerings", "--endpoint-url", gateway.endpoint,
        "--location-type", "availability-zone", "--filters", "Name=instance-type,Values=t3.micro",
        "--query", "sort_by(InstanceTypeOfferings,&Location)[].[InstanceType,Location]", "--output", "text",
    )
    assert (result.rc, result.stdout) == (0, "".join(f"t3.micro\t{z}\n" for z in ZONES)), result


def test_cli_key_pairs(aws, gateway, ssh_keys, tmp_path):
    ep = ["--endpoint-url", gateway.endpoint]
    created, imported = uid("clik"), uid("clii")
    result = aws("ec2", "create-key-pair", *ep, "--key-name", created, "--key-type", "ed25519",
                 "--query", "KeyMaterial", "--output", "text")
    assert result.rc == 0, result
    assert result.stdout.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n"), result.stdout[:40]
    private = write_private(tmp_path, "cli-ed", result.stdout.rstrip("\n"))
    out = aws("ec2", "import-key-pair", *ep, "--key-name", imported,
              "--public-key-material", f"fileb://{pub(ssh_keys['rsa'])}", "--output", "json").json()
    assert out["KeyFingerprint"] == imported_rsa_fingerprint(pub(ssh_keys["rsa"]))
    result = aws("ec2", "describe-key-pairs", *ep, "--key-names", created, imported,
                 "--query", "sort_by(KeyPairs,&KeyType)[].[KeyName,KeyType,KeyFingerprint]", "--output", "json")
    assert result.json() == [
        [created, "ed25519", ssh_sha256(private) + "="],
        [imported, "rsa", out["KeyFingerprint"]],
    ]
    deleted = aws("ec2", "delete-key-pair", *ep, "--key-name", created).json()
    assert deleted["Return"] is True and deleted["KeyPairId"].startswith("key-"), deleted
    result = aws("ec2", "describe-key-pairs", *ep, "--key-names", created)
    assert_cli_error(result, "InvalidKeyPair.NotFound", "DescribeKeyPairs", f"The key pair '{created}' does not exist")


def test_cli_tags(aws, gateway, import_image):
    ep = ["--endpoint-url", gateway.endpoint]
    image_id = import_image(uid("clitag"))["ImageId"]
    result = aws("ec2", "create-tags", *ep, "--resources", image_id,
                 "--tags", *[f"Key=t{i},Value=v{i}" for i in range(7)])
    assert (result.rc, result.stdout) == (0, ""), result
    filters = ["--filters", f"Name=resource-id,Values={image_id}", "--page-size", "5", "--output", "json"]
    first = aws("ec2", "describe-tags", *ep, *filters, "--max-items", "6").json()
    assert len(first["Tags"]) == 6 and first["NextToken"], first
    rest = aws("ec2", "describe-tags", *ep, *filters, "--starting-token", first["NextToken"]).json()
    assert "NextToken" not in rest, rest
    assert sorted((t["Key"], t["Value"]) for t in first["Tags"] + rest["Tags"]) == [(f"t{i}", f"v{i}") for i in range(7)]
    # A key alone deletes the tag whatever its value; a key and value only if the value matches.
    result = aws("ec2", "delete-tags", *ep, "--resources", image_id, "--tags", "Key=t0", "Key=t1,Value=v1",
                 "Key=t2,Value=other")
    assert (result.rc, result.stdout) == (0, ""), result
    left = aws("ec2", "describe-tags", *ep, "--filters", f"Name=resource-id,Values={image_id}",
               "--query", "Tags[].Key").json()
    assert sorted(left) == [f"t{i}" for i in range(2, 7)]
    result = aws("ec2", "create-tags", *ep, "--dry-run", "--resources", image_id, "--tags", "Key=dry,Value=run")
    assert_cli_error(result, "DryRunOperation", "CreateTags", DRY_RUN_MESSAGE)


def test_cli_image_attributes_and_deregister(aws, ec2, gateway, import_image, second_account, client_for):
    ep = ["--endpoint-url", gateway.endpoint]
    image_id = import_image(uid("cliattr"))["ImageId"]
    result = aws("ec2", "modify-image-attribute", *ep, "--image-id", image_id, "--attribute", "launchPermission",
                 "--operation-type", "add", "--user-ids", second_account.account_id)
    assert (result.rc, result.stdout) == (0, ""), result
    result = aws("ec2", "describe-image-attribute", *ep, "--image-id", image_id, "--attribute", "launchPermission",
                 "--query", "LaunchPermissions", "--output", "json")
    assert result.json() == [{"UserId": second_account.account_id}]
    assert image_ids(client_for(second_account).describe_images(ImageIds=[image_id])) == {image_id}
    result = aws("ec2", "deregister-image", *ep, "--image-id", image_id, "--dry-run")
    assert_cli_error(result, "DryRunOperation", "DeregisterImage", DRY_RUN_MESSAGE)
    assert image_ids(ec2.describe_images(ImageIds=[image_id])) == {image_id}
    assert aws("ec2", "deregister-image", *ep, "--image-id", image_id, "--output", "json").json() == {"Return": True}
    with api_error("InvalidAMIID.NotFound", f"The image id '[{image_id}]' does not exist"):
        ec2.describe_images(ImageIds=[image_id])
