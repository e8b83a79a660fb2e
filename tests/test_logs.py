"""JSON logs: one object per line with level, logger, message and the call's fields;
credential-shaped strings scrubbed; a served broker's records come out that way."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from broker.demo.world import PROVIDER
from broker.logs import JsonFormatter, logging_config
from tests.support.leakcheck import find_secrets
from tests.support.processes import demo_stack, start_gateway
from tests.support.servers import HOST, free_port

CREDENTIAL = "capb_agt_" + "0" * 24 + "_" + "A" * 43


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("capbroker.test", logging.WARNING, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_record_is_one_json_object_with_its_fields() -> None:
    line = JsonFormatter().format(_record("refused with %s", "unknown_template", provider="gh"))
    assert "\n" not in line
    doc = json.loads(line)
    assert doc["level"] == "warning"
    assert doc["logger"] == "capbroker.test"
    assert doc["message"] == "refused with unknown_template"
    assert doc["provider"] == "gh"
    assert doc["time"].endswith("+00:00")


def test_credentials_and_tokens_are_scrubbed() -> None:
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZ2VudCJ9." + "x" * 40
    line = JsonFormatter().format(_record("got %s and %s", CREDENTIAL, jwt, extra_field=jwt))
    assert find_secrets(line) == []
    assert "[redacted]" in json.loads(line)["message"]


def test_an_exception_adds_its_type_and_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    doc = json.loads(JsonFormatter().format(record))
    assert doc["exc_type"] == "ValueError"
    assert "Traceback" in doc["traceback"]


def test_text_is_the_default_and_json_configures_uvicorn_too() -> None:
    assert logging_config("text", "info") is None
    config = logging_config("json", "info")
    assert config is not None
    assert config["loggers"]["uvicorn.error"]["propagate"] is True


def test_a_bad_log_format_is_refused(tmp_path: Path) -> None:
    from tests.support.processes import cli

    refused = cli(tmp_path, "serve", env={"CAPBROKER_LOG_FORMAT": "xml"})
    assert refused.returncode != 0
    assert "log_format must be 'text' or 'json'" in refused.stderr + refused.stdout


@pytest.mark.slow
def test_a_served_broker_logs_json_lines_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPBROKER_LOG_FORMAT", "json")
    with demo_stack(tmp_path) as stack:
        tokens = f"http://{HOST}:{stack.broker_port}/v1/tokens"
        ask = {"template": "nope", "environment": "staging"}
        agent = {"Authorization": f"Bearer {stack.agent}"}
        assert httpx.post(tokens, headers=agent, json=ask, timeout=10).status_code == 404
        gateway_log = tmp_path / "gateway.log"
        port = free_port()
        with start_gateway(stack.data, stack.providers, port, gateway_log, env=stack.env):
            unauthenticated = httpx.get(f"http://{HOST}:{port}/{PROVIDER}/graphql", timeout=10)
            assert unauthenticated.status_code == 401
        log = stack.log.read_text(encoding="utf-8")
    # The gateway's output: JSON lines only (its start report aside), the migration's too.
    gateway_lines = gateway_log.read_text(encoding="utf-8").splitlines()
    gateway_records = [json.loads(line) for line in gateway_lines if line.startswith("{")]
    assert any(r["logger"] == "alembic.runtime.migration" for r in gateway_records)
    others = [line for line in gateway_lines if not line.startswith("{")]
    assert all(line.startswith("capbroker gateway starting") for line in others), others
    assert find_secrets("\n".join(gateway_lines)) == []
    lines = [line for line in log.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    migrations = [r for r in records if r["logger"] == "alembic.runtime.migration"]
    assert migrations, log[-2000:]
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert migrations[0]["level"] == "info"
    # The command's own start-up lines (the one-time bootstrap notice) stay plain text.
    assert find_secrets("\n".join(lines)) == []
    assert stack.agent not in log
