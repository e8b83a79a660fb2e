"""`serve` up to the point it hands over to uvicorn: the first key is made once, options set."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

import broker.workers
from broker.httpguard import GuardedHttpToolsProtocol
from broker.services.container import Services
from broker.services.signing import LocalSigningKeys
from broker.workers import BROKER_SERVER_OPTIONS
from tests.cli.cli_support import Run


def test_serve_makes_the_first_key_once_and_runs_with_the_broker_options(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensured: list[str] = []
    real = LocalSigningKeys.ensure_key

    def counted(self: LocalSigningKeys, *, actor: str) -> bool:
        ensured.append(actor)
        return real(self, actor=actor)

    served: list[dict[str, Any]] = []
    monkeypatch.setattr(LocalSigningKeys, "ensure_key", counted)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append(options))
    # What a server process does to itself, not to a test run.
    monkeypatch.setattr(broker.workers, "tune_gc", lambda: None)
    monkeypatch.setattr(Services, "start_background_checkpoints", lambda self: None)
    result = run("serve", "--port", "18080")
    assert result.exit_code == 0, result.output
    assert ensured == ["system:bootstrap"]
    # One process serves with the guarded protocol built for the configured limits.
    (options,) = served
    assert issubclass(options.pop("http"), GuardedHttpToolsProtocol)
    expected = {"host": "127.0.0.1", "port": 18080, **BROKER_SERVER_OPTIONS}
    del expected["http"]
    assert options == expected
    assert "listening on http://127.0.0.1:18080" in result.output
    assert run("keys", "list").output.count("signing") == 1
