"""``python -m broker.demo.provider`` as a real subprocess: secrets from env or file only."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from broker.demo.provider.cli import main
from tests.support.processes import PROVIDER_MODULE, start_provider
from tests.support.servers import ServerProcess, free_port

from .provider_support import make_keys

pytestmark = pytest.mark.slow


def test_serves_with_key_from_env_and_admin_token_from_file(tmp_path: Path) -> None:
    master_key, admin_token = make_keys()
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin_token + "\n")
    port = free_port()
    proc = start_provider(
        port,
        tmp_path / "stdout",
        "--key-env",
        "DEMO_PROVIDER_KEY",
        "--admin-token-file",
        str(token_file),
        env={**os.environ, "DEMO_PROVIDER_KEY": master_key},
        errors_log=tmp_path / "stderr",
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ok = httpx.post(
            f"{base}/graphql",
            json={"query": 'mutation { volumeDelete(volumeId: "vol-pg") }'},
            headers={"Authorization": f"Bearer {master_key}"},
            timeout=5,
        )
        assert ok.json() == {"data": {"volumeDelete": True}}
        refused = httpx.post(f"{base}/graphql", json={"query": "{ projects { id } }"}, timeout=5)
        assert refused.status_code == 401
        log = httpx.get(
            f"{base}/_demo/requests",
            headers={"Authorization": f"Bearer {admin_token}"},
            timeout=5,
        )
        assert [e["auth"] for e in log.json()["requests"]] == ["ok", "missing"]
        assert master_key not in log.text
    finally:
        returncode = proc.stop(timeout_s=15)
    out, err = proc.output(), proc.errors()
    assert returncode == 0
    assert f"listening on {base}" in out
    assert master_key not in out + err
    assert admin_token not in out + err


def test_key_from_file_and_port_zero(tmp_path: Path) -> None:
    master_key, _ = make_keys()
    key_file = tmp_path / "key"
    key_file.write_text(master_key)
    stdout = tmp_path / "stdout"
    proc = ServerProcess.start(
        [*PROVIDER_MODULE, "--key-file", str(key_file)],
        ready=lambda: "\n" in stdout.read_text(),  # a line is printed once the server is ready
        log=stdout,
        errors_log=tmp_path / "stderr",
        timeout_s=15,
    )
    try:
        line = proc.output().splitlines(keepends=True)[0]
        assert line.startswith("demo provider listening on http://127.0.0.1:")
        base = line.rsplit(" ", 1)[1].strip()
        response = httpx.post(
            f"{base}/graphql",
            json={"query": "{ projects { id } }"},
            headers={"Authorization": f"Bearer {master_key}"},
            timeout=5,
        )
        assert response.json() == {"data": {"projects": [{"id": "proj-acme"}]}}
        # No admin token was given: the admin endpoints cannot be used.
        assert httpx.get(f"{base}/_demo/requests", timeout=5).status_code == 401
    finally:
        proc.stop(timeout_s=15)


def test_missing_or_empty_secrets_fail_without_printing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    master_key, _ = make_keys()
    monkeypatch.delenv("DEMO_PROVIDER_KEY_UNSET", raising=False)
    monkeypatch.setenv("K", master_key)
    monkeypatch.setenv("A", master_key)
    empty = tmp_path / "empty"
    empty.write_text("\n")

    assert main(["--key-env", "DEMO_PROVIDER_KEY_UNSET"]) == 2
    assert "DEMO_PROVIDER_KEY_UNSET" in capsys.readouterr().err
    assert main(["--key-file", str(empty)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["--key-file", str(tmp_path / "absent")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["--key-env", "K", "--admin-token-env", "A"]) == 2
    same = capsys.readouterr()
    assert "differ" in same.err
    assert master_key not in same.out + same.err
    with pytest.raises(SystemExit) as no_key:
        main(["--port", "0"])
    assert no_key.value.code == 2
    assert "--key-env" in capsys.readouterr().err
