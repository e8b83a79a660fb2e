"""Use cases: each service composes pure domain decisions with the store, secrets and audit."""
