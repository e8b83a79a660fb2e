"""docs/standards.md names only tests that exist: each `tests/<file>.py::<test>` in it is a
test function defined in that file."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "standards.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    }


def test_every_named_test_exists() -> None:
    named = NAMED.findall(DOC.read_text())
    assert len(named) > 40  # the table is read, not an empty match
    missing = [
        f"{file}::{test}"
        for file, test in named
        if not (ROOT / file).is_file() or test not in _tests_in(ROOT / file)
    ]
    assert missing == []


def test_every_row_has_a_result() -> None:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| RFC")]
    assert len(rows) == 14
    for row in rows:
        result = row.rstrip(" |").rsplit("|", 1)[1].strip()
        # "pass" or "fail", then what the row leaves out in brackets
        assert re.fullmatch(r"(pass|fail)( \(.+\))?", result), row
