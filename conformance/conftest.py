"""Fixtures: a live ec2gw gateway (one per test session), accounts and keys made through
`ec2gw admin`, a boto3 EC2 client, and a runner for the real AWS CLI.

Environment:
  EC2GW_BIN                 the gateway binary (default: target/debug/ec2gw in the repository)
  EC2GW_TEST_DATABASE_URL   a postgres:// URL; each session then gets a fresh database created
                            (and dropped) next to the one the URL names. Unset: SQLite in a temp dir.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config

pytest_plugins = ["spec_capture"]  # ec2-spec: every answer checked against the botocore EC2 model

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"
START_TIMEOUT = 30.0
STDERR_TAIL_LINES = 30
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Account:
    account_id: str
    access_key: str
    secret_key: str


@dataclass
class Gateway:
    binary: Path
    endpoint: str
    host: str
    port: int
    database_url: str
    data_dir: Path
    stdout_path: Path
    stderr_path: Path
    account: Account
    process: subprocess.Popen = field(repr=False)

    @property
    def access_key(self) -> str:
        return self.account.access_key

    @property
    def secret_key(self) -> str:
        return self.account.secret_key

    @property
    def account_id(self) -> str:
        return self.account.account_id

    def admin(self, *args: str) -> subprocess.CompletedProcess:
        return run_admin(self.binary, self.database_url, self.data_dir, *args)

    def admin_json(self, *args: str) -> dict:
        return admin_json(self.binary, self.database_url, self.data_dir, *args)

    def create_account(self) -> Account:
        return create_account(self.binary, self.database_url, self.data_dir)

    def create_key(self, account_id: str) -> Account:
        return create_key(self.binary, self.database_url, self.data_dir, account_id)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return tail(self.stderr_path, lines)


# --------------------------------------------------------------------------- helpers


def tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return ANSI_ESCAPE.sub("", "\n".join(text.splitlines()[-lines:]))


def clean_env() -> dict[str, str]:
    """The environment without any AWS_* or EC2GW_* settings of the person running the suite.
    Gateways build no host network unless a test asks for one (`network_env`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "EC2GW_"))}
    env["EC2GW_NETWORK"] = "off"
    return env


def network_env(pool: str) -> dict[str, str]:
    """clean_env() for a gateway that builds its VPCs on this host, its public addresses from
    `pool` (a block of 198.19.0.0/16 of its own, so that gateways running at once never route
    the same address; the README's gateway uses 198.18.0.0/15)."""
    env = clean_env()
    env["EC2GW_NETWORK"] = "linux"
    env["EC2GW_PUBLIC_POOL"] = pool
    return env


def purge_network(binary: Path, database_url: str, data_dir: Path) -> None:
    """Removes every namespace, bridge and dnsmasq this database's gateways made on the host."""
    proc = run_admin(binary, database_url, data_dir, "network", "purge")
    assert proc.returncode == 0, proc.stderr


def run_admin(binary: Path, database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`ec2gw admin` on the gateway's database and data dir (where the key that seals access
    key secrets is kept)."""
    cmd = [str(binary), "admin", "--database", database_url, "--data-dir", str(data_dir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env())
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}",
            pytrace=False,
        )
    return proc


def admin_json(binary: Path, database_url: str, data_dir: Path, *args: str) -> dict:
    proc = run_admin(binary, database_url, data_dir, *args, "--json")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ec2gw admin {' '.join(args)} --json printed no JSON:\n{proc.stdout}", pytrace=False)


def create_account(binary: Path, database_url: str, data_dir: Path) -> Account:
    account_id = admin_json(binary, database_url, data_dir, "account", "create")["AccountId"]
    return create_key(binary, database_url, data_dir, account_id)


def create_key(binary: Path, database_url: str, data_dir: Path, account_id: str) -> Account:
    key = admin_json(binary, database_url, data_dir, "key", "create", "--account", account_id)["AccessKey"]
    return Account(account_id, key["AccessKeyId"], key["SecretAccessKey"])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def psql(url: str, sql: str) -> None:
    if shutil.which("psql") is None:
        pytest.fail("EC2GW_TEST_DATABASE_URL is set but psql is not installed", pytrace=False)
    proc = subprocess.run(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        pytest.fail(f"psql {sql!r} failed:\n{proc.stderr}", pytrace=False)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def ec2gw_bin() -> Path:
    path = Path(os.environ.get("EC2GW_BIN", REPO / "target" / "debug" / "ec2gw"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"no ec2gw binary at {path}: build it (cargo build) or set EC2GW_BIN", pytrace=False)
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database of this session's own: a fresh Postgres database, or SQLite in a temp dir."""
    base = os.environ.get("EC2GW_TEST_DATABASE_URL")
    if not base:
        path = tmp_path_factory.mktemp("db") / "ec2gw.sqlite"
        yield f"sqlite://{path}"
        return
    name = f"ec2gw_conf_{os.getpid()}_{secrets.token_hex(4)}"
    psql(base, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(base, name)
    finally:
        psql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def gateway(ec2gw_bin, database_url, tmp_path_factory, request) -> Gateway:
    work = tmp_path_factory.mktemp("gateway")
    data_dir = work / "data"
    data_dir.mkdir()
    account = create_account(ec2gw_bin, database_url, data_dir)

    port = free_port()
    listen = f"127.0.0.1:{port}"
    stdout_path, stderr_path = work / "stdout.log", work / "stderr.log"
    # libvirt's test driver: instances get domains without booting anything (real guests
    # are test_real_guest.py's own gateway on qemu:///system).
    cmd = [str(ec2gw_bin), "serve", "--listen", listen, "--database", database_url, "--data-dir", str(data_dir),
           "--libvirt-uri", "test:///default", "--domain-type", "test"]
    # VPCs are built on the host for real (namespaces, bridges, dnsmasq, nftables).
    env = network_env("198.19.1.0/24")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)

    gw = Gateway(
        binary=ec2gw_bin,
        endpoint=f"http://{listen}",
        host="127.0.0.1",
        port=port,
        database_url=database_url,
        data_dir=data_dir,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        account=account,
        process=process,
    )
    request.config.stash[GATEWAY_KEY] = gw
    try:
        wait_ready(gw)
        yield gw
        if process.poll() is not None:
            pytest.fail(
                f"ec2gw serve died during the session (exit status {process.returncode})\n"
                f"stderr:\n{gw.stderr_tail()}",
                pytrace=False,
            )
    finally:
        stop(process)
        purge_network(ec2gw_bin, database_url, data_dir)


GATEWAY_KEY = pytest.StashKey[Gateway]()


def wait_ready(gw: Gateway) -> None:
    """Wait for the `Endpoint: http://...` line on stdout and for the port to accept."""
    deadline = time.monotonic() + START_TIMEOUT
    expected = f"Endpoint: {gw.endpoint}"
    while time.monotonic() < deadline:
        if gw.process.poll() is not None:
            pytest.fail(
                f"ec2gw serve exited with {gw.process.returncode} before it was ready\n"
                f"stdout:\n{tail(gw.stdout_path, STDERR_TAIL_LINES)}\nstderr:\n{gw.stderr_tail()}",
                pytrace=False,
            )
        printed = expected in gw.stdout_path.read_text(errors="replace").splitlines()
        if printed and port_open(gw.host, gw.port):
            return
        time.sleep(0.05)
    stop(gw.process)
    pytest.fail(
        f"ec2gw serve did not print {expected!r} and accept on its port within {START_TIMEOUT} s\n"
        f"stdout:\n{tail(gw.stdout_path, STDERR_TAIL_LINES)}\nstderr:\n{gw.stderr_tail()}",
        pytrace=False,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def second_account(gateway) -> Account:
    """Another account with a key of its own, on the same gateway."""
    return gateway.create_account()


def make_client(gateway: Gateway, account: Account | None = None, **overrides):
    account = account or gateway.account
    kwargs = dict(
        region_name="us-east-1",
        endpoint_url=gateway.endpoint,
        aws_access_key_id=account.access_key,
        aws_secret_access_key=account.secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15),
    )
    kwargs.update(overrides)
    return boto3.session.Session().client("ec2", **kwargs)


@pytest.fixture(scope="session")
def ec2(gateway):
    """boto3 EC2 client for the session's main account."""
    return make_client(gateway)


@pytest.fixture(scope="session")
def client_for(gateway):
    """Factory: a boto3 EC2 client on the gateway for another account (or other settings)."""
    return lambda account=None, **overrides: make_client(gateway, account, **overrides)


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    def __iter__(self):
        return iter((self.rc, self.stdout, self.stderr))

    def json(self):
        assert self.rc == 0, f"aws exited {self.rc}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        return json.loads(self.stdout)


class AwsCli:
    """Runs `python -m awscli` from the venv with its own (initially empty) config files."""

    def __init__(self, gateway: Gateway, home: Path):
        self.gateway = gateway
        self.home = home
        self.config_file = home / "config"
        self.credentials_file = home / "credentials"

    def base_env(self, account: Account | None = None) -> dict[str, str]:
        account = account or self.gateway.account
        env = clean_env()
        env.update(
            HOME=str(self.home),
            AWS_ACCESS_KEY_ID=account.access_key,
            AWS_SECRET_ACCESS_KEY=account.secret_key,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(self.config_file),
            AWS_SHARED_CREDENTIALS_FILE=str(self.credentials_file),
            AWS_EC2_METADATA_DISABLED="true",
            AWS_MAX_ATTEMPTS="1",
            AWS_PAGER="",
        )
        return env

    def __call__(self, *args: str, env: dict[str, str | None] | None = None, account: Account | None = None) -> CliResult:
        """Run `aws ARGS`; `env` adds variables (a None value removes one)."""
        full_env = self.base_env(account)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        python = VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable)
        proc = subprocess.run(
            [str(python), "-m", "awscli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=full_env,
            cwd=self.home,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def write_config(self, text: str) -> None:
        self.config_file.write_text(text)

    def write_credentials(self, text: str) -> None:
        self.credentials_file.write_text(text)


@pytest.fixture
def aws(gateway, tmp_path) -> AwsCli:
    """The AWS CLI, with credentials and region in its environment but no endpoint set."""
    home = tmp_path / "aws-home"
    home.mkdir()
    return AwsCli(gateway, home)


@pytest.fixture(scope="session")
def disk_image(tmp_path_factory) -> Path:
    """A tiny empty qcow2 disk (64 MiB virtual), for `ec2gw admin image import`."""
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is not installed (scripts/system-deps installs qemu-utils)", pytrace=False)
    path = tmp_path_factory.mktemp("disk") / "tiny.qcow2"
    proc = subprocess.run(
        ["qemu-img", "create", "-f", "qcow2", str(path), "64M"], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0:
        pytest.fail(f"qemu-img create failed:\n{proc.stderr}", pytrace=False)
    return path


@pytest.fixture(scope="session")
def import_image(gateway, disk_image):
    """Factory: imports a disk as an image through `ec2gw admin image import --json` and returns
    what it prints ({"ImageId", "Name", "OwnerId", "SizeGiB", "Sha256"}).

    `account` is an Account or an account id (default: the gateway's main account)."""

    def run(
        name: str,
        account: Account | str | None = None,
        *,
        public: bool = False,
        arch: str = "x86_64",
        description: str | None = None,
        file: Path | None = None,
    ) -> dict:
        account = account or gateway.account
        account_id = account.account_id if isinstance(account, Account) else account
        args = [
            "image", "import", str(file or disk_image),
            "--name", name,
            "--account", account_id,
            "--arch", arch,
        ]
        if public:
            args.append("--public")
        if description is not None:
            args += ["--description", description]
        return gateway.admin_json(*args)

    return run


def make_resource(gateway: Gateway, account: Account | None = None, **overrides):
    account = account or gateway.account
    kwargs = dict(
        region_name="us-east-1",
        endpoint_url=gateway.endpoint,
        aws_access_key_id=account.access_key,
        aws_secret_access_key=account.secret_key,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=15),
    )
    kwargs.update(overrides)
    return boto3.session.Session().resource("ec2", **kwargs)


@pytest.fixture(scope="session")
def resource_for(gateway):
    """Factory: a boto3 EC2 *resource* (ec2.Image, ec2.KeyPair, ...) on the gateway for an account."""
    return lambda account=None, **overrides: make_resource(gateway, account, **overrides)


# --------------------------------------------------------------------------- reporting


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    gw = item.config.stash.get(GATEWAY_KEY, None)
    if gw is None:
        return
    state = "running" if gw.process.poll() is None else f"exited with {gw.process.returncode}"
    report.sections.append(
        (f"ec2gw serve stderr (last {STDERR_TAIL_LINES} lines; {state})", gw.stderr_tail() or "(empty)")
    )
