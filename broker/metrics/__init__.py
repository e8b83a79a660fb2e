"""Prometheus metrics for the broker and the gateway (docs/operations.md#metrics).

Each process builds its own registry (nothing global, nothing at import); the
instrumentation sits at a few points: the gateway's recorder (every decision and every
forwarded call's outcome), the resolver's look-ups, the group commit, issuance. Every
label is guarded (``labels.Guard``): a value outside its closed set is recorded as
``other``, so no token, secret, path or other unbounded value can ever become a series.
"""
