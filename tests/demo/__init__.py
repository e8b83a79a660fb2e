"""Tests of the demo provider (a package, so its conftest does not shadow tests/api's)."""
