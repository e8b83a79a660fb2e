"""Log output: text lines (the default) or one JSON object per line (``log_format: json``).

A JSON line carries ``time``, ``level``, ``logger``, ``message``, and every structured
field the call passed (``log.info("...", extra={"provider": name})``); an exception adds
``exc_type`` and ``traceback``. Each line is scrubbed of credential-shaped strings
(``broker.audit.redact``) as defence in depth: nothing secret is logged in the first place.

The same dictConfig serves the process and uvicorn (each ``--workers`` process applies it
too), so uvicorn's own records come out in the same format.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Final

from broker.audit.redact import redact_text

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What every LogRecord has; anything else on a record is a structured field of the call.
_STANDARD: Final = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return redact_text(json.dumps(line, ensure_ascii=False))


def logging_config(log_format: str, level: str) -> dict[str, Any] | None:
    """The dictConfig for ``log_format`` (None for text: uvicorn keeps its own)."""
    if log_format != "json":
        return None
    upper = level.upper()
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "broker.logs.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": upper},
        "loggers": {name: propagate for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def json_logging(log_format: str, level: str) -> dict[str, Any]:
    """With ``json``: set up this process's logging now (records made before the server
    starts come out as JSON too); the options to hand uvicorn (its ``log_config``)."""
    config = logging_config(log_format, level)
    if config is None:
        return {}
    logging.config.dictConfig(config)
    return {"log_config": config}


def configure_logging(log_format: str, level: str) -> dict[str, Any]:
    """The broker's: text lines at ``level`` by default, or JSON; uvicorn's options."""
    if log_format != "json":
        logging.basicConfig(level=level.upper(), format=TEXT_FORMAT)
    return json_logging(log_format, level)
