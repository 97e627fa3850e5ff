"""The generated wire layer (src/api/generated/, src/api/wire.rs) against what botocore's own
EC2Serializer sends: for every served action, a request with every member it honours set
(nested structures and lists filled, every member of them), and no answer of the wire layer's
own (UnknownParameter, MissingParameter, MalformedQueryString, a type or refusal error) comes
back. Then requests no SDK sends, which must still get an answer (a key a megabyte deep, list
indexes mixed with names), and text that an XML parser would change unless escaped."""

from __future__ import annotations

import datetime
import importlib.util
import re
import secrets
from urllib.parse import parse_qsl

import botocore.session
import pytest
from botocore import xform_name
from botocore.exceptions import ClientError
from botocore.parsers import EC2QueryParser
from botocore.serialize import EC2Serializer

import ec2wire
import spec_capture
from conftest import make_client

check = spec_capture.check
MODEL = check.load_model()
DECL = check.load_declaration()

# What only the wire layer answers: a request it could not read as the model says.
WIRE_CODES = {"UnknownParameter", "MissingParameter", "MalformedQueryString"}
WIRE_MESSAGES = (
    "Expected a boolean", "Expected an integer", "Expected a number", "is not supported by this gateway",
)


class Sampler:
    """A value botocore accepts for every member an action honours: structures with all their
    members (but the paths the action refuses), lists of `items` elements; `odd` picks the last
    enum value, booleans true and text that needs encoding, instead of the first, false and x."""

    def __init__(self, action: str, items: int, odd: bool):
        self.refused = set(DECL[action].get("refuses", {}))
        self.items = items
        self.odd = odd

    def request(self, action: str) -> dict:
        shape = MODEL.input_shape(action)
        members = MODEL.members(shape)
        params = {m: self.value(members[m]["shape"], (m,), (shape,)) for m in DECL[action]["honours"]}
        if "DryRun" in params:
            params["DryRun"] = True
        return params

    def value(self, shape: str, path: tuple[str, ...], stack: tuple[str, ...]):
        spec = MODEL.shapes[shape]
        kind = spec["type"]
        if kind == "structure":
            out = {}
            if shape in stack:
                return out
            for name, ref in spec.get("members", {}).items():
                if ".".join(path + (name,)) in self.refused:
                    continue
                out[name] = self.value(ref["shape"], path + (name,), stack + (shape,))
            return out
        if kind == "list":
            n = max(self.items, spec.get("min", 0))
            return [self.value(spec["member"]["shape"], path, stack) for _ in range(n)]
        if kind == "string":
            if "enum" in spec:
                return spec["enum"][-1 if self.odd else 0]
            text = "a b&c=d+e%;é\r\n]]>" if self.odd else "x"
            return text.ljust(spec.get("min", 0), "x")
        if kind in ("integer", "long"):
            return max(spec.get("min", 1), 1) + (1 if self.odd else 0)
        if kind in ("double", "float"):
            return max(spec.get("min", 1.5), 1.5)
        if kind == "boolean":
            return self.odd
        if kind == "blob":
            return b"\x00\xffx" if self.odd else b"x"
        if kind == "timestamp":
            return datetime.datetime(2024, 1, 2, 3, 4, 5, 678000 if self.odd else 0)
        raise AssertionError(f"{shape}: no sample for a {kind}")


@pytest.fixture(scope="module")
def recording_client(gateway):
    """A boto3 client whose request bodies are kept (the last one in .sent)."""
    client = make_client(gateway)
    sent: list[bytes] = []
    client.meta.events.register("before-send.ec2", lambda request, **_: sent.append(request.body))
    client.sent = sent
    return client


VARIANTS = {"plain": (1, False), "odd": (2, True)}
CASES = [(action, variant) for action in DECL for variant in VARIANTS]


@pytest.mark.parametrize("action,variant", CASES, ids=[f"{a}-{v}" for a, v in CASES])
def test_every_honoured_member_botocore_sends_is_read(recording_client, action, variant):
    items, odd = VARIANTS[variant]
    params = Sampler(action, items, odd).request(action)
    recording_client.sent.clear()
    try:
        getattr(recording_client, xform_name(action))(**params)
        error, status = None, 200
    except ClientError as e:
        error = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    [body] = recording_client.sent
    keys = [k for k, _ in parse_qsl(body.decode() if isinstance(body, bytes) else body, keep_blank_values=True)]
    # Every honoured member went on the wire, under the key the declaration names.
    for member, wire in DECL[action]["honours"].items():
        stem = wire.removesuffix(".N")
        assert any(k == stem or k.startswith(stem + ".") for k in keys), (member, wire, keys)
    if error is not None:
        assert error["Code"] not in WIRE_CODES, (error, keys)
        assert not any(m in error["Message"] for m in WIRE_MESSAGES), (error, keys)
        assert status < 500, (status, error, keys)
    if "DryRun" in params and error is not None and error["Code"] == "DryRunOperation":
        assert status == 412, status


def test_the_sampler_reaches_every_generated_member():
    """The test above sets every member that src/api/generated/input.rs has a parser arm for,
    in the request structs and in every nested structure (each by some action that reaches it
    without refusing it)."""
    generated = (check.REPO / "src" / "api" / "generated" / "input.rs").read_text()
    arms = {
        (struct, wire)
        for struct, body in re.findall(r"\nimpl (\w+) \{\n(.*?)\n\}\n", generated, re.S)
        for wire in re.findall(r'^\s*"([^"]+)" =>', body, re.M)
    }
    assert len(arms) > 100, len(arms)
    reached: set[tuple[str, str]] = set()

    def walk(shape: str, path: tuple[str, ...], refused: set[str], stack: tuple[str, ...]):
        spec = MODEL.shapes[shape]
        if spec["type"] == "list":
            walk(spec["member"]["shape"], path, refused, stack)
        elif spec["type"] == "structure" and shape not in stack:
            for name, ref in spec.get("members", {}).items():
                if ".".join(path + (name,)) not in refused:
                    reached.add((shape, MODEL.query_name(name, ref)))
                    walk(ref["shape"], path + (name,), refused, stack + (shape,))

    for action, spec in DECL.items():
        refused = set(spec.get("refuses", {}))
        shape = MODEL.input_shape(action)
        for member in spec["honours"]:
            ref = MODEL.members(shape)[member]
            reached.add((f"{action}Request", MODEL.query_name(member, ref)))
            walk(ref["shape"], (member,), refused, (shape,))
    assert not arms - reached, sorted(arms - reached)


def load_generator():
    spec = importlib.util.spec_from_file_location("generate", check.SPEC_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generator_names_every_member_as_botocore_does():
    """Over the whole model, not only the served actions: each member's request key is what
    EC2Serializer writes and its answer element what EC2QueryParser reads (botocore resolves
    a member's traits over its target shape's own, which generate.py now does too)."""
    generate = load_generator()
    model = generate.load_model()
    service = botocore.session.get_session().get_service_model("ec2")
    serializer, parser = EC2Serializer(), EC2QueryParser()
    wrong = []
    for name in service.shape_names:
        shape = service.shape_for(name)
        if shape.type_name != "structure":
            continue
        for member, member_shape in shape.members.items():
            ref = model.shapes[name]["members"][member]
            want = (serializer._get_serialized_name(member_shape, member), parser._member_key_name(member_shape, member))
            got = (model.query_name(member, ref), model.xml_name(member, ref))
            if got != want:
                wrong.append(f"{name}.{member}: generate.py {got}, botocore {want}")
    assert not wrong, "\n".join(wrong)

    # A shape's own locationName, when the member reference has none (none does today).
    model.shapes["Probe"] = {"type": "structure", "members": {"Ids": {"shape": "ProbeList"}}}
    model.shapes["ProbeList"] = {"type": "list", "member": {"shape": "String"}, "locationName": "probeId"}
    assert model.query_name("Ids", {"shape": "ProbeList"}) == "ProbeId"
    assert model.xml_name("Ids", {"shape": "ProbeList"}) == "probeId"
    assert model.query_name("Ids", {"shape": "ProbeList", "locationName": "other"}) == "Other"


def test_a_refusal_on_one_path_leaves_the_others_read():
    """LaunchPermission is reached by ModifyImageAttribute's LaunchPermission.Add and .Remove.
    Refusing OrganizationArn under Add alone used to drop it from the shared structure, so
    Remove.N.OrganizationArn answered UnknownParameter though nothing refused it there."""
    generate = load_generator()
    model = generate.load_model()

    def launch_permission(decl) -> tuple[str, str]:
        source = generate.InputGen(model, decl).render()
        struct = re.search(r"\nimpl LaunchPermission \{\n(.*?)\n\}\n", source, re.S).group(1)
        table = re.search(r"MODIFY_IMAGE_ATTRIBUTE_REFUSALS[^=]*= &\[(.*?)\];", source, re.S).group(1)
        return struct, table

    decl = generate.load_declaration()
    refuses = decl["ModifyImageAttribute"]["refuses"]
    # As declared: refused on both paths, so the structure has no arm for them.
    struct, table = launch_permission(decl)
    assert '"OrganizationArn" =>' not in struct
    assert '"Add", "*", "OrganizationArn"' in table and '"Remove", "*", "OrganizationArn"' in table
    # Refused under Add only: still read under Remove, refused under Add by the table.
    del refuses["LaunchPermission.Remove.OrganizationArn"]
    struct, table = launch_permission(decl)
    assert '"OrganizationArn" =>' in struct
    assert '"Add", "*", "OrganizationArn"' in table and '"Remove", "*", "OrganizationArn"' not in table
    assert '"OrganizationalUnitArn" =>' not in struct


# --------------------------------------------------------------------------- no SDK sends these


def test_a_key_a_megabyte_deep_is_an_unknown_parameter(gateway, ec2):
    """`A.A.A...` just under the body limit: the gateway answered it by overflowing its stack
    (the whole process aborted) while dropping the key tree. Now it is a key like any other."""
    deep = "A." * 400_000 + "A"
    reply = ec2wire.call(gateway.endpoint, ec2wire.action("DescribeRegions") + [(deep, "x")],
                         gateway.access_key, gateway.secret_key)
    assert reply.status == 400, reply.status
    code, message = reply.error
    assert code == "UnknownParameter"
    assert message == f"The parameter {deep} is not recognized"
    assert ec2.describe_regions()["Regions"], "the gateway is still up"


def test_list_indexes_mixed_with_names_get_an_answer(gateway, ec2):
    """`9` < `10` as numbers but `10` < `1a` < `9` as text: no total order, on which the
    standard sort panicked (the connection dropped without an answer)."""
    params = ec2wire.action("DescribeRegions")
    for i in range(100):
        params += [(f"RegionName.{i}", "r"), (f"RegionName.{i}a", "r")]
    reply = ec2wire.call(gateway.endpoint, params, gateway.access_key, gateway.secret_key)
    assert reply.status == 400, reply.describe()
    assert reply.error == ("UnknownParameter", "The parameter RegionName.0a is not recognized")
    assert ec2.describe_regions()["Regions"]


def test_text_reads_back_as_it_was_sent(ec2):
    """A carriage return (an XML parser turns a literal one into a line feed), `]]>`, markup
    and a character XML cannot carry, through a tag value and back."""
    name = f"wire-{secrets.token_hex(4)}"
    value = "a\r\nb\rc ]]> <d> & 'e' \"f\" \u00e9\u2028"
    ec2.create_key_pair(KeyName=name, TagSpecifications=[
        {"ResourceType": "key-pair", "Tags": [{"Key": "text", "Value": value}]}])
    try:
        [pair] = ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
        assert {t["Key"]: t["Value"] for t in pair["Tags"]} == {"text": value}
    finally:
        ec2.delete_key_pair(KeyName=name)
