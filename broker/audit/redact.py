"""Defence in depth: whatever a caller puts into an audit event, credential-shaped strings leave."""

from __future__ import annotations

import re
from typing import Any

# Our own credential format, compact JWS/JWT, and PEM blocks.
_SECRETISH = re.compile(
    r"capb_(?:agt|adm)_[A-Za-z0-9_-]+"
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----"
)
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _SECRETISH.sub(REDACTED, value)
    if isinstance(value, dict):
        return {str(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value
