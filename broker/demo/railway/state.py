"""``RailwayState``: the replica's tables behind one lock, shared by the server thread and
the tests (or the demo) that read and change them while it runs.

It keeps the seed's inputs, tokens included, so ``reset`` can reseed in place; ``repr``
never shows them. Ids made at run time are deterministic too (``railway_id("serial", n)``),
so a run can be replayed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from broker.clock import Clock, system_clock
from broker.demo.railway.access import Access, Presented, authenticate
from broker.demo.railway.resolvers import Call
from broker.demo.railway.seed import Tables, railway_id, railway_seed
from broker.demo.railway.view import View
from broker.demo.railway.writes import Writes


class RailwayState:
    def __init__(
        self,
        master_key: str,
        *,
        clock: Clock = system_clock,
        workspace_token: str | None = None,
        project_tokens: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self._clock = clock
        self._seed_tokens = (master_key, workspace_token, dict(project_tokens or {}))
        self.lock = threading.RLock()
        self.tables = self._seed()

    def __repr__(self) -> str:
        return f"RailwayState(projects={len(self.tables.projects)})"

    def _seed(self) -> Tables:
        master_key, workspace_token, project_tokens = self._seed_tokens
        return railway_seed(
            master_key,
            now=self._clock(),
            workspace_token=workspace_token,
            project_tokens=project_tokens,
        )

    def reset(self) -> None:
        """Back to a fresh seed, in place (references to this object stay valid)."""
        with self.lock:
            self.tables = self._seed()

    def authenticate(self, token: str | None) -> tuple[Presented, Access | None]:
        with self.lock:
            users = {u.id: u.workspace_ids for u in self.tables.users.values()}
            return authenticate(token, self.tables.grants, users)

    def call(self, access: Access) -> Call:
        """The view and writes of one request (use under ``lock``)."""
        view = View(self.tables, access)
        return Call(view, Writes(self.tables, view, self._clock(), self._new_id))

    def _new_id(self, kind: str) -> str:
        serial = self.tables.next_serial
        self.tables.next_serial += 1
        return railway_id("serial", kind, str(serial))
