"""Hand-made EC2 Query API requests, signed with botocore's SigV4 so tests can tamper with them.

Real clients (boto3, the AWS CLI) never send a broken request; these helpers build the
requests a test needs byte by byte: a wrong secret, a stale X-Amz-Date, a body changed
after signing, a GET with a query string, a presigned URL.
"""

from __future__ import annotations

import contextlib
import datetime
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from unittest import mock
from urllib.parse import quote

import botocore.auth
import requests
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

API_VERSION = "2016-11-15"
NS = "http://ec2.amazonaws.com/doc/2016-11-15/"
REGION = "us-east-1"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
TIMEOUT = 10


def utcnow() -> datetime.datetime:
    """Naive UTC now, the form botocore.auth works with."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


@contextlib.contextmanager
def signing_clock(when: datetime.datetime):
    """Make botocore sign (headers and presigned URLs) as if the time were `when` (naive UTC)."""
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: when):
        yield


def encode(params) -> str:
    """Query/form encoding as SigV4 wants it: RFC 3986 unreserved characters kept, all else %XX."""
    items = params.items() if isinstance(params, dict) else params
    return "&".join(f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in items)


def action(name: str | None, **extra) -> list[tuple[str, str]]:
    """Parameters for an action at the API version clients send."""
    params = []
    if name is not None:
        params.append(("Action", name))
    params.append(("Version", API_VERSION))
    params.extend((k, str(v)) for k, v in extra.items())
    return params


def sign(
    endpoint: str,
    params,
    access_key: str,
    secret_key: str,
    *,
    method: str = "POST",
    when: datetime.datetime | None = None,
) -> AWSRequest:
    """A SigV4-signed request, exactly as botocore signs a Query API call."""
    if method == "POST":
        req = AWSRequest(
            method="POST",
            url=endpoint.rstrip("/") + "/",
            data=encode(params).encode(),
            headers={"Content-Type": FORM_CONTENT_TYPE},
        )
    elif method == "GET":
        req = AWSRequest(method="GET", url=endpoint.rstrip("/") + "/?" + encode(params))
    else:
        raise ValueError(method)
    auth = SigV4Auth(Credentials(access_key, secret_key), "ec2", REGION)
    with signing_clock(when or utcnow()):
        auth.add_auth(req)
    return req


def presign(
    endpoint: str,
    params,
    access_key: str,
    secret_key: str,
    *,
    expires: int = 300,
    when: datetime.datetime | None = None,
) -> str:
    """A presigned GET URL whose canonical request is a GET (strict SigV4 query signing)."""
    req = AWSRequest(method="GET", url=endpoint.rstrip("/") + "/?" + encode(params))
    auth = SigV4QueryAuth(Credentials(access_key, secret_key), "ec2", REGION, expires=expires)
    with signing_clock(when or utcnow()):
        auth.add_auth(req)
    return req.url


def send(req: AWSRequest, *, body: bytes | None = None) -> Reply:
    """Send a signed request as is, or with `body` put in place of the signed one."""
    headers = {k: v for k, v in req.headers.items()}
    data = req.body if body is None else body
    resp = requests.request(req.method, req.url, data=data, headers=headers, timeout=TIMEOUT)
    return Reply.of(resp)


def call(endpoint: str, params, access_key: str, secret_key: str, **kwargs) -> Reply:
    return send(sign(endpoint, params, access_key, secret_key, **kwargs))


@dataclass
class Reply:
    status: int
    headers: requests.structures.CaseInsensitiveDict
    text: str

    @classmethod
    def of(cls, resp: requests.Response) -> Reply:
        return cls(resp.status_code, resp.headers, resp.text)

    @property
    def root(self) -> ET.Element:
        return ET.fromstring(self.text)

    @property
    def header_request_id(self) -> str | None:
        return self.headers.get("x-amzn-RequestId")

    # Error answers: <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>
    @property
    def error(self) -> tuple[str, str]:
        root = self.root
        assert root.tag == "Response", self.text
        errors = root.findall("./Errors/Error")
        assert len(errors) == 1, self.text
        code = errors[0].findtext("Code")
        message = errors[0].findtext("Message")
        assert code is not None and message is not None, self.text
        return code, message

    @property
    def error_request_id(self) -> str | None:
        return self.root.findtext("RequestID")

    # Success answers: <XResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId/>...
    @property
    def success_request_id(self) -> str | None:
        return self.root.findtext(f"{{{NS}}}requestId")

    def items(self, set_name: str, field: str) -> list[str]:
        """Text of `field` in each item of a top-level `<set_name><item>` list."""
        return [
            item.findtext(f"{{{NS}}}{field}")
            for item in self.root.findall(f"./{{{NS}}}{set_name}/{{{NS}}}item")
        ]

    def describe(self) -> str:
        return f"HTTP {self.status}\n{dict(self.headers)}\n{self.text}"
