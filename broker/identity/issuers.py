"""TrustedIssuer documents (``schemas/trusted-issuer.schema.json``) -> ``TrustedIssuer``.

Read from the ``trusted_issuers_file`` setting (a YAML stream of documents, e.g. a
mounted ConfigMap); every problem is reported with its document and path, and nothing
is used unless the whole file is valid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from broker.errors import InvalidRequest
from broker.identity.rules import AgentRule, RuleError
from broker.manifests.schemas import schema_problems
from broker.tokens import InvalidKey, PublicKey
from broker.tokens._jwk import public_key_from_jwk

KIND = "TrustedIssuer"


@dataclass(frozen=True)
class TrustedIssuer:
    name: str
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    agents: tuple[AgentRule, ...]
    jwks_uri: str | None = None
    inline_keys: Mapping[str, PublicKey] | None = None
    jwks_cache_seconds: int = 300
    leeway: int = 30
    max_lifetime: int = 86400
    single_use: bool = True


def _problems_of(doc: object, source: str) -> list[str]:
    return [
        f"{source}: {path or 'document'}: {message}" for path, message in schema_problems(KIND, doc)
    ]


def inline_keys(jwks: Mapping[str, Any], *, what: str, strict: bool = True) -> dict[str, PublicKey]:
    """``{kid: key}`` of a JWKS another issuer publishes (kids are theirs to choose).

    ``strict`` (keys an operator wrote): every key must be usable. A JWKS fetched from the
    issuer may also hold keys of other kinds (encryption, other curves): those are skipped,
    so tokens they sign are refused as an unknown kid.
    """
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise InvalidKey(f"{what}: a JWKS is an object with a keys list")
    found: dict[str, PublicKey] = {}
    for entry in entries:
        kid = entry.get("kid") if isinstance(entry, Mapping) else None
        if not isinstance(kid, str) or not kid or kid in found:
            raise InvalidKey(f"{what}: every key needs a kid of its own")
        try:
            found[kid] = public_key_from_jwk(entry, kid_is_thumbprint=False)
        except InvalidKey:
            if strict:
                raise
    return found


def issuer_from_document(doc: Mapping[str, Any], source: str) -> TrustedIssuer:
    spec = doc["spec"]
    rules = []
    for i, rule in enumerate(spec["agents"]):
        try:
            rules.append(AgentRule.compile(rule["name"], rule["match"]))
        except RuleError as exc:
            raise InvalidRequest(f"{source}: spec.agents[{i}]: {exc}") from None
    keys = None
    if "jwks" in spec:
        try:
            keys = inline_keys(spec["jwks"], what=f"{source}: spec.jwks")
        except InvalidKey as exc:
            raise InvalidRequest(f"{source}: spec.jwks: {exc}") from None
    return TrustedIssuer(
        name=doc["metadata"]["name"],
        issuer=spec["issuer"],
        audiences=tuple(spec["audiences"]),
        algorithms=tuple(spec["algorithms"]),
        agents=tuple(rules),
        jwks_uri=spec.get("jwksUri"),
        inline_keys=keys,
        jwks_cache_seconds=spec.get("jwksCacheSeconds", 300),
        leeway=spec.get("leewaySeconds", 30),
        max_lifetime=spec.get("maxLifetimeSeconds", 86400),
        single_use=spec.get("singleUse", True),
    )


def parse_issuers(docs: list[object], *, source: str) -> list[TrustedIssuer]:
    problems = [p for i, d in enumerate(docs) for p in _problems_of(d, f"{source}#{i + 1}")]
    if problems:
        raise InvalidRequest("trusted issuers: " + "; ".join(problems))
    found = [issuer_from_document(d, f"{source}#{i + 1}") for i, d in enumerate(docs)]  # type: ignore[arg-type]
    for label, values in (("name", [t.name for t in found]), ("issuer", [t.issuer for t in found])):
        if len(set(values)) != len(values):
            raise InvalidRequest(f"trusted issuers: {source}: two documents share one {label}")
    return found


def load_issuers(path: Path) -> list[TrustedIssuer]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError:
        raise InvalidRequest(f"{path}: not valid YAML") from None
    return parse_issuers(docs, source=str(path))
