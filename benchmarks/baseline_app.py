"""A bare Litestar app: the floor any broker endpoint is compared with.

Run: ``python -m benchmarks.baseline_app --port 8123``. Served by uvicorn with
the shared settings in ``benchmarks.harness.UVICORN_SETTINGS``.
"""

from __future__ import annotations

import argparse
from typing import Any

from litestar import Litestar, get, post

from benchmarks.harness import uvicorn_serve


@get("/ping")
async def ping() -> dict[str, bool]:
    return {"ok": True}


@post("/echo", status_code=200)
async def echo(data: dict[str, Any]) -> dict[str, Any]:
    return data


def build_app() -> Litestar:
    return Litestar(route_handlers=[ping, echo], debug=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn_serve(build_app(), args.port)


if __name__ == "__main__":
    main()
