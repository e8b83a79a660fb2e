"""Manifests (GitOps YAML/JSON): the I/O edge that reads files and validates documents."""

from broker.manifests.errors import ManifestError, ManifestProblem
from broker.manifests.load import load_manifests
from broker.manifests.parse import Manifest, manifest_floor, manifest_template, parse_manifest

__all__ = [
    "Manifest",
    "ManifestError",
    "ManifestProblem",
    "load_manifests",
    "manifest_floor",
    "manifest_template",
    "parse_manifest",
]
