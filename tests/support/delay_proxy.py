"""A delaying TCP proxy on loopback, for slowing a real server (Vault) in fault tests.

Every connection to ``proxy.port`` is relayed to the target; each chunk the target sends
back waits ``proxy.delay`` seconds first (set it at any time; 0 relays at once), so every
answer is late by about that much while requests arrive at once. Bounded: at most
``max_connections`` relayed at a time (more are closed at once), and ``stop`` closes
every connection and ends the thread. Use it as a context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from tests.support.servers import HOST

CHUNK = 65536


class DelayProxy:
    def __init__(self, target_host: str, target_port: int, *, max_connections: int = 64) -> None:
        self.target = (target_host, target_port)
        self.delay = 0.0
        self.max_connections = max_connections
        self.port = 0
        self.relayed = 0  # connections relayed so far
        self._loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> DelayProxy:
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        started.result(timeout=5)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accepted, HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._tasks) >= self.max_connections:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.relayed += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, delayed=False),
                self._pipe(up_reader, writer, delayed=True),
            )
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, delayed: bool
    ) -> None:
        while data := await src.read(CHUNK):
            if delayed and self.delay > 0:
                await asyncio.sleep(self.delay)
            dst.write(data)
            await dst.drain()
        with contextlib.suppress(OSError):
            if dst.can_write_eof():
                dst.write_eof()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
