"""Strict JSON for request bodies: UTF-8, no duplicate keys, no NaN, bounded depth.

A duplicate key is refused because two parsers may keep different copies
(first wins here, last wins there): exactly the ambiguity smuggling needs.
"""

from __future__ import annotations

import json
from typing import Any

from broker.manifests.documents import refuse_duplicate_keys
from broker.routemap.errors import INVALID_JSON, bad_request


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(data: bytes | str, what: str = "the body") -> Any:
    try:
        text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
        return json.loads(
            text, object_pairs_hook=refuse_duplicate_keys, parse_constant=_no_constant
        )
    except UnicodeDecodeError:
        raise bad_request(INVALID_JSON, f"{what} is not UTF-8") from None
    except RecursionError:
        raise bad_request(INVALID_JSON, f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise bad_request(INVALID_JSON, f"{what} is not valid JSON: {exc}") from None
