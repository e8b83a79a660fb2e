"""Fixtures for the gateway tests (the stack itself is built in tests/support/stack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Stack, build_stack


@pytest.fixture
def stack(tmp_path: Path, database_url: str) -> Iterator[Stack]:
    yield from build_stack(tmp_path, database_url)


def _sqlite_stack(factory: pytest.TempPathFactory, name: str, **options: bool) -> Iterator[Stack]:
    tmp = factory.mktemp(name)
    yield from build_stack(tmp, f"sqlite:///{tmp}/capbroker.db", **options)


@pytest.fixture(scope="module")
def _module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _sqlite_stack(tmp_path_factory, "gateway-stack", with_echo=True)


@pytest.fixture
def shared_stack(_module_stack: Stack) -> Stack:
    """The module's stack (SQLite, demo and echo providers), its provider freshly reset.

    Tests using it must not change the gateway; they take fresh tokens (budgets are per token).
    """
    _module_stack.reset_provider()
    return _module_stack


@pytest.fixture(scope="module")
def _module_permissive_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from _sqlite_stack(tmp_path_factory, "permissive-stack", permissive=True)


@pytest.fixture
def permissive_stack(_module_permissive_stack: Stack) -> Stack:
    """The module's stack with permissive upstreams (permissive_upstream.py): one in front
    of the demo provider, relaying what it understood, and one behind the permissive
    provider; their logs and the demo provider freshly reset. Same rules as shared_stack."""
    _module_permissive_stack.reset_provider()
    return _module_permissive_stack
