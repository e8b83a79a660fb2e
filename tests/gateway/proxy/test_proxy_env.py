"""What exec --proxy keeps of the caller's NO_PROXY: never a way around the proxy for a
host it answers for (the capability token would go to the real provider)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.cli.main import main
from broker.cli.proxy_env import LOCAL, no_proxy

HOSTS = ["backboard.railway.com", "api.github.com"]


@pytest.mark.parametrize(
    ("inherited", "kept"),
    [
        ("", ""),
        ("api.anthropic.com", ",api.anthropic.com"),
        ("*", ""),
        ("api.anthropic.com *", ",api.anthropic.com"),
        ("backboard.railway.com,.railway.com,railway.com", ""),
        ("*.github.com, github.com:443, statsig.anthropic.com", ",statsig.anthropic.com"),
        ("BACKBOARD.RAILWAY.COM", ""),
        ("railway.company.example", ",railway.company.example"),
    ],
)
def test_no_proxy_keeps_only_what_cannot_bypass_the_proxy(inherited: str, kept: str) -> None:
    assert no_proxy(inherited, HOSTS) == LOCAL + kept


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "give --gateway URL, --proxy URL or both"),
        (["--proxy", "http://127.0.0.1:8443"], "--proxy needs --ca FILE"),
        (["--proxy", "https://127.0.0.1:8443", "--ca", "ca.pem"], "--proxy must be http://"),
        (["--proxy", "http://u:p@127.0.0.1:8443", "--ca", "ca.pem"], "without credentials"),
    ],
)
def test_exec_refuses_bad_proxy_options_before_any_session(
    tmp_path: Path, options: list[str], message: str
) -> None:
    runner = CliRunner()
    with runner.isolated_filesystem(temp_dir=tmp_path):
        (Path.cwd() / "ca.pem").write_text("x")
        argv = ["exec", "--url", "http://127.0.0.1:9", "--template", "t", "--env", "e"]
        result = runner.invoke(
            main,
            [*argv, *options, "--", "true"],
            env={"CAPBROKER_AGENT_CREDENTIAL": "capb_agt_x"},
        )
    assert result.exit_code == 2, result.output
    assert message in result.output
