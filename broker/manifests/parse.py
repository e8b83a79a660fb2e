"""One manifest document -> a validated ``Manifest`` (schema first, then cross-field rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.domain.policy import PolicyFloor, floor_from_spec
from broker.domain.problems import SpecError
from broker.domain.templates import Template, template_from_spec
from broker.manifests.errors import ManifestError, ManifestProblem
from broker.manifests.schemas import API_VERSION, SCHEMA_FILES, schema_problems
from broker.tokens import InvalidKey
from broker.tokens.jwks import client_keys


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str  # CapabilityTemplate, PolicyFloor or ResourceServer
    name: str
    spec: dict[str, Any]  # as written; schema-valid and cross-field valid
    source: str  # e.g. ``templates/staging.yaml#2``
    labels: dict[str, str] = field(default_factory=dict)


def parse_manifest(doc: object, source: str) -> Manifest:
    """Validate one document; raise ``ManifestError`` listing every problem found."""
    problems = [ManifestProblem(source, path, msg) for path, msg in _problems(doc)]
    if problems:
        raise ManifestError(problems)
    assert isinstance(doc, Mapping)  # _problems refused anything else
    metadata = doc["metadata"]
    return Manifest(
        kind=doc["kind"],
        name=metadata["name"],
        spec=dict(doc["spec"]),
        source=source,
        labels=dict(metadata.get("labels", {})),
    )


def _problems(doc: object) -> list[tuple[str, str]]:
    if not isinstance(doc, Mapping):
        return [("", "a manifest must be an object with apiVersion, kind, metadata and spec")]
    found = []
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if api_version != API_VERSION:
        shown = repr(api_version)[:80]
        found.append(("apiVersion", f"unknown apiVersion {shown} (expected {API_VERSION})"))
    if not isinstance(kind, str) or kind not in SCHEMA_FILES:
        *first, last = SCHEMA_FILES
        kinds = f"{', '.join(first)} or {last}"
        shown = repr(kind) if isinstance(kind, str) else f"of type {type(kind).__name__}"
        found.append(("kind", f"unknown kind {shown[:80]} (expected {kinds})"))
    if found:  # without a known version and kind there is no schema to check against
        return found
    assert isinstance(kind, str)
    found = schema_problems(kind, doc)
    if found:
        return found
    if kind == "ResourceServer":
        try:
            client_keys(doc["spec"]["jwks"])
        except InvalidKey as exc:
            return [("spec.jwks", exc.detail)]
        return []
    try:
        _build(kind, doc["metadata"]["name"], doc["spec"])
    except SpecError as exc:
        return [
            (p.path if p.path.startswith("metadata.") else f"spec.{p.path}", p.message)
            for p in exc.problems
        ]
    return []


def _build(kind: str, name: str, spec: Mapping[str, Any]) -> Template | PolicyFloor:
    if kind == "CapabilityTemplate":
        return template_from_spec(name, spec)
    return floor_from_spec(spec)


def manifest_template(m: Manifest) -> Template:
    """The domain template a CapabilityTemplate manifest describes."""
    if m.kind != "CapabilityTemplate":
        raise ValueError(f"{m.source} is a {m.kind}, not a CapabilityTemplate")
    return template_from_spec(m.name, m.spec)


def manifest_floor(m: Manifest) -> PolicyFloor:
    """The policy floor a PolicyFloor manifest describes."""
    if m.kind != "PolicyFloor":
        raise ValueError(f"{m.source} is a {m.kind}, not a PolicyFloor")
    return floor_from_spec(m.spec)
