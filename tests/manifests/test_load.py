import json
from pathlib import Path

import pytest

from broker.manifests import ManifestError, load_manifests
from broker.manifests.documents import MAX_FILE_BYTES
from tests.support.factories import template_doc

from .docs import FLOOR_YAML, TEMPLATE_YAML


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ManifestError) as exc:
        load_manifests(path)
    return [str(p) for p in exc.value.problems]


def test_single_file_multi_document(tmp_path: Path) -> None:
    f = _write(tmp_path / "all.yaml", TEMPLATE_YAML + "---\n---\n" + FLOOR_YAML)
    manifests = load_manifests(f)
    assert [(m.kind, m.name, m.source) for m in manifests] == [
        ("CapabilityTemplate", "staging-agent", f"{f.as_posix()}#1"),
        ("PolicyFloor", "default", f"{f.as_posix()}#3"),  # the empty document still counts
    ]
    assert manifests[0].labels == {"team": "infra"}


def test_directory_walk_is_recursive_and_sorted(tmp_path: Path) -> None:
    _write(tmp_path / "z.yml", TEMPLATE_YAML.replace("staging-agent", "zeta"))
    _write(tmp_path / "b" / "floor.yaml", FLOOR_YAML)
    _write(tmp_path / "a.json", json.dumps(template_doc("alpha")))
    _write(tmp_path / "README.md", "not a manifest")
    _write(tmp_path / "b" / "notes.txt", ": : :")
    names = [m.name for m in load_manifests(tmp_path)]
    assert names == ["alpha", "default", "zeta"]


def test_problems_of_every_file_are_collected(tmp_path: Path) -> None:
    _write(tmp_path / "1.yaml", TEMPLATE_YAML.replace('"volume:delete"]', '"Volume:Delete"]'))
    _write(tmp_path / "2.yaml", "apiVersion: capbroker.dev/v1\nkind: Nope\n")
    _write(tmp_path / "3.yaml", "spec: [unclosed\n")
    problems = _problems(tmp_path)
    base = tmp_path.as_posix()
    assert len(problems) == 4
    assert problems[0] == (
        f"{base}/1.yaml#1: spec.actions[3]: "
        "'Volume:Delete' is not a valid action (resource:action, lower case)"
    )
    assert problems[1] == (
        f"{base}/1.yaml#1: spec.approval.actions[0]: "
        "'Volume:Delete' is not a valid action (resource:action, lower case)"
    )
    assert problems[2].startswith(f"{base}/2.yaml#1: kind: unknown kind 'Nope'")
    assert problems[3].startswith(f"{base}/3.yaml#1: not valid YAML:")
    assert "line 2" in problems[3]


def test_duplicate_kind_and_name(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", TEMPLATE_YAML)
    _write(tmp_path / "b.yaml", TEMPLATE_YAML)
    base = tmp_path.as_posix()
    assert _problems(tmp_path) == [
        f"{base}/b.yaml#1: metadata.name: CapabilityTemplate 'staging-agent' "
        f"is already defined in {base}/a.yaml#1"
    ]


def test_sources_follow_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "templates" / "staging.yaml", TEMPLATE_YAML + "---\n" + TEMPLATE_YAML)
    monkeypatch.chdir(tmp_path)
    assert _problems(Path("templates"))[0].startswith(
        "templates/staging.yaml#2: metadata.name: CapabilityTemplate 'staging-agent' is already"
    )


def test_same_name_different_kind_is_fine(tmp_path: Path) -> None:
    _write(
        tmp_path / "a.yaml",
        TEMPLATE_YAML.replace("staging-agent", "default") + "---\n" + FLOOR_YAML,
    )
    assert len(load_manifests(tmp_path)) == 2


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    f = _write(tmp_path / "dup.yaml", TEMPLATE_YAML + "kind: PolicyFloor\n")
    [problem] = _problems(f)
    assert "duplicate key 'kind'" in problem
    nested = _write(
        tmp_path / "nested.yaml",
        TEMPLATE_YAML.replace("  resources:", "  environments: [production]\n  resources:"),
    )
    assert "duplicate key 'environments'" in _problems(nested)[0]
    j = _write(tmp_path / "dup.json", '{"kind": "A", "kind": "B"}')
    assert "duplicate key 'kind'" in _problems(j)[0]


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    text = TEMPLATE_YAML.replace("environments: [staging]", "environments: &e [staging]")
    text = text.replace('description: "Staging work for CI and coding agents"', "description: *e")
    [problem] = _problems(_write(tmp_path / "alias.yaml", text))
    assert "aliases" in problem


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    f = _write(tmp_path / "evil.yaml", "!!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in _problems(f)[0]


def test_unreadable_inputs(tmp_path: Path) -> None:
    assert _problems(tmp_path / "missing.yaml") == [
        f"{(tmp_path / 'missing.yaml')}: no such file or directory"
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"kind: \xff\n")
    assert _problems(bad) == [f"{bad.as_posix()}: file is not valid UTF-8"]
    big = _write(tmp_path / "big.yaml", "#" * (MAX_FILE_BYTES + 1))
    assert "larger than" in _problems(big)[0]
    broken_json = _write(tmp_path / "x.json", "{")
    assert "not valid JSON" in _problems(broken_json)[0]


def test_empty_inputs(tmp_path: Path) -> None:
    assert load_manifests(tmp_path) == []
    assert load_manifests(_write(tmp_path / "empty.yaml", "---\n# nothing\n---\n")) == []
    assert load_manifests(_write(tmp_path / "empty.json", "  \n")) == []


def test_a_yaml_error_names_its_document(tmp_path: Path) -> None:
    f = _write(tmp_path / "t.yaml", FLOOR_YAML + "---\nkind: [\n")
    [problem] = _problems(f)
    assert problem.startswith(f"{f.as_posix()}#2: not valid YAML")


def test_hidden_folders_and_files_are_skipped(tmp_path: Path) -> None:
    """A ConfigMap mount: the files link into ..data/, a hidden timestamped folder."""
    import os

    real = tmp_path / "..2026_11_27_06_00_00.000000001"
    real.mkdir()
    (real / "floor.yaml").write_text(
        "apiVersion: capbroker.dev/v1\nkind: PolicyFloor\nmetadata: {name: default}\n"
        "spec: {forbidden_actions: [backup:delete]}\n"
    )
    os.symlink(real.name, tmp_path / "..data")
    os.symlink("..data/floor.yaml", tmp_path / "floor.yaml")
    (tmp_path / ".floor.yaml.swp").write_text("junk")
    manifests = load_manifests(tmp_path)
    assert [m.kind for m in manifests] == ["PolicyFloor"]
