"""The streams JSON API against its own OpenAPI description, driven by schemathesis on a live ``hubbub serve``.

Every operation of ``/api/v1/openapi.json`` gets a bounded number of generated requests
(valid and invalid bodies, odd ids); each answer must be no server error, have a
documented status and content type, and match its documented schema.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.specs.openapi import checks as openapi_checks

from hubbub.dialects.streams.openapi import openapi_document
from tests.e2e.conftest import PASSWORD, _cli, serving
from tests.fakes import TIMEOUT

SCHEMA = schemathesis.openapi.from_dict(openapi_document())
CHECKS = [
    checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@dataclass(frozen=True)
class Served:
    base: str
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("streams-openapi")
    _cli(data_dir, "users", "create", "John", "--email", "john@example.org", "--password", PASSWORD)
    _cli(data_dir, "users", "create", "Bob", "--email", "bob@example.org", "--password", PASSWORD)
    with serving(data_dir) as (_, port, _ws_port):
        base = f"http://127.0.0.1:{port}"
        basic = base64.b64encode(f"john@example.org:{PASSWORD}".encode()).decode()
        answer = requests.get(f"{base}/api/v1/auth", headers={"Authorization": f"Basic {basic}"}, timeout=TIMEOUT)
        token = answer.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        account = requests.post(
            f"{base}/api/v1/account", json={"network": "twitch", "name": "jd"}, headers=auth, timeout=TIMEOUT
        ).json()["account"]["id"]
        for name in ("first", "second"):
            requests.post(
                f"{base}/api/v1/stream",
                json={
                    "name": name,
                    "accounts": [{"id": account}],
                    "shares": [{"chat_level": 1, "metadata_level": 0, "user": {"id": 2}}],
                },
                headers=auth,
                timeout=TIMEOUT,
            ).raise_for_status()
        yield Served(base, token)


def test_the_description_is_served(served: Served) -> None:
    assert requests.get(f"{served.base}/api/v1/openapi.json", timeout=TIMEOUT).json() == openapi_document()


@SCHEMA.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_keeps_its_description(case: schemathesis.Case, served: Served) -> None:
    headers = {} if case.path == "/api/v1/auth" else {"Authorization": f"Bearer {served.token}"}
    case.call_and_validate(base_url=served.base, headers=headers, checks=CHECKS, timeout=TIMEOUT)
