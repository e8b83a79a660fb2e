"""Relay connections (``edges { cursor node }``, ``pageInfo``), paged with first/after and
last/before as the Relay cursor connections specification says.

Cursors are opaque strings that encode the position in the full list; one that does not
decode, or points past the list, is refused (the caller's paging would otherwise loop or
skip silently).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from broker.demo.railway.errors import BadInput

_PREFIX = "replica-cursor:"


def cursor(position: int) -> str:
    return base64.b64encode(f"{_PREFIX}{position}".encode()).decode()


def _position(value: str, size: int) -> int:
    try:
        text = base64.b64decode(value.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or int(number) >= size:
        raise BadInput(f"Invalid cursor: {value}")
    return int(number)


def _count(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or value < 0:
        raise BadInput(f"{name} must be a non-negative integer")
    return value


def connection(items: Sequence[Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The page of ``items`` that ``first``/``after``/``last``/``before`` in ``args`` select."""
    first, last = _count(args.get("first"), "first"), _count(args.get("last"), "last")
    start, end = 0, len(items)
    if args.get("after") is not None:
        start = _position(args["after"], len(items)) + 1
    if args.get("before") is not None:
        end = min(end, _position(args["before"], len(items)))
    end = max(start, end)
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    edges = [{"cursor": cursor(i), "node": items[i]} for i in range(start, end)]
    return {
        "edges": edges,
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }
