"""Suite-wide guard: no credential, token or private key in anything the tests captured.

Every test's captured stdout, stderr and log records, and every failure report, are
scanned; a hit fails the whole run (see the hooks in conftest.py).
"""

from __future__ import annotations

import re

SECRET_SHAPES = re.compile(
    r"capb_(?:agt|adm|rs)_[0-9a-f]{24}_[A-Za-z0-9_-]{43}"  # agent, admin, resource-server
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{20,}"  # signed JWTs
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)


def find_secrets(text: str) -> list[str]:
    """The secret-shaped strings in ``text``, shortened so the report itself leaks nothing."""
    return [m.group(0)[:12] + "..." for m in SECRET_SHAPES.finditer(text)]
