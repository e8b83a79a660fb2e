"""capbroker: scoped, short-lived capability tokens for AI agents."""

__version__ = "0.1.0"
