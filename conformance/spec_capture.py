"""pytest plugin: every answer the gateway sends during the session, checked against the
botocore EC2 model (ec2-spec/check.py's `validate_answer`).

What is captured:
- every answer to a botocore client (boto3 included): `botocore.session.Session.create_client`
  is wrapped for the session, so each EC2 client, however and wherever it is made (conftest's
  fixtures, a test's own `boto3.client(...)`, a bare botocore session), gets a handler on
  `before-parse.ec2`, the event botocore emits with the raw HTTP answer before parsing it
  (every attempt, retries included);
- every answer to a hand-made request sent with ec2wire.send / ec2wire.call (the operation is
  the request's `Action`).
The AWS CLI runs in subprocesses and is not captured.

At the end of the session each answer is validated: a 2xx answer element by element against
its operation's output shape, plus the `fills` actions.toml declares; any other status against
EC2's error envelope. A mismatch fails the session (exit status 1) and is reported in the
terminal summary with the operation, the element path and the offending element. Tests can
look at what was captured through `captured()` / `validate()`.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK_PATH = REPO / "ec2-spec" / "check.py"
EVENT = "before-parse.ec2"
HANDLER_ID = "ec2-spec-capture"


def load_check():
    """ec2-spec/check.py as module `ec2spec_check` (one instance, shared with the tests)."""
    name = "ec2spec_check"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CHECK_PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


check = load_check()


@dataclass(frozen=True)
class Answer:
    operation: str
    status: int
    body: bytes
    source: str  # "botocore" or "ec2wire"
    test: str  # the test that was running (its node id), or "" outside tests


_answers: list[Answer] = []
_current_test = ""
_original_create_client = None
_original_send = None
_report: dict = {}


def captured() -> list[Answer]:
    """Everything captured so far, in order."""
    return list(_answers)


def record(operation: str, status: int, body: bytes | str, source: str) -> None:
    if isinstance(body, str):
        body = body.encode()
    _answers.append(Answer(operation, int(status), bytes(body), source, _current_test))


# --------------------------------------------------------------------------- capture


def _before_parse(operation_model, response_dict, **_):
    body = response_dict.get("body")
    if isinstance(body, (bytes, str)):
        record(operation_model.name, response_dict.get("status_code", 0), body, "botocore")


def _create_client(self, service_name, *args, **kwargs):
    client = _original_create_client(self, service_name, *args, **kwargs)
    if client.meta.service_model.service_name == "ec2":
        client.meta.events.register(EVENT, _before_parse, unique_id=HANDLER_ID)
    return client


def _request_action(req, body) -> str:
    data = body if body is not None else req.body
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    pairs = parse_qsl(urlsplit(req.url).query, keep_blank_values=True)
    if req.method == "POST" and data:
        pairs += parse_qsl(data, keep_blank_values=True)
    return next((v for k, v in pairs if k == "Action"), "") or "(no Action)"


def _send(req, *, body=None):
    reply = _original_send(req, body=body)
    record(_request_action(req, body), reply.status, reply.text, "ec2wire")
    return reply


def install() -> None:
    global _original_create_client, _original_send
    if _original_create_client is None:
        _original_create_client = botocore.session.Session.create_client
        botocore.session.Session.create_client = _create_client
    try:
        import ec2wire
    except ImportError:
        return
    if _original_send is None:
        _original_send = ec2wire.send
        ec2wire.send = _send


def uninstall() -> None:
    global _original_create_client, _original_send
    if _original_create_client is not None:
        botocore.session.Session.create_client = _original_create_client
        _original_create_client = None
    if _original_send is not None:
        import ec2wire

        ec2wire.send = _original_send
        _original_send = None


# --------------------------------------------------------------------------- validation


def validate(answers: list[Answer] | None = None, model=None, declaration=None) -> list[tuple[Answer, object]]:
    """(answer, problem) for every problem in `answers` (default: all captured)."""
    model = model or check.load_model()
    declaration = declaration if declaration is not None else check.load_declaration()
    found = []
    for answer in _answers if answers is None else answers:
        fills = declaration.get(answer.operation, {}).get("fills", [])
        for problem in check.validate_answer(model, answer.operation, answer.status, answer.body, fills):
            found.append((answer, problem))
    return found


def format_problems(found: list[tuple[Answer, object]]) -> list[str]:
    """One entry per distinct (operation, path, message), with how often and where first."""
    groups: dict[tuple, list] = {}
    for answer, problem in found:
        groups.setdefault((problem.operation, problem.path, problem.message), []).append((answer, problem))
    lines = []
    for (operation, path, message), hits in groups.items():
        answer, problem = hits[0]
        where = f"{answer.source} answer (HTTP {answer.status}) in {answer.test or 'setup'}"
        times = f" [{len(hits)} answers]" if len(hits) > 1 else ""
        lines.append(f"{operation}: {path}: {message}{times}\n      offending: {problem.element}\n      first seen: {where}")
    return lines


# --------------------------------------------------------------------------- hooks


def pytest_configure(config):
    install()


def pytest_unconfigure(config):
    uninstall()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _current_test
    _current_test = item.nodeid
    try:
        yield
    finally:
        _current_test = ""


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    if not _answers:
        return
    model = check.load_model()
    declaration = check.load_declaration()
    found = validate(model=model, declaration=declaration)
    ok_ops = {a.operation for a in _answers if 200 <= a.status <= 299}
    _report.update(
        answers=len(_answers),
        operations=len({a.operation for a in _answers}),
        problems=format_problems(found),
        unexercised=sorted(op for op in declaration if op not in ok_ops),
    )
    if found and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _report:
        return
    tr = terminalreporter
    problems = _report["problems"]
    head = (
        f"ec2-spec: {_report['answers']} gateway answers ({_report['operations']} operations) "
        f"checked against the botocore EC2 model"
    )
    if problems:
        tr.write_sep("=", "ec2-spec: answers the EC2 model does not allow", red=True)
        tr.write_line(head + f": {len(problems)} problem(s), the session fails")
        for line in problems:
            tr.write_line("  - " + line)
    else:
        tr.write_line(head + ": all match")
    if _report["unexercised"]:
        tr.write_line("ec2-spec: served actions with no successful answer this session: " + ", ".join(_report["unexercised"]))
