#!/usr/bin/env python3
"""ec2-spec: the EC2 actions ec2gw serves, checked against the botocore EC2 model.

    .venv/bin/python ec2-spec/check.py                    check; exit 1 with the problems found
    .venv/bin/python ec2-spec/check.py --write-coverage   check, and (re)write ec2-spec/COVERAGE.md

What is checked (each `check_*` function returns a list of problems, empty when all is well):
- every action in actions.toml is an operation of the model, and the list of actions is exactly
  the `Action` enum generated into src/api/generated/actions.rs, which is up to date (what
  `ec2-spec/generate.py` would write);
- every member the declaration names is a member of the operation's input shape (honours,
  ignores, refuses: dotted paths reach into nested structures and lists) or output shape (fills);
- every top-level input member of a supported action is declared: under `honours` (the gateway
  reads it; DryRun included) or under `refuses` (the gateway answers it with an error code).
  A member the gateway reads and type-checks but that changes nothing (IncludeDeprecated, ...)
  is honoured, and is listed again under `ignores` with the reason; `ignores` must be a subset
  of `honours`. Nothing is left undeclared: the gateway answers whatever it does not read with
  UnknownParameter, so an undeclared member is a hole in the declaration;
- the wire names recorded under `honours` are those the EC2 protocol gives the member
  (`queryName`, else `locationName` with its first letter upper-cased, else the member name;
  `.N` appended for lists);
- refused codes are codes src/api/error.rs answers; filter names are string literals in
  src/engine or src/store; each action's `area` is the one `classify` gives its name;
- COVERAGE.md is exactly what --write-coverage writes (so a stale one fails CI).

The XML answer validator (`validate_answer`) lives here too; conformance/spec_capture.py runs it
on every answer the gateway sends to botocore clients during the conformance session.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import difflib
import gzip
import json
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

SPEC_DIR = Path(__file__).resolve().parent
REPO = SPEC_DIR.parent
DECLARATION_PATH = SPEC_DIR / "actions.toml"
COVERAGE_PATH = SPEC_DIR / "COVERAGE.md"
ACTION_RS = REPO / "src" / "api" / "generated" / "actions.rs"
VENDORED_MODEL = SPEC_DIR / "model" / "ec2-2016-11-15.json.gz"
VENDORED_VERSION = SPEC_DIR / "model" / "BOTOCORE_VERSION"
ERROR_RS = REPO / "src" / "api" / "error.rs"
FILTER_SOURCES = [REPO / "src" / "engine", REPO / "src" / "store"]
GENERATE_COMMAND = ".venv/bin/python ec2-spec/check.py --write-coverage"

NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
API_VERSION = "2016-11-15"

# moto's EC2 backend, as a reference point: the project's quoted figure, not recomputed here.
MOTO_REFERENCE = (226, 800)

# Areas, first match wins; an operation no pattern matches is "other".
AREAS: list[tuple[str, str]] = [
    ("Tags", r"^(Create|Delete|Describe)Tags$"),
    ("Regions/AvailabilityZones", r"Region|AvailabilityZone"),
    ("KeyPairs", r"KeyPair"),
    ("SecurityGroups", r"SecurityGroup"),
    ("Addresses", r"^(?!.*(NatGateway|Ipam|IpAddress|Ipv6Address)).*Address"),
    ("Volumes/Snapshots", r"Volume|Snapshot"),
    ("Images", r"Image"),
    ("Instances", r"Instance"),
    (
        "Vpc/Subnet/RouteTable/...",
        r"Vpc|Subnet|Route|InternetGateway|NatGateway|NetworkAcl|NetworkInterface|DhcpOptions"
        r"|PrefixList|IpAddresses|Ipv6Addresses|Ipv4Prefixes|Ipv6Prefixes|TransitGateway"
        r"|VpnGateway|VpnConnection|CustomerGateway|ClientVpn|LocalGateway|CarrierGateway"
        r"|FlowLogs|TrafficMirror",
    ),
]
OTHER = "other"
# The order COVERAGE.md lists them in.
AREA_NAMES = [
    "Instances",
    "Images",
    "KeyPairs",
    "SecurityGroups",
    "Vpc/Subnet/RouteTable/...",
    "Volumes/Snapshots",
    "Addresses",
    "Tags",
    "Regions/AvailabilityZones",
    OTHER,
]
assert sorted(AREA_NAMES) == sorted([name for name, _ in AREAS] + [OTHER])
_AREA_RES = [(name, re.compile(pattern)) for name, pattern in AREAS]

DECLARATION_KEYS = {"handler", "area", "honours", "ignores", "refuses", "filters", "fills", "notes"}


def classify(operation: str) -> str:
    """The area an operation belongs to, by its name."""
    for name, pattern in _AREA_RES:
        if pattern.search(operation):
            return name
    return OTHER


# --------------------------------------------------------------------------- the model


def model_path() -> Path:
    """The installed botocore's EC2 model (the vendored copy must equal it, see check_vendored)."""
    import botocore

    base = Path(botocore.__file__).parent / "data" / "ec2" / API_VERSION
    for name in ("service-2.json.gz", "service-2.json"):
        if (base / name).exists():
            return base / name
    raise FileNotFoundError(f"no EC2 model under {base}")


class Model:
    """The botocore EC2 model: operations and shapes, with the EC2 protocol's naming rules."""

    def __init__(self, data: dict, botocore_version: str = "?"):
        self.operations: dict = data["operations"]
        self.shapes: dict = data["shapes"]
        self.botocore_version = botocore_version

    def input_shape(self, operation: str) -> str | None:
        return self.operations[operation].get("input", {}).get("shape")

    def output_shape(self, operation: str) -> str | None:
        return self.operations[operation].get("output", {}).get("shape")

    def members(self, shape: str | None) -> dict:
        return self.shapes[shape].get("members", {}) if shape else {}

    def type_of(self, shape: str) -> str:
        return self.shapes[shape]["type"]

    def resolve(self, shape: str | None, path: str) -> tuple[str, dict]:
        """Follows a dotted member path (lists are walked through to their member); returns the
        last member's name and reference. Raises KeyError naming the first missing step."""
        ref = None
        name = ""
        for step in path.split("."):
            while shape and self.type_of(shape) == "list":
                shape = self.shapes[shape]["member"]["shape"]
            members = self.members(shape)
            if step not in members:
                raise KeyError(f"{step!r} is not a member of {shape or '(no shape)'}")
            name, ref = step, members[step]
            shape = ref["shape"]
        return name, ref

    @staticmethod
    def query_name(member: str, ref: dict) -> str:
        """The EC2 protocol's request key for a member: queryName, else locationName with its
        first letter upper-cased, else the member name (botocore's EC2Serializer)."""
        if "queryName" in ref:
            return ref["queryName"]
        if "locationName" in ref:
            name = ref["locationName"]
            return name[0].upper() + name[1:]
        return member

    def wire_name(self, member: str, ref: dict) -> str:
        """The request key as recorded in actions.toml: `ImageId.N` for lists."""
        name = self.query_name(member, ref)
        return name + ".N" if self.type_of(ref["shape"]) == "list" else name

    def wire_path(self, shape: str | None, path: str) -> str:
        """A nested member's request key, e.g. LaunchPermission.Add.N.OrganizationArn."""
        parts = []
        for step in path.split("."):
            while shape and self.type_of(shape) == "list":
                shape = self.shapes[shape]["member"]["shape"]
            ref = self.members(shape)[step]
            parts.append(self.wire_name(step, ref))
            shape = ref["shape"]
        return ".".join(parts)

    @staticmethod
    def xml_name(member: str, ref: dict) -> str:
        """A member's element name in an answer (botocore's QueryParser: locationName, else
        the member name)."""
        return ref.get("locationName", member)


def load_model(path: Path | None = None) -> Model:
    """The vendored model (ec2-spec/model/), which the wire layer is generated from."""
    path = path or VENDORED_MODEL
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return Model(json.load(f), VENDORED_VERSION.read_text().strip())


def check_vendored() -> list[str]:
    """The conformance venv pins the botocore whose model is vendored, and where that botocore
    is installed its model is byte for byte the vendored one."""
    vendored = VENDORED_VERSION.read_text().strip()
    requirements = (REPO / "conformance" / "requirements.txt").read_text()
    pinned = re.search(r"^botocore==(\S+)", requirements, re.MULTILINE)
    if not pinned or pinned.group(1) != vendored:
        return [
            f"ec2-spec/model/ holds botocore {vendored}'s EC2 model, but conformance/requirements.txt pins "
            f"{pinned.group(1) if pinned else 'no botocore'}: vendor the pinned one's model (and regenerate)"
        ]
    try:
        import botocore
    except ImportError:
        return []
    if botocore.__version__ != vendored:
        return []
    with gzip.open(VENDORED_MODEL, "rb") as a:
        ours = a.read()
    path = model_path()
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as b:
        theirs = b.read()
    if ours != theirs:
        return [f"ec2-spec/model/ differs from botocore {vendored}'s own EC2 model ({path})"]
    return []


def check_generated() -> list[str]:
    """src/api/generated/ is what ec2-spec/generate.py writes from the declaration."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", SPEC_DIR / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    try:
        files = generate.generate()
    except generate.Problem as e:
        return [f"ec2-spec/generate.py: {e}"]
    stale = [name for name, text in files.items() if not (generate.OUT_DIR / name).exists() or (generate.OUT_DIR / name).read_text() != text]
    if stale:
        return [f"src/api/generated/ is stale ({', '.join(stale)}): run `python3 ec2-spec/generate.py`"]
    return []


# --------------------------------------------------------------------------- the declaration


def load_declaration(path: Path = DECLARATION_PATH) -> dict[str, dict]:
    with open(path, "rb") as f:
        return tomllib.load(f)


def parse_action_rs(text: str) -> list[str]:
    """The variants of the `Action` enum in src/api/generated/actions.rs."""
    text = re.sub(r"//[^\n]*", "", text)
    match = re.search(r"pub enum Action\s*\{(.*?)\n\s*\}", text, re.DOTALL)
    if not match:
        raise ValueError("no `pub enum Action` found")
    return re.findall(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(", match.group(1), re.MULTILINE)


def rust_string_literals(paths: list[Path]) -> set[str]:
    literals: set[str] = set()
    for path in paths:
        files = sorted(path.rglob("*.rs")) if path.is_dir() else [path]
        for file in files:
            literals.update(re.findall(r'"((?:[^"\\\n]|\\.)*)"', file.read_text()))
    return literals


def check_declaration(model: Model, decl: dict[str, dict]) -> list[str]:
    """The declaration against the model: names, completeness, wire names, areas."""
    problems: list[str] = []
    for action, spec in decl.items():
        if action not in model.operations:
            close = difflib.get_close_matches(action, model.operations, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{action}: not an operation of the EC2 model{hint}")
            continue
        where = f"{action}"
        unknown_keys = set(spec) - DECLARATION_KEYS
        if unknown_keys:
            problems.append(f"{where}: unknown keys {sorted(unknown_keys)} (allowed: {sorted(DECLARATION_KEYS)})")
        area = spec.get("area")
        if area not in AREA_NAMES:
            problems.append(f"{where}: area {area!r} is not one of {AREA_NAMES}")
        elif area != classify(action):
            problems.append(f"{where}: area {area!r}, but its name puts it in {classify(action)!r}")

        inp = model.input_shape(action)
        out = model.output_shape(action)
        inputs = model.members(inp)
        honours = spec.get("honours", {})
        ignores = spec.get("ignores", {})
        refuses = spec.get("refuses", {})
        for key, table in (("honours", honours), ("ignores", ignores), ("refuses", refuses)):
            if not isinstance(table, dict):
                problems.append(f"{where}: {key} must be a table")
        if not all(isinstance(t, dict) for t in (honours, ignores, refuses)):
            continue

        for member, wire in honours.items():
            if member not in inputs:
                problems.append(f"{where}: honours {member!r}, which is not a member of {inp}")
                continue
            expected = model.wire_name(member, inputs[member])
            if wire != expected:
                problems.append(f"{where}: honours {member} with wire name {wire!r}; the model's is {expected!r}")
        for member, why in ignores.items():
            if member not in honours:
                problems.append(f"{where}: ignores {member!r}, which is not under honours (ignored members are read, so honoured)")
            if not isinstance(why, str) or not why.strip():
                problems.append(f"{where}: ignores {member}: say why")
        for path, code in refuses.items():
            try:
                model.resolve(inp, path)
            except KeyError as e:
                problems.append(f"{where}: refuses {path!r}: {e.args[0]}")
                continue
            if not isinstance(code, str) or not re.fullmatch(r"[A-Z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*", code):
                problems.append(f"{where}: refuses {path} with {code!r}, not an error code")
            top = path.split(".")[0]
            if "." not in path and top in honours:
                problems.append(f"{where}: {top} is both honoured and refused")
            if "." in path and top not in honours:
                problems.append(f"{where}: refuses {path}, a part of {top}, which is not honoured (refuse {top} whole)")
        declared = set(honours) | {p for p in refuses if "." not in p}
        for member in inputs:
            if member not in declared:
                problems.append(
                    f"{where}: input member {member} ({model.wire_name(member, inputs[member])}) is neither "
                    f"honoured nor refused: declare it (the gateway answers unread parameters with UnknownParameter)"
                )

        filters = spec.get("filters", [])
        if filters and "Filters" not in inputs:
            problems.append(f"{where}: declares filters but {inp} has no Filters member")
        if len(set(filters)) != len(filters):
            problems.append(f"{where}: a filter is declared twice")

        for path in spec.get("fills", []):
            if out is None:
                problems.append(f"{where}: fills {path!r} but the operation has no output shape")
                continue
            try:
                model.resolve(out, path)
            except KeyError as e:
                problems.append(f"{where}: fills {path!r}: {e.args[0]}")
    return problems


def check_action_rs(decl: dict[str, dict], action_rs: Path = ACTION_RS) -> list[str]:
    """The declared actions are exactly the variants of the generated Action enum."""
    try:
        served = parse_action_rs(action_rs.read_text())
    except (OSError, ValueError) as e:
        return [f"{action_rs}: {e}"]
    problems = []
    for name in served:
        if name not in decl:
            problems.append(f"{name}: served (src/api/generated/actions.rs) but not declared in actions.toml")
    for name in decl:
        if name not in served:
            problems.append(f"{name}: declared in actions.toml but not in src/api/generated/actions.rs (regenerate)")
    if len(set(served)) != len(served):
        problems.append("src/api/generated/actions.rs lists an action twice")
    return problems


def check_sources(decl: dict[str, dict], error_rs: Path = ERROR_RS, filter_sources: list[Path] = FILTER_SOURCES) -> list[str]:
    """Refused codes are codes the gateway has; declared filters are names its code knows."""
    problems = []
    codes = rust_string_literals([error_rs])
    literals = rust_string_literals(filter_sources)
    for action, spec in decl.items():
        for path, code in spec.get("refuses", {}).items():
            if code not in codes:
                problems.append(f"{action}: refuses {path} with {code}, a code src/api/error.rs never answers")
        for name in spec.get("filters", []):
            needle = name.split("<")[0] if "<" in name else name
            if needle not in literals:
                problems.append(f"{action}: filter {name!r} appears nowhere in src/engine or src/store")
    return problems


# --------------------------------------------------------------------------- coverage


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def render_coverage(model: Model, decl: dict[str, dict]) -> str:
    ops = sorted(model.operations)
    supported = sorted(a for a in decl if a in model.operations)
    by_area: dict[str, list[str]] = {name: [] for name in AREA_NAMES}
    for op in ops:
        by_area[classify(op)].append(op)
    moto_done, moto_total = MOTO_REFERENCE
    lines = [
        f"<!-- generated by `{GENERATE_COMMAND}` from ec2-spec/actions.toml and the botocore EC2 model: do not edit -->",
        "# EC2 API coverage",
        "",
        f"Generated by `{GENERATE_COMMAND}`; do not edit by hand:",
        "`ec2-spec/check.py` fails when this file differs from what it would write.",
        "",
        f"Model: botocore {model.botocore_version}, EC2 API {API_VERSION}, {len(ops)} operations.",
        "",
        f"**ec2gw serves {len(supported)} of {len(ops)} operations ({pct(len(supported), len(ops))}).** "
        f"Reference point: moto's EC2 mock implements {moto_done} of {moto_total} "
        f"({pct(moto_done, moto_total)}; moto's own count, not recomputed against this model).",
        "",
        "| Area | Operations in the model | Served by ec2gw | Share |",
        "|---|---:|---:|---:|",
    ]
    for name in AREA_NAMES:
        served = [op for op in by_area[name] if op in decl]
        lines.append(f"| {name} | {len(by_area[name])} | {len(served)} | {pct(len(served), len(by_area[name]))} |")
    lines.append(f"| **total** | **{len(ops)}** | **{len(supported)}** | **{pct(len(supported), len(ops))}** |")
    lines += [
        "",
        "## Served actions",
        "",
        "Input members: honoured (read; of which ignored: read and checked, no effect) and refused "
        "(answered with an error), out of the model's input members. Filters: names the gateway "
        "knows. Fills: output members (paths) every successful answer carries.",
        "",
        "| Area | Action | Input members | Honoured | Ignored | Refused | Filters | Fills |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in AREA_NAMES:
        for action in sorted(op for op in by_area[name] if op in decl):
            spec = decl[action]
            inputs = model.members(model.input_shape(action))
            top_refused = [p for p in spec.get("refuses", {}) if "." not in p]
            lines.append(
                f"| {name} | {action} | {len(inputs)} | {len(spec.get('honours', {}))} | "
                f"{len(spec.get('ignores', {}))} | {len(top_refused)} | "
                f"{len(spec.get('filters', []))} | {len(spec.get('fills', []))} |"
            )
    lines += [
        "",
        "## How operations are put into areas",
        "",
        "By name, first match wins; an operation no pattern matches is `other`.",
        "",
        "| Area | Pattern |",
        "|---|---|",
    ]
    for name, pattern in AREAS:
        lines.append(f"| {name} | `{pattern.replace('|', '&#124;')}` |")
    return "\n".join(lines) + "\n"


def check_coverage(model: Model, decl: dict[str, dict], path: Path = COVERAGE_PATH) -> list[str]:
    expected = render_coverage(model, decl)
    try:
        actual = path.read_text()
    except FileNotFoundError:
        return [f"{path.relative_to(REPO)} is missing: run `{GENERATE_COMMAND}`"]
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                actual.splitlines(True), expected.splitlines(True), "COVERAGE.md (committed)", "COVERAGE.md (generated)", n=0
            )
        )
        made_with = re.search(r"^Model: botocore (\S+),", actual, re.MULTILINE)
        hint = ""
        if made_with and made_with.group(1) != model.botocore_version:
            hint = (
                f" (it was generated with botocore {made_with.group(1)}, this is {model.botocore_version}:"
                f" a new model changes the counts; pin botocore in conformance/requirements.txt to keep them)"
            )
        return [f"{path.relative_to(REPO)} is stale{hint}: run `{GENERATE_COMMAND}`\n{diff}"]
    return []


def check_all(model: Model | None = None, decl: dict | None = None, coverage: bool = True) -> list[str]:
    model = model or load_model()
    decl = decl if decl is not None else load_declaration()
    problems = check_declaration(model, decl) + check_action_rs(decl) + check_sources(decl) + check_vendored() + check_generated()
    if coverage:
        problems += check_coverage(model, decl)
    return problems


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Problem:
    """Something in an answer the model does not allow: where, what, and the element itself."""

    operation: str
    path: str
    message: str
    element: str = ""

    def __str__(self) -> str:
        text = f"{self.operation}: {self.path}: {self.message}"
        return f"{text}\n    {self.element}" if self.element else text


def local_name(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return None, tag


def snippet(elem: ET.Element, limit: int = 200) -> str:
    """The element as XML without namespace clutter, cut to `limit` characters."""

    def render(e: ET.Element) -> str:
        name = local_name(e.tag)[1]
        inner = (e.text or "").strip() + "".join(render(c) for c in e)
        return f"<{name}>{inner}</{name}>" if inner else f"<{name}/>"

    text = render(elem)
    return text if len(text) <= limit else text[: limit - 3] + "..."


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


class _Validator:
    def __init__(self, model: Model, operation: str):
        self.model = model
        self.operation = operation
        self.problems: list[Problem] = []

    def flag(self, path: str, message: str, elem: ET.Element | None = None) -> None:
        self.problems.append(Problem(self.operation, path, message, snippet(elem) if elem is not None else ""))

    def check_namespace(self, elem: ET.Element, path: str) -> None:
        ns, _ = local_name(elem.tag)
        if ns != NS:
            self.flag(path, f"not in the EC2 namespace {NS} (namespace: {ns})", elem)

    def children(self, shape: str, elem: ET.Element, path: str, extra: dict | None = None) -> None:
        """A structure's child elements: each a member, at most once."""
        by_xml = {Model.xml_name(m, ref): (m, ref) for m, ref in self.model.members(shape).items()}
        seen: dict[str, int] = {}
        if (elem.text or "").strip():
            self.flag(path, f"text {elem.text.strip()!r} in structure {shape}", elem)
        for child in elem:
            _, name = local_name(child.tag)
            child_path = f"{path}/{name}"
            self.check_namespace(child, child_path)
            seen[name] = seen.get(name, 0) + 1
            if seen[name] == 2:
                self.flag(child_path, f"<{name}> appears more than once in {shape}", child)
            if extra and name in extra:
                extra[name](child, child_path)
                continue
            if name not in by_xml:
                known = sorted(list(by_xml) + list(extra or {}))
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean <{close[0]}>?" if close else ""
                self.flag(child_path, f"<{name}> is not defined by {shape or 'the (empty) output shape'}{hint}", child)
                continue
            _, ref = by_xml[name]
            self.node(ref["shape"], child, child_path)

    def node(self, shape: str, elem: ET.Element, path: str) -> None:
        spec = self.model.shapes[shape]
        kind = spec["type"]
        if kind == "structure":
            self.children(shape, elem, path)
        elif kind == "list":
            item = spec["member"].get("locationName", "member")
            if (elem.text or "").strip():
                self.flag(path, f"text {elem.text.strip()!r} in list {shape}", elem)
            for i, child in enumerate(elem, 1):
                _, name = local_name(child.tag)
                child_path = f"{path}/{name}[{i}]"
                self.check_namespace(child, child_path)
                if name != item:
                    self.flag(child_path, f"<{name}> in list {shape}, whose items are <{item}>", child)
                    continue
                self.node(spec["member"]["shape"], child, child_path)
        elif kind == "map":
            key_name = spec["key"].get("locationName", "key")
            value_name = spec["value"].get("locationName", "value")
            for i, entry in enumerate(elem, 1):
                entry_path = f"{path}/{local_name(entry.tag)[1]}[{i}]"
                for part in entry:
                    name = local_name(part.tag)[1]
                    if name == key_name:
                        self.node(spec["key"]["shape"], part, f"{entry_path}/{name}")
                    elif name == value_name:
                        self.node(spec["value"]["shape"], part, f"{entry_path}/{name}")
                    else:
                        self.flag(f"{entry_path}/{name}", f"<{name}> in map {shape}", part)
        else:
            self.scalar(shape, kind, spec, elem, path)

    def scalar(self, shape: str, kind: str, spec: dict, elem: ET.Element, path: str) -> None:
        """A scalar's text against its type; enums against the model's values, but for the
        values live EC2 is known to answer beyond them (LIVE_ENUM_VALUES)."""
        if len(elem):
            self.flag(path, f"{kind} {shape} has child elements", elem)
            return
        value = elem.text or ""
        bad = None
        if kind == "boolean" and value not in ("true", "false"):
            bad = "expected true or false"
        elif kind in ("integer", "long") and not re.fullmatch(r"-?\d+", value):
            bad = "expected an integer"
        elif kind in ("float", "double"):
            try:
                float(value)
            except ValueError:
                bad = "expected a number"
        elif kind == "timestamp" and not TIMESTAMP.fullmatch(value):
            bad = "expected an ISO 8601 timestamp (YYYY-MM-DDThh:mm:ss[.fff]Z)"
        elif kind == "blob":
            try:
                base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                bad = "expected base64"
        elif kind == "string" and "enum" in spec and value not in spec["enum"] \
                and value not in LIVE_ENUM_VALUES.get(shape, ()):
            bad = f"not one of {shape}'s values {spec['enum'][:12]}{' ...' if len(spec['enum']) > 12 else ''}"
        if bad:
            self.flag(path, f"value {value!r} of {kind} {shape}: {bad}", elem)


# Values EC2 answers that its own model's enums lack, each with where it is seen.
LIVE_ENUM_VALUES = {
    # An internet gateway's attachment is `available` on EC2 (the Terraform provider waits for
    # InternetGatewayAttachmentStateAvailable = "available"); AttachmentStatus does not list it.
    "AttachmentStatus": ("available",),
}


def validate_error(operation: str, status: int, root: ET.Element) -> list[Problem]:
    """EC2's error envelope: <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>."""
    problems: list[Problem] = []

    def flag(path: str, message: str, elem: ET.Element | None = None) -> None:
        problems.append(Problem(operation, path, message, snippet(elem) if elem is not None else ""))

    def exactly(elem: ET.Element, path: str, wanted: dict[str, int]) -> dict[str, list[ET.Element]]:
        """Children named as `wanted` says (name -> 1: exactly once, 0: one or more)."""
        found: dict[str, list[ET.Element]] = {}
        for child in elem:
            ns, name = local_name(child.tag)
            found.setdefault(name, []).append(child)
            if name not in wanted or ns is not None:
                flag(f"{path}/{name}", f"<{child.tag}> is not part of EC2's error envelope", child)
        for name, count in wanted.items():
            got = len(found.get(name, []))
            if got == 0:
                flag(path, f"missing <{name}>", elem)
            elif count == 1 and got > 1:
                flag(f"{path}/{name}", f"<{name}> appears {got} times", elem)
        return found

    if not 400 <= status <= 599:
        flag("Response", f"an error envelope with HTTP status {status}", root)
    if root.tag != "Response":
        flag(local_name(root.tag)[1], f"error answer's root is <{root.tag}>, expected <Response> (no namespace)", root)
        return problems
    top = exactly(root, "Response", {"Errors": 1, "RequestID": 1})
    for rid in top.get("RequestID", [])[:1]:
        if not (rid.text or "").strip() or len(rid):
            flag("Response/RequestID", "empty or not text", rid)
    for errors in top.get("Errors", [])[:1]:
        found = exactly(errors, "Response/Errors", {"Error": 0})
        for i, error in enumerate(found.get("Error", []), 1):
            path = f"Response/Errors/Error[{i}]"
            parts = exactly(error, path, {"Code": 1, "Message": 1})
            for code in parts.get("Code", [])[:1]:
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(\.[A-Za-z0-9]+)*", code.text or ""):
                    flag(f"{path}/Code", f"code {code.text!r} is not an EC2 error code", code)
            for message in parts.get("Message", [])[:1]:
                if len(message):
                    flag(f"{path}/Message", "message has child elements", message)
    return problems


def check_fills(model: Model, operation: str, root: ET.Element, fills: list[str]) -> list[Problem]:
    """Each declared `fills` path is present: the first step always, a nested step in every
    element of its parent that is present (in every item, through lists)."""
    problems: list[Problem] = []
    reported: set[tuple[str, str]] = set()  # a missing parent is told once, not once per fill under it
    top = f"{operation}Response"
    for path in fills:
        nodes = [(root, top, model.output_shape(operation))]
        for step in path.split("."):
            following = []
            for elem, elem_path, shape in nodes:
                ref = model.members(shape).get(step)
                if ref is None:
                    break
                xml = Model.xml_name(step, ref)
                found = [c for c in elem if local_name(c.tag)[1] == xml]
                if not found:
                    if (elem_path, xml) in reported:
                        continue
                    reported.add((elem_path, xml))
                    problems.append(
                        Problem(operation, elem_path, f"missing <{xml}> ({path} is declared in fills)", snippet(elem, 160))
                    )
                    continue
                child, child_path = found[0], f"{elem_path}/{xml}"
                target = model.shapes[ref["shape"]]
                if target["type"] == "list":
                    for i, item in enumerate(child, 1):
                        following.append((item, f"{child_path}/{local_name(item.tag)[1]}[{i}]", target["member"]["shape"]))
                else:
                    following.append((child, child_path, ref["shape"]))
            nodes = following
    return problems


def validate_answer(model: Model, operation: str, status: int, body: bytes | str, fills: list[str] = ()) -> list[Problem]:
    """Every element of one answer is defined by the model, and the declared fills are there.

    A 2xx answer must be `<{operation}Response xmlns="...2016-11-15/">` with `<requestId>` and
    only members of the operation's output shape below it (locationName, list items, nested
    structures, types and enums). An operation the model gives no output shape (CreateTags,
    ModifyImageAttribute, ...) may answer `<return>true</return>`: AWS does, and its API
    reference documents it. Any other status must be EC2's error envelope."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        return [Problem(operation, "/", f"not well-formed XML: {e}", (body[:200] if isinstance(body, str) else body[:200].decode("utf-8", "replace")))]
    if not 200 <= status <= 299:
        return validate_error(operation, status, root)
    top = f"{operation}Response"
    ns, name = local_name(root.tag)
    if name == "Response" and ns is None:
        return [Problem(operation, "Response", f"an error envelope with HTTP status {status}", snippet(root))]
    if operation not in model.operations:
        return [Problem(operation, name, f"{operation} is not an operation of the EC2 model", snippet(root))]
    v = _Validator(model, operation)
    if name != top or ns != NS:
        v.flag(name, f"root element is <{root.tag}>, expected <{top} xmlns=\"{NS}\">", root)
        return v.problems
    out = model.output_shape(operation)

    def request_id(elem: ET.Element, path: str) -> None:
        if len(elem) or not (elem.text or "").strip():
            v.flag(path, "requestId must be a non-empty text", elem)

    def return_value(elem: ET.Element, path: str) -> None:
        if elem.text not in ("true", "false") or len(elem):
            v.flag(path, "return must be true or false", elem)

    extra = {"requestId": request_id}
    if out is None:
        extra["return"] = return_value
    v.children(out, root, top, extra)
    if not any(local_name(c.tag)[1] == "requestId" for c in root):
        v.flag(top, "missing <requestId>", root)
    if not v.problems:
        v.problems += check_fills(model, operation, root, list(fills))
    return v.problems


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-coverage", action="store_true", help=f"(re)write {COVERAGE_PATH.name}")
    args = parser.parse_args(argv)
    model = load_model()
    decl = load_declaration()
    problems = check_all(model, decl, coverage=not args.write_coverage)
    if args.write_coverage:
        COVERAGE_PATH.write_text(render_coverage(model, decl))
        print(f"wrote {COVERAGE_PATH.relative_to(REPO)}")
    if problems:
        print(f"ec2-spec: {len(problems)} problem(s):", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"ec2-spec: {len(decl)} actions declared, consistent with the EC2 model (botocore {model.botocore_version}) and src/api/generated/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
