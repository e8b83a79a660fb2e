"""What exec --proxy keeps of the caller's NO_PROXY: never a way around the proxy for a
host it answers for (the capability token would go to the real provider)."""

from __future__ import annotations

import pytest

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
