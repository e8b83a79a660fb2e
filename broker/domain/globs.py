"""Star-only globs: ``*`` matches any run of characters; every other character is literal.

No ``?`` or ``[...]`` (unlike ``fnmatch``), so a name containing those characters
never turns into a wider pattern than its author wrote.
"""

from __future__ import annotations

WILDCARD = "*"


def glob_match(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches all of ``text``.

    A ``*`` inside ``text`` can only be consumed by a ``*`` of ``pattern`` (the star
    branch is tried before the literal one and no literal equals ``*``). That makes
    the same function the syntactic subsumption test for two patterns.
    """
    p = t = 0
    star = -1
    resume = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == WILDCARD:
            # Remember the star and first try letting it match nothing.
            star, resume = p, t
            p += 1
        elif p < len(pattern) and pattern[p] == text[t]:
            p += 1
            t += 1
        elif star >= 0:
            # Backtrack: the last star swallows one more character.
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == WILDCARD:
        p += 1
    return p == len(pattern)


def glob_overlap(a: str, b: str) -> bool:
    """Whether some string is matched by both ``a`` and ``b``."""
    n, m = len(a), len(b)
    # ok[i][j]: a[i:] and b[j:] can still produce one common string.
    ok = [[False] * (m + 1) for _ in range(n + 1)]
    ok[n][m] = True
    for i in range(n, -1, -1):
        for j in range(m, -1, -1):
            if i == n and j == m:
                continue
            a_star = i < n and a[i] == WILDCARD
            b_star = j < m and b[j] == WILDCARD
            result = False
            if a_star:
                # a's star stops here, or it absorbs b's next token entirely.
                result = ok[i + 1][j] or (j < m and ok[i][j + 1])
            if not result and b_star:
                result = ok[i][j + 1] or (i < n and ok[i + 1][j])
            if not result and i < n and j < m and not a_star and not b_star:
                result = a[i] == b[j] and ok[i + 1][j + 1]
            ok[i][j] = result
    return ok[0][0]
