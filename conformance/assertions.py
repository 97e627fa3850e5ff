"""Helpers the test modules share: unique names, EC2 error assertions, DryRun, loose clients."""

from __future__ import annotations

import contextlib
import secrets

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

DRY_RUN_MESSAGE = "Request would have succeeded, but DryRun flag is set."


def uid(prefix: str) -> str:
    """A name no other test (or earlier run against the same database) uses."""
    return f"{prefix}-{secrets.token_hex(5)}"


@contextlib.contextmanager
def api_error(code: str, message: str | None = None, status: int = 400):
    """The call inside fails with this EC2 error code, HTTP status and (if given) message."""
    with pytest.raises(ClientError) as excinfo:
        yield excinfo
    err = excinfo.value.response
    assert err["Error"]["Code"] == code, err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status, err
    if message is not None:
        assert err["Error"]["Message"] == message, err


def dry_run(call, **kwargs):
    with api_error("DryRunOperation", DRY_RUN_MESSAGE, status=412):
        call(DryRun=True, **kwargs)


CLI_PREFIX = "An error occurred ({code}) when calling the {op} operation: "


def assert_cli_error(result, code: str, op: str, message: str | None = None) -> None:
    """The AWS CLI failed as it does for an EC2 error: nothing on stdout, `An error occurred
    (CODE) when calling the OP operation: MESSAGE` on stderr (MESSAGE exactly, if given)."""
    assert result.rc in (254, 255), result
    assert result.stdout == "", result
    prefix = CLI_PREFIX.format(code=code, op=op)
    text = result.stderr.strip()
    assert text.startswith(prefix) and len(text) > len(prefix), result.stderr
    if message is not None:
        assert text == prefix + message, result.stderr


def loose(client_for, account=None):
    """A client that sends what it is given: no client-side parameter validation."""
    return client_for(
        account,
        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}),
    )
