"""`explain --json` and `keys list` print what the admin API answers on the same store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from broker.api.app import create_app
from broker.cli import render
from broker.services.container import build_services
from broker.settings import Settings
from tests.cli.cli_support import EXAMPLES, Run, hold_approval


@pytest.fixture
def api(run: Run, data_dir: Path) -> Iterator[tuple[TestClient[Any], dict[str, str]]]:
    assert run("migrate").exit_code == 0
    assert run("apply", "-f", str(EXAMPLES)).exit_code == 0
    services = build_services(Settings(data_dir=data_dir), schema="current")
    admin = services.principals.create("admin", "ops", actor="t").credential
    with TestClient(create_app(services)) as client:
        yield client, {"Authorization": f"Bearer {admin}"}
    services.close()


QUESTIONS = [
    ["--template", "staging-agent", "--action", "deployment:create", "--env", "staging"],
    ["--template", "staging-agent", "--action", "backup:delete", "--env", "production"],
    ["--template", "staging-agent", "--action", "volume:delete", "--env", "staging"],
    ["--template", "staging-agent", "--version", "1", "--action", "volume:read", "--env", "x"],
]


def _body(args: list[str]) -> dict[str, Any]:
    names = {"--template": "template", "--version": "template_version", "--action": "action"}
    names["--env"] = "environment"
    body: dict[str, Any] = {names[k]: v for k, v in zip(args[::2], args[1::2], strict=True)}
    if "template_version" in body:
        body["template_version"] = int(body["template_version"])
    return body


@pytest.mark.parametrize("args", QUESTIONS, ids=" ".join)
def test_explain_prints_the_api_answer(
    run: Run, api: tuple[TestClient[Any], dict[str, str]], args: list[str]
) -> None:
    client, headers = api
    answer = client.post("/v1/admin/explain", json=_body(args), headers=headers)
    assert answer.status_code == 200
    printed = run("explain", *args, "--json")
    assert json.loads(printed.output) == answer.json()
    assert printed.exit_code == (0 if answer.json()["decision"] == "allow" else 1)
    text = run("explain", *args).output.splitlines()
    assert text == render.explanation(answer.json())


def test_explain_of_a_token_prints_the_api_answer(
    run: Run, api: tuple[TestClient[Any], dict[str, str]], data_dir: Path, tmp_path: Path
) -> None:
    client, headers = api
    _, token = hold_approval(data_dir)
    (tmp_path / "token").write_text(token)
    question = {"action": "volume:delete", "environment": "staging"}
    answer = client.post("/v1/admin/explain", json={**question, "token": token}, headers=headers)
    printed = run(
        "explain",
        "--token-file",
        str(tmp_path / "token"),
        "--action",
        "volume:delete",
        "--env",
        "staging",
        "--json",
    )
    assert json.loads(printed.output) == answer.json()
    assert answer.json()["jti"]


def test_keys_list_renders_the_api_answer(
    run: Run, api: tuple[TestClient[Any], dict[str, str]]
) -> None:
    client, headers = api
    assert run("keys", "rotate").exit_code == 0
    listing = client.get("/v1/admin/keys", headers=headers).json()
    assert [k["signing"] for k in listing["keys"]] == [True, False]
    assert run("keys", "list").output.splitlines() == render.keys(listing)
