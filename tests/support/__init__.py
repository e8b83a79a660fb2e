"""Shared test helpers: server processes, the seeded world, factories, leak checks."""
