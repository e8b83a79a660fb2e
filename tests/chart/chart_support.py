"""Rendering charts/capbroker with the real `helm` binary, and looking at what it rendered.

`helm` is ./tools/helm (installed by `make chart-tools`) or the first on PATH. Without it the
tests fail, naming the make target; they never skip. Renders are cached per value set, so
each is rendered once per test process.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "capbroker"
RELEASE = "rel"
NAMESPACE = "capbroker"
FULLNAME = f"{RELEASE}-capbroker"
VALUE_SETS = {
    "minimal": CHART / "ci" / "minimal-values.yaml",
    "production": CHART / "ci" / "production-values.yaml",
    "ingress": CHART / "ci" / "ingress-values.yaml",
    "external": CHART / "ci" / "external-configmaps-values.yaml",
}
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def helm_binary() -> str:
    local = ROOT / "tools" / "helm"
    if local.is_file():
        return str(local)
    found = shutil.which("helm")
    if found is None:
        pytest.fail(
            "`helm` (v4) is not installed: run `make chart-tools` (./tools/install-helm.sh)"
        )
    return found


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"`{name}` is not installed: run `make chart-tools`")
    return found


def validate_strict(text: str, workdir: Path) -> None:
    """The rendered text passes `kubernetes-validate --strict` against Kubernetes 1.30."""
    rendered = workdir / "rendered.yaml"
    rendered.write_text(text)
    done = subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", str(rendered)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def helm(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def template_args(value_set: str | None, sets: tuple[str, ...] = ()) -> list[str]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    if value_set is not None:
        args += ["-f", str(VALUE_SETS[value_set])]
    for s in sets:
        args += ["--set", s]
    return args


@functools.cache
def render_text(value_set: str | None, sets: tuple[str, ...] = ()) -> str:
    done = helm(*template_args(value_set, sets))
    if done.returncode != 0:
        pytest.fail(f"helm template failed for {value_set} {sets}:\n{done.stderr}")
    return done.stdout


def render(value_set: str | None, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(value_set, sets)) if d]


def render_failure(value_set: str | None, *sets: str) -> str:
    """helm template must refuse these values; returns its error message."""
    done = helm(*template_args(value_set, sets))
    assert done.returncode != 0, f"helm template accepted {sets}"
    return done.stderr


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [
        d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "Pod":
        return doc["spec"]
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for d in docs:
        if d["kind"] in ("Deployment", "Job", "Pod"):
            yield d


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (a string) or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def hook(doc: dict[str, Any]) -> tuple[set[str], int, set[str]]:
    annotations = doc["metadata"].get("annotations", {})
    return (
        set(filter(None, annotations.get("helm.sh/hook", "").split(","))),
        int(annotations.get("helm.sh/hook-weight", "0")),
        set(filter(None, annotations.get("helm.sh/hook-delete-policy", "").split(","))),
    )
