"""The slow credential hash never runs on the event loop inside a shared transaction."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

import broker.auth.authenticator as authenticator_module
from broker.domain.grants import GrantRequest
from broker.errors import Unauthenticated
from broker.manifests import load_manifests
from broker.services.container import build_services
from broker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_first_use_of_a_credential_is_hashed_in_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build_services(Settings(data_dir=tmp_path / "d"))
    services.keys.ensure_key(actor="t")
    services.templates.apply(
        load_manifests(ROOT / "examples" / "templates"), actor="t", dry_run=False
    )
    agent = services.principals.create("agent", "claude-x", actor="t").credential
    threads: list[str] = []
    real = authenticator_module.verify_secret

    def watched(secret: str, stored: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(secret, stored)

    monkeypatch.setattr(authenticator_module, "verify_secret", watched)
    loop_thread = threading.current_thread().name

    async def issue(credential: str) -> object:
        return await services.issuance.issue_grouped(
            services.committer, credential, GrantRequest("staging-agent", "staging")
        )

    asyncio.run(issue(agent))
    assert threads
    assert loop_thread not in threads
    threads.clear()
    asyncio.run(issue(agent))  # verified recently: no slow hash at all
    assert threads == []
    wrong = agent[:-1] + ("A" if agent[-1] != "A" else "B")
    with pytest.raises(Unauthenticated):
        asyncio.run(issue(wrong))
    assert threads
    assert loop_thread not in threads
    services.close()
