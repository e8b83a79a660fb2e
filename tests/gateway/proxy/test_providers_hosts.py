"""``hosts`` in the providers file: lower-case DNS names, each named by one provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.errors import InvalidRequest
from broker.gateway.factory import parse_providers
from broker.gateway.proxy.checks import host_index


def entry(name: str, hosts: object) -> dict[str, object]:
    return {"name": name, "route_map": name, "upstream": "http://127.0.0.1:9", "hosts": hosts}


def test_hosts_map_to_their_provider(tmp_path: Path) -> None:
    doc = {
        "providers": [
            entry("railway", ["backboard.railway.com"]),
            entry("github", ["api.github.com", "uploads.github.com"]),
        ]
    }
    routes = parse_providers(doc, source="p.yaml", base=tmp_path)
    index = host_index(routes)
    assert {h: r.name for h, r in index.items()} == {
        "backboard.railway.com": "railway",
        "api.github.com": "github",
        "uploads.github.com": "github",
    }


@pytest.mark.parametrize(
    ("hosts", "fragment"),
    [
        ([], "non-empty list of host names"),
        ("api.github.com", "non-empty list of host names"),
        (["https://api.github.com"], "lower-case DNS name"),
        (["api.github.com:443"], "lower-case DNS name"),
        (["API.github.com"], "lower-case DNS name"),
        (["api.github.com", "api.github.com"], "must not repeat"),
    ],
)
def test_bad_hosts_are_named(tmp_path: Path, hosts: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_providers({"providers": [entry("github", hosts)]}, source="p.yaml", base=tmp_path)
    assert fragment in caught.value.detail
    assert caught.value.detail.startswith("p.yaml: providers[0].hosts")


def test_a_host_named_by_two_providers_is_refused(tmp_path: Path) -> None:
    doc = {
        "providers": [
            entry("railway", ["api.example.com"]),
            entry("github", ["api.example.com"]),
        ]
    }
    with pytest.raises(InvalidRequest) as caught:
        parse_providers(doc, source="p.yaml", base=tmp_path)
    assert "providers[1]: host 'api.example.com' is named by 'railway' too" in caught.value.detail
