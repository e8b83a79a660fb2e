"""Pure decision logic: actions, templates, the policy floor, grants and explanations.

Nothing in this package does I/O or reads the clock; callers pass plain values in.
"""
