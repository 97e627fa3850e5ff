"""ec2-spec: the declaration (ec2-spec/actions.toml) against the botocore EC2 model and
the generated src/api/generated/, COVERAGE.md up to date, the answer validator itself, every declared refusal
against the live gateway, and one pass over every served action whose answers are checked
against the model (spec_capture.py checks every other test's answers at session end)."""

from __future__ import annotations

import copy
import datetime
import re
import secrets

import boto3
import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

import spec_capture

check = spec_capture.check
MODEL = check.load_model()
DECL = check.load_declaration()


def problem_lines(problems) -> str:
    return "\n".join(f"  - {p}" for p in problems)


# --------------------------------------------------------------------------- the declaration


def test_declaration_matches_the_model():
    assert check.check_declaration(MODEL, DECL) == [], problem_lines(check.check_declaration(MODEL, DECL))


def test_declared_actions_are_the_ones_action_rs_serves():
    assert check.check_action_rs(DECL) == [], problem_lines(check.check_action_rs(DECL))
    assert sorted(check.parse_action_rs(check.ACTION_RS.read_text())) == sorted(DECL)


def test_refused_codes_and_filters_are_in_the_gateways_source():
    assert check.check_sources(DECL) == [], problem_lines(check.check_sources(DECL))


def test_coverage_md_is_up_to_date():
    assert check.check_coverage(MODEL, DECL) == [], problem_lines(check.check_coverage(MODEL, DECL))


def test_check_py_runs_clean():
    assert check.main([]) == 0


def test_checker_catches_holes_in_a_declaration():
    decl = copy.deepcopy(DECL)
    decl["DescribeImagez"] = {"area": "Images"}
    del decl["DescribeImages"]["honours"]["Owners"]
    decl["DescribeImages"]["honours"]["ImageIds"] = "ImageIds.N"
    decl["DescribeImages"]["ignores"]["NoSuch"] = "because"
    decl["DescribeImages"]["fills"].append("Images.Foo")
    decl["ModifyImageAttribute"]["refuses"]["LaunchPermission.Add.Bogus"] = "UnknownParameter"
    decl["CreateTags"]["area"] = "Images"
    problems = "\n".join(check.check_declaration(MODEL, decl))
    assert "DescribeImagez: not an operation of the EC2 model (did you mean DescribeImages?)" in problems
    assert "DescribeImages: input member Owners (Owner.N) is neither honoured nor refused" in problems
    assert "honours ImageIds with wire name 'ImageIds.N'; the model's is 'ImageId.N'" in problems
    assert "DescribeImages: ignores 'NoSuch', which is not under honours" in problems
    assert "DescribeImages: fills 'Images.Foo': 'Foo' is not a member of Image" in problems
    assert "refuses 'LaunchPermission.Add.Bogus': 'Bogus' is not a member of LaunchPermission" in problems
    assert "CreateTags: area 'Images', but its name puts it in 'Tags'" in problems
    assert "DescribeImagez: declared in actions.toml but not in src/api/generated/actions.rs" in "\n".join(check.check_action_rs(decl))
    decl["DescribeTags"]["filters"].append("spec-bogus-filter")
    decl["ModifyImageAttribute"]["refuses"]["ProductCodes"] = "NoSuchCode"
    sources = "\n".join(check.check_sources(decl))
    assert "filter 'spec-bogus-filter' appears nowhere" in sources
    assert "refuses ProductCodes with NoSuchCode, a code src/api/error.rs never answers" in sources


def test_action_rs_parser_reads_the_enum_not_its_uses():
    text = """
    // Action::Foo(_) => "Foo",
    pub enum Action {
        DescribeRegions(Box<input::DescribeRegionsRequest>), // the first
        RunInstances(Box<input::RunInstancesRequest>),
    }
    impl Action { fn f() { Action::Bar(x) } }
    """
    assert check.parse_action_rs(text) == ["DescribeRegions", "RunInstances"]


def test_operations_fall_into_areas_by_name():
    assert check.classify("RunInstances") == "Instances"
    assert check.classify("DescribeImages") == "Images"
    assert check.classify("AuthorizeSecurityGroupIngress") == "SecurityGroups"
    assert check.classify("CreateSubnet") == "Vpc/Subnet/RouteTable/..."
    assert check.classify("AssignPrivateIpAddresses") == "Vpc/Subnet/RouteTable/..."
    assert check.classify("CreateSnapshot") == "Volumes/Snapshots"
    assert check.classify("AllocateAddress") == "Addresses"
    assert check.classify("DescribeTags") == "Tags"
    assert check.classify("DescribeAvailabilityZones") == "Regions/AvailabilityZones"
    assert check.classify("DescribeAccountAttributes") == "other"


# --------------------------------------------------------------------------- the validator

NS = check.NS
IMAGES = f"""<?xml version="1.0" encoding="UTF-8"?>
<DescribeImagesResponse xmlns="{NS}"><requestId>0a1b2c3d-7f1e-4c55-9a0b-3c4d5e6f7a8b</requestId><imagesSet><item><imageId>ami-0123456789abcdef0</imageId><imageLocation>123456789012/debian</imageLocation><imageState>available</imageState><imageOwnerId>123456789012</imageOwnerId><creationDate>2026-11-23T16:08:00.000Z</creationDate><isPublic>false</isPublic><architecture>x86_64</architecture><imageType>machine</imageType><platformDetails>Linux/UNIX</platformDetails><usageOperation>RunInstances</usageOperation><name>debian</name><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/xvda</rootDeviceName><blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><deleteOnTermination>true</deleteOnTermination><volumeSize>1</volumeSize><volumeType>gp3</volumeType><encrypted>false</encrypted></ebs></item></blockDeviceMapping><virtualizationType>hvm</virtualizationType><tagSet><item><key>Name</key><value>x</value></item></tagSet><hypervisor>xen</hypervisor><bootMode>legacy-bios</bootMode></item></imagesSet></DescribeImagesResponse>"""
REGIONS = f"""<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="{NS}"><requestId>r-1</requestId><regionInfo><item><regionName>us-east-1</regionName><regionEndpoint>127.0.0.1:8773</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item></regionInfo></DescribeRegionsResponse>"""
ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does not exist</Message></Error></Errors><RequestID>r-2</RequestID></Response>"""


def validate(operation: str, body: str, status: int = 200):
    return check.validate_answer(MODEL, operation, status, body, DECL.get(operation, {}).get("fills", []))


def test_validator_accepts_well_formed_answers():
    assert validate("DescribeImages", IMAGES) == []
    assert validate("DescribeRegions", REGIONS) == []
    assert validate("DescribeImages", ERROR, 400) == []
    create_tags = f'<CreateTagsResponse xmlns="{NS}"><requestId>r</requestId><return>true</return></CreateTagsResponse>'
    assert validate("CreateTags", create_tags) == []


def test_validator_catches_a_misspelt_element_in_a_list_item():
    [problem] = validate("DescribeImages", IMAGES.replace("imageId>", "imageID>"))
    assert problem.operation == "DescribeImages"
    assert problem.path == "DescribeImagesResponse/imagesSet/item[1]/imageID"
    assert "<imageID> is not defined by Image; did you mean <imageId>?" in problem.message
    assert problem.element == "<imageID>ami-0123456789abcdef0</imageID>"


def test_validator_catches_a_misspelt_element_deep_down():
    [problem] = validate("DescribeImages", IMAGES.replace("volumeSize>", "volumeSizeGiB>"))
    assert problem.path == "DescribeImagesResponse/imagesSet/item[1]/blockDeviceMapping/item[1]/ebs/volumeSizeGiB"


def test_validator_catches_region_nam():
    [problem] = validate("DescribeRegions", REGIONS.replace("regionName>", "regionNam>"))
    assert problem.path == "DescribeRegionsResponse/regionInfo/item[1]/regionNam"
    assert "did you mean <regionName>?" in problem.message


def test_validator_catches_a_missing_fills_member():
    body = REGIONS.replace("<regionEndpoint>127.0.0.1:8773</regionEndpoint>", "")
    [problem] = validate("DescribeRegions", body)
    assert problem.path == "DescribeRegionsResponse/regionInfo/item[1]"
    assert problem.message == "missing <regionEndpoint> (Regions.Endpoint is declared in fills)"
    [problem] = validate("DescribeImages", IMAGES.replace("<volumeType>gp3</volumeType>", ""))
    assert problem.path == "DescribeImagesResponse/imagesSet/item[1]/blockDeviceMapping/item[1]/ebs"
    assert "Images.BlockDeviceMappings.Ebs.VolumeType" in problem.message
    empty = f'<DescribeImagesResponse xmlns="{NS}"><requestId>r</requestId></DescribeImagesResponse>'
    [problem] = validate("DescribeImages", empty)
    assert (problem.path, problem.message) == ("DescribeImagesResponse", "missing <imagesSet> (Images is declared in fills)")


def test_validator_checks_values_items_and_the_envelope():
    cases = {
        IMAGES.replace("<isPublic>false</isPublic>", "<isPublic>no</isPublic>"): (
            "DescribeImagesResponse/imagesSet/item[1]/isPublic", "expected true or false"),
        IMAGES.replace("<volumeSize>1</volumeSize>", "<volumeSize>1.5</volumeSize>"): (
            "DescribeImagesResponse/imagesSet/item[1]/blockDeviceMapping/item[1]/ebs/volumeSize", "expected an integer"),
        IMAGES.replace("<imageState>available</imageState>", "<imageState>ready</imageState>"): (
            "DescribeImagesResponse/imagesSet/item[1]/imageState", "not one of ImageState's values"),
        IMAGES.replace("<tagSet><item>", "<tagSet><member>").replace("</item></tagSet>", "</member></tagSet>"): (
            "DescribeImagesResponse/imagesSet/item[1]/tagSet/member[1]", "whose items are <item>"),
        IMAGES.replace("<name>debian</name>", "<name>debian</name><name>again</name>"): (
            "DescribeImagesResponse/imagesSet/item[1]/name", "appears more than once"),
        IMAGES.replace("<requestId>0a1b2c3d-7f1e-4c55-9a0b-3c4d5e6f7a8b</requestId>", ""): (
            "DescribeImagesResponse", "missing <requestId>"),
        IMAGES.replace(f' xmlns="{NS}"', ""): ("DescribeImagesResponse", "expected <DescribeImagesResponse xmlns="),
        REGIONS.replace("</regionInfo>", "</regionInfo><return>true</return>"): (
            "DescribeRegionsResponse/return", "<return> is not defined by DescribeRegionsResult"),
    }
    for body, (path, message) in cases.items():
        op = "DescribeRegions" if "DescribeRegionsResponse" in body else "DescribeImages"
        problems = validate(op, body)
        assert [(p.path, message in p.message) for p in problems] == [(path, True)], problem_lines(problems)


def test_validator_checks_the_error_envelope():
    cases = {
        ERROR.replace("<Message>The image id '[ami-1]' does not exist</Message>", ""): (
            "Response/Errors/Error[1]", "missing <Message>"),
        ERROR.replace("<Response>", f'<Response xmlns="{NS}">'): ("Response", "expected <Response> (no namespace)"),
        ERROR.replace("</Message>", "</Message><Detail/>"): (
            "Response/Errors/Error[1]/Detail", "is not part of EC2's error envelope"),
    }
    for body, (path, message) in cases.items():
        problems = validate("DescribeImages", body, 400)
        assert [(p.path, message in p.message) for p in problems] == [(path, True)], problem_lines(problems)
    problems = validate("DescribeImages", ERROR.replace("RequestID>", "RequestId>"), 400)
    assert [(p.path, p.message) for p in problems] == [
        ("Response/RequestId", "<RequestId> is not part of EC2's error envelope"),
        ("Response", "missing <RequestID>"),
    ]
    [problem] = validate("DescribeImages", ERROR, 200)
    assert problem.message == "an error envelope with HTTP status 200"


# --------------------------------------------------------------------------- capture


def test_capture_sees_clients_made_any_way(gateway):
    """Clients made outside conftest's fixtures, by a bare botocore session, are captured too."""
    before = len(spec_capture.captured())
    client = botocore.session.get_session().create_client(
        "ec2", region_name="us-east-1", endpoint_url=gateway.endpoint,
        aws_access_key_id=gateway.access_key, aws_secret_access_key=gateway.secret_key,
    )
    client.describe_regions()
    boto3.client("ec2", region_name="us-east-1", endpoint_url=gateway.endpoint,
                 aws_access_key_id=gateway.access_key, aws_secret_access_key=gateway.secret_key).describe_account_attributes()
    got = spec_capture.captured()[before:]
    assert [(a.operation, a.status, a.source) for a in got] == [
        ("DescribeRegions", 200, "botocore"), ("DescribeAccountAttributes", 200, "botocore")]
    assert b"<regionInfo>" in got[0].body


# --------------------------------------------------------------------------- the live gateway


def sample(shape: str, full: bool, depth: int = 0):
    """A value botocore accepts for a shape: every member of structures when `full`, only the
    required ones otherwise."""
    spec = MODEL.shapes[shape]
    kind = spec["type"]
    if kind == "structure":
        if depth > 4:
            return {}
        members = spec["members"]
        wanted = members if full else {k: v for k, v in members.items() if k in spec.get("required", [])}
        return {k: sample(ref["shape"], full, depth + 1) for k, ref in wanted.items()}
    if kind == "list":
        return [sample(spec["member"]["shape"], full, depth + 1)]
    return {
        "string": spec.get("enum", ["x"])[0], "integer": 1, "long": 1, "boolean": False,
        "blob": b"x", "double": 1.0, "float": 1.0, "timestamp": datetime.datetime(2024, 1, 1),
    }[kind]


def refusal_request(action: str, path: str) -> dict:
    """The action's required members, plus `path` (a member or a dotted path into one) set."""
    shape = MODEL.input_shape(action)
    members = MODEL.members(shape)
    required = MODEL.shapes[shape].get("required", [])
    params = {k: sample(members[k]["shape"], False) for k in required}
    cursor, steps = params, path.split(".")
    for i, step in enumerate(steps):
        ref = MODEL.members(shape)[step]
        target = ref["shape"]
        if i == len(steps) - 1:
            cursor[step] = sample(target, True)
        elif MODEL.type_of(target) == "list":
            # The structure on the way keeps its own required members (Monitoring.Enabled).
            item = MODEL.shapes[target]["member"]["shape"]
            cursor = cursor.setdefault(step, [sample(item, False)])[0]
            shape = item
        else:
            cursor = cursor.setdefault(step, sample(target, False))
            shape = target
    return params


REFUSALS = [(action, path, code) for action, spec in DECL.items() for path, code in spec.get("refuses", {}).items()]


@pytest.mark.parametrize("action,path,code", REFUSALS, ids=[f"{a}-{p}" for a, p, _ in REFUSALS])
def test_refused_member_gets_the_declared_error(ec2, action, path, code):
    params = refusal_request(action, path)
    with pytest.raises(ClientError) as excinfo:
        getattr(ec2, xform_name(action))(**params)
    error = excinfo.value.response["Error"]
    assert error["Code"] == code, (params, error)
    if code == "UnknownParameter":
        wire = re.sub(r"\.N(?=\.|$)", ".1", MODEL.wire_path(MODEL.input_shape(action), path))
        # The key named is the member's (ImdsSupport.Value for the structure ImdsSupport).
        assert error["Message"].startswith(f"The parameter {wire}"), (params, error)
        assert error["Message"].endswith(" is not recognized"), (params, error)


IMAGE_ATTRIBUTES = [
    "description", "kernel", "ramdisk", "launchPermission", "productCodes", "blockDeviceMapping",
    "sriovNetSupport", "bootMode", "tpmSupport", "uefiData", "lastLaunchedTime", "imdsSupport",
    "deregistrationProtection",
]


def test_every_served_action_answers_as_the_model_says(gateway, ec2, second_account, tmp_path):
    """One pass over every served action with the members that shape its answer; every answer
    of this test is then checked here (and again with all the others at session end)."""
    start = len(spec_capture.captured())
    name = f"spec-{secrets.token_hex(4)}"
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    image_id = gateway.admin_json(
        "image", "import", str(disk),
        "--name", name, "--account", gateway.account_id, "--description", "ec2-spec",
    )["ImageId"]
    tags = [{"Key": "spec", "Value": "1"}, {"Key": "empty", "Value": ""}]

    ec2.describe_regions(AllRegions=True, Filters=[{"Name": "region-name", "Values": ["us-*"]}])
    ec2.describe_availability_zones(AllAvailabilityZones=True)
    ec2.describe_account_attributes()
    types = ec2.describe_instance_types(MaxResults=5)["InstanceTypes"]
    ec2.describe_instance_types(InstanceTypes=[t["InstanceType"] for t in types[:2]])
    for location_type in ("region", "availability-zone", "availability-zone-id"):
        ec2.describe_instance_type_offerings(LocationType=location_type, MaxResults=5)

    created = ec2.create_key_pair(
        KeyName=name, KeyType="ed25519", TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}]
    )
    [described] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
    imported = ec2.import_key_pair(
        KeyName=f"{name}-imported", PublicKeyMaterial=described["PublicKey"].encode(),
        TagSpecifications=[{"ResourceType": "key-pair", "Tags": tags}],
    )
    ec2.describe_key_pairs(Filters=[{"Name": "tag:spec", "Values": ["1"]}])

    ec2.modify_image_attribute(ImageId=image_id, Description={"Value": "changed"})
    ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [{"UserId": second_account.account_id}]})
    for attribute in IMAGE_ATTRIBUTES:
        ec2.describe_image_attribute(ImageId=image_id, Attribute=attribute)
    ec2.create_tags(Resources=[image_id, created["KeyPairId"]], Tags=tags)
    ec2.describe_images(ImageIds=[image_id])
    ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:spec", "Values": ["1"]}], MaxResults=5)
    ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [image_id, created["KeyPairId"]]}])
    ec2.delete_tags(Resources=[image_id], Tags=[{"Key": "spec"}])
    ec2.delete_key_pair(KeyName=name)
    ec2.delete_key_pair(KeyPairId=imported["KeyPairId"])
    ec2.deregister_image(ImageId=image_id)
    with pytest.raises(ClientError) as excinfo:
        ec2.describe_regions(DryRun=True)
    assert excinfo.value.response["Error"]["Code"] == "DryRunOperation"

    answers = spec_capture.captured()[start:]
    found = spec_capture.validate(answers, MODEL, DECL)
    assert not found, "answers the EC2 model does not allow:\n" + "\n".join(spec_capture.format_problems(found))
    answered = {a.operation for a in answers if a.status == 200}
    exercised = {
        "DescribeRegions", "DescribeAvailabilityZones", "DescribeAccountAttributes", "DescribeImages",
        "DeregisterImage", "DescribeImageAttribute", "ModifyImageAttribute", "DescribeInstanceTypes",
        "DescribeInstanceTypeOfferings", "CreateKeyPair", "ImportKeyPair", "DescribeKeyPairs",
        "DeleteKeyPair", "CreateTags", "DeleteTags", "DescribeTags",
    }
    assert answered == exercised


# --------------------------------------------------------------------------- paginators

PAGINATED = sorted(a for a in DECL if boto3.client("ec2", region_name="us-east-1").can_paginate(xform_name(a)))


@pytest.mark.parametrize("action", PAGINATED)
def test_every_paginated_action_works_through_its_paginator(ec2, action):
    """boto3's paginator for each served action that has one, five items a page (EC2's smallest
    MaxResults): the pages, followed by their NextToken, hold what one unpaged call holds."""
    name = xform_name(action)
    paginator = ec2.get_paginator(name)
    [result_key] = [k.expression for k in paginator.result_keys]
    whole = getattr(ec2, name)()[result_key]
    paged = [item for page in paginator.paginate(PaginationConfig={"PageSize": 5}) for item in page[result_key]]
    if action == "DescribeInstances":
        # Pages count instances, as on EC2: a reservation may be split across two pages (and
        # one answer groups each reservation's instances together).
        def instances(reservations):
            return sorted((r["ReservationId"], i["InstanceId"]) for r in reservations for i in r["Instances"])
        whole, paged = instances(whole), instances(paged)
    assert paged == whole, (action, len(paged), len(whole))
