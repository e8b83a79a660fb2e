"""Defence in depth: whatever a caller puts into an audit event, credential-shaped strings leave."""

from __future__ import annotations

import re

# Our own credential format, compact JWS/JWT, and PEM blocks. None of them contains a
# double quote, so on JSON text a match never leaves the string it starts in (the PEM
# body is matched up to a quote for the same reason), and the replacement keeps the
# text valid JSON.
_SECRETISH = re.compile(
    r"capb_(?:agt|adm)_[A-Za-z0-9_-]+"
    r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|-----BEGIN [A-Z ]+-----[^\"]*?-----END [A-Z ]+-----"
)
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    """One pass over a string, or over a whole JSON document as text."""
    return _SECRETISH.sub(REDACTED, text)
