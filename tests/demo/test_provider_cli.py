"""``python -m broker.demo.provider`` as a real subprocess: secrets from env or file only."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from broker.demo.provider.cli import main

from .provider_support import make_keys

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, "provider exited early"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail("provider did not become ready")


def test_serves_with_key_from_env_and_admin_token_from_file(tmp_path: Path) -> None:
    master_key, admin_token = make_keys()
    token_file = tmp_path / "admin-token"
    token_file.write_text(admin_token + "\n")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker.demo.provider",
            "--port",
            str(port),
            "--key-env",
            "DEMO_PROVIDER_KEY",
            "--admin-token-file",
            str(token_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DEMO_PROVIDER_KEY": master_key},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
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
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert f"listening on {base}" in out
    assert master_key not in out + err
    assert admin_token not in out + err


def test_key_from_file_and_port_zero(tmp_path: Path) -> None:
    master_key, _ = make_keys()
    key_file = tmp_path / "key"
    key_file.write_text(master_key)
    proc = subprocess.Popen(
        [sys.executable, "-m", "broker.demo.provider", "--key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 15)  # bounded wait
        assert ready, "provider printed nothing within 15s"
        line = proc.stdout.readline()  # printed once the server is ready
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
        proc.terminate()
        proc.communicate(timeout=15)


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
