"""Workload-token single use: the cache lives in ``broker/tokens/replay.py`` (shared with DPoP)."""

from broker.tokens.replay import MAX_ENTRIES, ReplayCache

__all__ = ["MAX_ENTRIES", "ReplayCache"]
