"""Hot-path statements executed on the driver's cursor, bypassing SQL compilation.

Written once with ``:name`` parameters; rendered in the driver's own style on first use.
Each costs about the driver's execute time, against several times that through the
SQL expression layer (profile in benchmarks/README.md). Used only for the few writes
every token and every gateway decision make.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

_NAMED = re.compile(r":([a-z_][a-z0-9_]*)")


class RawStatement:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self._rendered: dict[str, str] = {}

    def _for(self, conn: Connection) -> str:
        driver = conn.dialect.driver
        rendered = self._rendered.get(driver)
        if rendered is None:
            if conn.dialect.name == "sqlite":
                rendered = self.sql  # sqlite3 takes :name parameters natively
            elif conn.dialect.paramstyle == "pyformat":
                rendered = _NAMED.sub(r"%(\1)s", self.sql.replace("%", "%%"))
            else:
                raise RuntimeError(f"raw statements do not support the {driver} driver")
            self._rendered[driver] = rendered
        return rendered

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Runs in the connection's current transaction; returns the affected row count."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self._for(conn), params)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(self._for(conn), rows)
        finally:
            cursor.close()

    def fetch_one(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self._for(conn), params)
            row = cursor.fetchone()
            return tuple(row) if row is not None else None
        finally:
            cursor.close()

    def fetch_all(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self._for(conn), params)
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()
