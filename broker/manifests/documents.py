"""Reading manifest files into plain documents: YAML (safely) or JSON.

Duplicate keys are refused (a silently shadowed key can widen a grant), and so
are YAML aliases (they allow exponential expansion of a small file). Every document is
held to the limits in ``broker/limits.py`` (nesting depth while YAML is composed, so
the recursive composer never gets deep; NUL and lone surrogates in any string).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import yaml

from broker.limits import MAX_DEPTH, MAX_JSON_BYTES, InputProblem, check_document
from broker.manifests.errors import ManifestProblem

MAX_FILE_BYTES = MAX_JSON_BYTES  # manifests are small; anything bigger is a mistake or an attack


class _StrictLoader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed", event.start_mark
            )
        if self._depth >= MAX_DEPTH:  # the composer recurses: stop long before Python does
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
            )
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for json: two copies of a key are an error, not last-wins."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_documents(file: Path, display: str) -> Iterator[tuple[str, object] | ManifestProblem]:
    """Yield ``(source, document)`` for each non-empty document, or a problem and stop."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        yield ManifestProblem(display, "", f"cannot read file: {exc.strerror or exc}")
        return
    if len(raw) > MAX_FILE_BYTES:
        yield ManifestProblem(display, "", f"file is larger than {MAX_FILE_BYTES} bytes")
        return
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        yield ManifestProblem(display, "", "file is not valid UTF-8")
        return
    if file.suffix == ".json":
        yield from _json_documents(text, display)
    else:
        yield from _yaml_documents(text, display)


def _json_documents(text: str, display: str) -> Iterator[tuple[str, object] | ManifestProblem]:
    if not text.strip():
        return
    source = f"{display}#1"
    try:
        doc = json.loads(text, object_pairs_hook=refuse_duplicate_keys)
    except RecursionError:
        yield ManifestProblem(source, "", f"nested more than {MAX_DEPTH} levels deep")
        return
    except ValueError as exc:
        yield ManifestProblem(source, "", f"not valid JSON: {exc}")
        return
    yield _held_to_limits(source, doc)


def _held_to_limits(source: str, doc: object) -> tuple[str, object] | ManifestProblem:
    try:
        check_document(doc)
    except InputProblem as exc:
        return ManifestProblem(source, exc.path, exc.message)
    return source, doc


def _yaml_documents(text: str, display: str) -> Iterator[tuple[str, object] | ManifestProblem]:
    index = 0  # documents read so far; the next one (index + 1) is the one that can fail
    try:
        loader = _StrictLoader(text)  # its reader refuses NUL and other control characters
    except yaml.YAMLError as exc:
        yield ManifestProblem(f"{display}#1", "", f"not valid YAML: {_yaml_message(exc, text)}")
        return
    try:
        while loader.check_data():  # type: ignore[no-untyped-call]
            doc = loader.get_data()
            index += 1
            if doc is not None:
                yield _held_to_limits(f"{display}#{index}", doc)
    except yaml.YAMLError as exc:
        problem = f"not valid YAML: {_yaml_message(exc, text)}"
        yield ManifestProblem(f"{display}#{index + 1}", "", problem)
    finally:
        loader.dispose()


def _yaml_message(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return f"character #x{exc.character:04x} is not allowed (line {line}, column {column})"
    if isinstance(exc, yaml.MarkedYAMLError):
        where = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "syntax error"
        if where is not None:
            return f"{what} (line {where.line + 1}, column {where.column + 1})"
        return what
    return str(exc)
