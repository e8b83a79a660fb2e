"""The chart README (`helm show readme`) is generated from values.yaml and kept current; every
value in it has a description."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from tests.chart.chart_support import CHART, ROOT, helm


def test_the_readme_is_current_and_is_what_helm_shows() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "chart-readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr + " (run `make chart-readme`)"
    shown = helm("show", "readme", str(CHART))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == (CHART / "README.md").read_text().strip()


def test_every_value_is_in_the_readme_with_a_description() -> None:
    rows = {}
    for line in (CHART / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            key, _default, description = (c.strip() for c in re.split(r"(?<!\\)\|", line)[1:4])
            rows[key.strip("`")] = description
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def leaves(node: object, path: str) -> list[str]:
        if isinstance(node, dict) and node:
            return [p for k, v in node.items() for p in leaves(v, f"{path}.{k}".lstrip("."))]
        return [path]

    def row_of(path: str) -> str | None:
        """The path's own row, or the row of the flow-style mapping that holds it."""
        while path and path not in rows:
            path = path.rpartition(".")[0]
        return path or None

    paths = leaves(values, "")
    assert len(paths) > 150
    assert [p for p in paths if row_of(p) is None] == []
    assert [p for p in paths if not rows[row_of(p) or ""]] == []
