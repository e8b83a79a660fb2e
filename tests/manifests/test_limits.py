"""Manifest files beyond the limits (broker/limits.py): each is one problem naming the
file, the document and the place, never a traceback; and the same through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from broker.cli.main import main
from broker.limits import MAX_DEPTH
from broker.manifests import ManifestError, load_manifests, parse_manifest
from tests.support.factories import template_doc

from .docs import TEMPLATE_YAML


def _problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifests(path)
    return [str(p) for p in exc.value.problems]


DEEP_BLOCK_YAML = "".join("  " * i + "a:\n" for i in range(300)) + "  " * 300 + "b: 1\n"
CASES = {
    "deep.json": ("[" * 100_000 + "]" * 100_000, f"deep.json#1: nested more than {MAX_DEPTH}"),
    "deep-flow.yaml": (
        "spec: " + "[" * 100_000 + "]" * 100_000,
        f"deep-flow.yaml#1: not valid YAML: nested more than {MAX_DEPTH} levels deep (line 1,",
    ),
    "deep-block.yaml": (DEEP_BLOCK_YAML, "deep-block.yaml#1: not valid YAML: nested more than"),
    "kind-list.yaml": (
        TEMPLATE_YAML.replace("kind: CapabilityTemplate", "kind: [CapabilityTemplate]"),
        "kind-list.yaml#1: kind: unknown kind of type list",
    ),
    "kind-map.json": (
        json.dumps({**template_doc("x"), "kind": {"a": 1}}),
        "kind-map.json#1: kind: unknown kind of type dict",
    ),
    "nul.yaml": (
        "---\n" + TEMPLATE_YAML.replace("staging-agent", "stag\x00ing", 1),
        "nul.yaml#1: not valid YAML: character #x0000 is not allowed (line",
    ),
    "nul-escape.yaml": (
        TEMPLATE_YAML.replace("staging-agent", '"stag\\0ing"', 1),
        "nul-escape.yaml#1: metadata.name: the text contains a NUL character",
    ),
    "nul-escape.json": (
        json.dumps(template_doc("x", description="a\x00b")),
        "nul-escape.json#1: spec.description: the text contains a NUL character",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_is_one_problem_with_its_place(tmp_path: Path, name: str) -> None:
    text, expected = CASES[name]
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    problems = _problems(f)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{f.as_posix()}#")
    assert expected in problems[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_capbroker_apply_names_the_problem_and_exits_2(tmp_path: Path, name: str) -> None:
    text, expected = CASES[name]
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "apply", "-f", str(f)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert expected in result.output
    assert "[invalid_manifest]" in result.output


def test_a_second_document_too_deep_names_its_index(tmp_path: Path) -> None:
    f = tmp_path / "two.yaml"
    f.write_text(TEMPLATE_YAML + "---\nspec: " + "[" * 40 + "]" * 40 + "\n", encoding="utf-8")
    line = TEMPLATE_YAML.count("\n") + 2  # the file's line, after the first document
    # the root mapping and 31 lists fit; the 32nd list (column 6 + 32) is one too many
    assert _problems(f) == [
        f"{f.as_posix()}#2: not valid YAML: nested more than 32 levels deep"
        f" (line {line}, column 38)"
    ]


def test_parse_manifest_refuses_unhashable_kind_and_version() -> None:
    for field in ("kind", "apiVersion"):
        with pytest.raises(ManifestError) as exc:
            parse_manifest({**template_doc("x"), field: ["a"]}, "request#1")
        assert exc.value.problems[0].path == field
