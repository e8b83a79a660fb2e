"""TTLs as manifests write them: seconds, or a number with a unit (``90s``, ``15m``, ``1h``)."""

from __future__ import annotations

_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_DURATION = 24 * 3600  # a sanity bound; the broker's own ceiling is usually far lower


def parse_duration(value: object) -> int:
    """Seconds for ``value``; raise ``ValueError`` with a plain message otherwise."""
    # bool is an int subclass; True must not mean one second.
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif (
        isinstance(value, str)
        and len(value) >= 2
        and value[-1] in _UNITS
        and value[:-1].isascii()
        and value[:-1].isdigit()
    ):
        seconds = int(value[:-1]) * _UNITS[value[-1]]
    else:
        raise ValueError(
            f"{value!r} is not a valid duration (seconds, or a number followed by s, m or h)"
        )
    if seconds < 1:
        raise ValueError(f"{value!r} must be at least one second")
    if seconds > MAX_DURATION:
        raise ValueError(f"{value!r} is longer than the 24h limit")
    return seconds
