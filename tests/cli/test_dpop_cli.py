"""The CLI and DPoP (docs/tokens.md): ``token request --dpop-key`` binds the token to the
user's own private JWK; ``exec`` with a template that requires DPoP refuses, saying why
(the tools it runs cannot sign proofs). Against a real broker on a loopback socket whose
issuer is its URL, as a deployment's is."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.api.app import create_app
from broker.cli.main import main
from broker.demo.provider.server import ServerThread
from broker.demo.world import Principal, Seed
from broker.manifests import parse_manifest
from broker.services.container import Services
from tests.support.dpop_client import ProofKey
from tests.support.factories import template_doc
from tests.support.leakcheck import find_secrets
from tests.support.world import broker_settings, seeded_world

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")

DPOP_ONLY = template_doc("dpop-only", agents=["claude-*"], require_dpop=True)


@dataclass
class Served:
    services: Services
    url: str
    agent: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with socket.socket() as probe:  # the port first, so the issuer can be the URL
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    settings = replace(broker_settings(tmp_path, f"sqlite:///{tmp_path}/b.db"), issuer=url)
    seed = Seed(
        manifests=[parse_manifest(DPOP_ONLY, "t#1")],
        principals=[Principal("agent", "claude-code")],
    )
    world = seeded_world(settings, seed)
    with ServerThread(create_app(world.services), port=port) as server:
        assert server.url == url
        yield Served(world.services, url, world.credential("claude-code"))
    world.services.close()


def _run(served: Served, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"CAPBROKER_AGENT_CREDENTIAL": served.agent})
    return result.exit_code, result.stdout, result.stderr


def test_token_request_with_a_dpop_key_binds_the_token(served: Served, tmp_path: Path) -> None:
    key = ProofKey()
    key_file = tmp_path / "key.jwk"
    key_file.write_text(json.dumps(key.private_jwk()))
    base = ["token", "request", "--url", served.url, "--template", "dpop-only", "--env", "staging"]
    code, out, err = _run(served, *base, "--dpop-key", str(key_file))
    assert code == 0, err
    assert served.services.issuance.verify(out.strip()).cnf_jkt == key.jkt
    assert not find_secrets(err)
    assert key.private_jwk()["d"] not in out + err


def test_without_a_key_the_refusal_says_what_to_do(served: Served) -> None:
    base = ["token", "request", "--url", served.url, "--template", "dpop-only", "--env", "staging"]
    code, _, err = _run(served, *base)
    assert code == 2
    assert "[invalid_dpop_proof]" in err
    assert "--dpop-key" in err


def test_exec_refuses_a_template_that_requires_dpop(served: Served) -> None:
    argv = ["exec", "--url", served.url, "--gateway", "http://127.0.0.1:1"]
    argv += ["--template", "dpop-only", "--env", "staging", "--", "true"]
    code, _, err = _run(served, *argv)
    assert code == 2
    assert "[invalid_dpop_proof]" in err
    assert "cannot sign a DPoP proof" in err


def test_an_unusable_key_file_is_a_usage_error_naming_the_file(
    served: Served, tmp_path: Path
) -> None:
    key_file = tmp_path / "public.jwk"
    public = ProofKey().private_jwk()
    del public["d"]
    key_file.write_text(json.dumps(public))
    base = ["token", "request", "--url", served.url, "--template", "dpop-only", "--env", "staging"]
    code, _, err = _run(served, *base, "--dpop-key", str(key_file))
    assert code == 2
    assert str(key_file) in err
    assert "not a usable private JWK" in err
