"""What the provider saw, kept in memory so tests can assert "the upstream saw nothing".

An entry holds the method, the path (never the query string), the auth result, the status,
and for GraphQL requests each operation's type, name and root fields. The demo provider
records nothing more: no header value, no variable value, no key. A provider that records
headers and the body (the Railway replica, ``broker.demo.railway``) redacts credential
headers by name before it records them; as a second guard, any configured secret that shows
up in a recorded string anyway is replaced before the entry is stored.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

AuthResult = Literal["ok", "missing", "invalid", "not_required"]
REDACTED = "[redacted]"


@dataclass(frozen=True)
class LoggedOperation:
    type: str  # query | mutation | subscription
    name: str | None
    root_fields: tuple[str, ...]  # field names, not aliases, fragments expanded
    executed: bool = False  # True only for the operation the provider actually ran


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    at: float
    method: str
    path: str
    auth: AuthResult
    status: int
    operations: tuple[LoggedOperation, ...] = ()
    batch_size: int | None = None  # number of items when the body was a JSON array
    headers: tuple[tuple[str, str], ...] = ()  # (name, value) as received, when recorded
    body: str | None = None  # the request body as text, when recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "auth": self.auth,
            "status": self.status,
            "batch_size": self.batch_size,
            "operations": [
                {
                    "type": op.type,
                    "name": op.name,
                    "root_fields": list(op.root_fields),
                    "executed": op.executed,
                }
                for op in self.operations
            ],
            "headers": [list(pair) for pair in self.headers],
            "body": self.body,
        }


@dataclass
class RequestLog:
    """Thread-safe, bounded, append-only (until ``clear``)."""

    redact: Sequence[str] = field(default=(), repr=False)
    max_entries: int = 10_000
    _entries: deque[LoggedRequest] = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._entries = deque(maxlen=self.max_entries)
        self.redact = tuple(s for s in self.redact if s)

    def record(
        self,
        *,
        at: float,
        method: str,
        path: str,
        auth: AuthResult,
        status: int,
        operations: Iterable[LoggedOperation] = (),
        batch_size: int | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: str | None = None,
    ) -> LoggedRequest:
        ops = tuple(
            LoggedOperation(
                op.type,
                None if op.name is None else self._scrub(op.name),
                tuple(self._scrub(f) for f in op.root_fields),
                op.executed,
            )
            for op in operations
        )
        pairs = tuple((self._scrub(n), self._scrub(v)) for n, v in headers)
        text = None if body is None else self._scrub(body)
        with self._lock:
            self._seq += 1
            entry = LoggedRequest(
                self._seq,
                at,
                method.upper(),
                self._scrub(path),
                auth,
                status,
                ops,
                batch_size,
                pairs,
                text,
            )
            self._entries.append(entry)
            return entry

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seq = 0

    def _scrub(self, text: str) -> str:
        for secret in self.redact:
            text = text.replace(secret, REDACTED)
        return text


def describe_document(
    document: DocumentNode, executed: OperationDefinitionNode | None = None
) -> list[LoggedOperation]:
    """Every operation in the document with its root fields; ``executed`` is the one that ran."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return [
        LoggedOperation(
            op.operation.value,
            op.name.value if op.name else None,
            tuple(_root_fields(op.selection_set, fragments, set())),
            op is executed,
        )
        for op in document.definitions
        if isinstance(op, OperationDefinitionNode)
    ]


def _root_fields(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    seen: set[str],
) -> list[str]:
    names: list[str] = []
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            names.append(selection.name.value)
        elif isinstance(selection, InlineFragmentNode):
            names.extend(_root_fields(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            fragment_name = selection.name.value
            fragment = fragments.get(fragment_name)
            if fragment is not None and fragment_name not in seen:
                seen.add(fragment_name)
                names.extend(_root_fields(fragment.selection_set, fragments, seen))
    return names
