"""The trusted-issuers file: validated whole; the keys cache and the replay memory."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from broker.clock import FrozenClock
from broker.errors import InvalidRequest, Unavailable
from broker.identity import load_issuers, parse_issuers
from broker.identity.keys import IssuerKeys
from broker.tokens import InvalidToken
from broker.tokens.replay import ReplayCache
from tests.support.oidc_issuer import new_key

KEY = new_key()
DOC: dict[str, Any] = {
    "apiVersion": "capbroker.dev/v1",
    "kind": "TrustedIssuer",
    "metadata": {"name": "cluster"},
    "spec": {
        "issuer": "https://kubernetes.default.svc",
        "jwks": {"keys": [KEY.jwk()]},
        "audiences": ["capbroker"],
        "algorithms": ["RS256"],
        "agents": [{"name": "k8s.{ns}", "match": {"kubernetes.io/namespace": "{ns}"}}],
    },
}


def changed(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DOC)
    node = doc
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


def test_a_valid_document() -> None:
    (issuer,) = parse_issuers([DOC], source="f")
    assert issuer.name == "cluster"
    assert issuer.single_use  # the safe default
    assert issuer.inline_keys is not None
    assert set(issuer.inline_keys) == {KEY.kid}


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (changed("spec.algorithms", ["HS256"]), "spec.algorithms"),
        (changed("spec.algorithms", []), "spec.algorithms"),
        (changed("spec.audiences", None), "audiences"),
        (changed("spec.jwksUri", "https://example.test/jwks"), "spec"),  # both key sources
        (changed("spec.jwks", None), "spec"),  # neither
        (changed("spec.issuer", "kubernetes"), "spec.issuer"),
        (changed("spec.leewaySeconds", 3600), "spec.leewaySeconds"),
        (changed("spec.extra", 1), "spec"),
        (changed("kind", "CapabilityTemplate"), "kind"),
        (changed("spec.agents", [{"name": "{x}", "match": {"sub": "y"}}]), "captured nowhere"),
        (changed("spec.jwks", {"keys": [{**KEY.jwk(), "d": "AQAB"}]}), "private material"),
        (changed("spec.jwks", {"keys": [{**KEY.jwk(), "alg": "ES256"}]}), "spec.jwks"),
    ],
)
def test_invalid_documents(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_issuers([doc], source="issuers.yaml")
    assert says in str(caught.value)
    assert "issuers.yaml#1" in str(caught.value)


def test_two_documents_for_one_issuer() -> None:
    other = changed("metadata.name", "again")
    with pytest.raises(InvalidRequest, match="share one issuer"):
        parse_issuers([DOC, other], source="f")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="cannot be read"):
        load_issuers(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [")
    with pytest.raises(InvalidRequest, match="not valid YAML"):
        load_issuers(bad)


def _remote(cache_seconds: int = 60) -> Any:
    doc = changed("spec.jwks", None)
    doc["spec"]["jwksUri"] = "https://issuer.test/jwks"
    doc["spec"]["jwksCacheSeconds"] = cache_seconds
    return parse_issuers([doc], source="f")[0]


def test_keys_cache_serves_stale_keys_for_a_bounded_time() -> None:
    clock = FrozenClock(1000.0)
    published: list[dict[str, Any]] = [KEY.jwk()]
    up = [True]

    def fetch(url: str) -> dict[str, Any]:
        if not up[0]:
            raise Unavailable("down")
        return {"keys": published}

    keys = IssuerKeys(_remote(), clock=clock, fetch=fetch, stale_limit=600)
    assert keys.resolve(KEY.kid) is not None
    up[0] = False
    clock.advance(120)  # cache due, issuer down: the last keys still serve
    assert keys.resolve(KEY.kid) is not None
    clock.advance(600)  # past the stale limit: fail closed
    with pytest.raises(Unavailable):
        keys.resolve(KEY.kid)


def test_an_unusable_key_in_a_fetched_jwks_is_skipped_not_fatal() -> None:
    clock = FrozenClock(1000.0)
    weird = {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA", "kid": "p384"}
    enc = {**new_key().jwk(), "use": "enc", "kid": "enc"}
    keys = IssuerKeys(_remote(), clock=clock, fetch=lambda url: {"keys": [weird, enc, KEY.jwk()]})
    assert keys.resolve(KEY.kid) is not None
    assert keys.resolve("p384") is None
    assert keys.resolve("enc") is None


def test_replay_memory() -> None:
    cache = ReplayCache(max_entries=2)
    cache.claim("ci", "a", until=100, now=0)
    with pytest.raises(InvalidToken):
        cache.claim("ci", "a", until=100, now=50)
    cache.claim("cluster", "a", until=100, now=50)  # another issuer's jti space
    with pytest.raises(InvalidToken):  # full of live entries: refuse, never forget one
        cache.claim("ci", "b", until=100, now=60)
    cache.claim("ci", "b", until=300, now=150)  # expired entries make room
    cache.claim("ci", "a", until=300, now=150)  # a's first use has expired
    assert len(cache) == 2
