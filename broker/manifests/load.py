"""Loading an apply set: a file or a directory tree of manifests, all checked before any is used."""

from __future__ import annotations

import os
from pathlib import Path

from broker.manifests.documents import read_documents
from broker.manifests.errors import ManifestError, ManifestProblem
from broker.manifests.parse import Manifest, parse_manifest

SUFFIXES = frozenset({".yaml", ".yml", ".json"})


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for dirpath, dirs, names in os.walk(path):  # symlinked directories are not followed
        # Hidden folders and files are skipped: a Kubernetes ConfigMap mount keeps a second
        # copy of every file under ..<timestamp>/, and editors leave .swp and the like.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(dirpath) / n for n in names if Path(n).suffix in SUFFIXES and not n.startswith(".")
        ]
    return sorted(found, key=lambda f: f.relative_to(path).parts)


def load_manifests(path: Path) -> list[Manifest]:
    """Every manifest under ``path``, in sorted file order and document order.

    Raises ``ManifestError`` with the problems of all files if any has one,
    including two manifests of the same kind and name.
    """
    if not path.exists():
        raise ManifestError([ManifestProblem(str(path), "", "no such file or directory")])
    problems: list[ManifestProblem] = []
    manifests: list[Manifest] = []
    for file in _files(path):
        for item in read_documents(file, file.as_posix()):
            if isinstance(item, ManifestProblem):
                problems.append(item)
                continue
            source, doc = item
            try:
                manifests.append(parse_manifest(doc, source))
            except ManifestError as exc:
                problems += exc.problems
    problems += _duplicates(manifests)
    if problems:
        raise ManifestError(problems)
    return manifests


def _duplicates(manifests: list[Manifest]) -> list[ManifestProblem]:
    first: dict[tuple[str, str], Manifest] = {}
    problems = []
    for m in manifests:
        earlier = first.setdefault((m.kind, m.name), m)
        if earlier is not m:
            problems.append(
                ManifestProblem(
                    m.source,
                    "metadata.name",
                    f"{m.kind} {m.name!r} is already defined in {earlier.source}",
                )
            )
    return problems
