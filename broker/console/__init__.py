"""The admin console: server-rendered HTML pages at ``/console`` (no JavaScript).

An admin logs in with their admin credential; the console keeps an opaque session id in a
cookie and everything else server-side (``sessions.py``, in memory, per process). Every
state-changing form is a POST carrying a per-session CSRF token (``security.py``); every
page is served with a strict Content-Security-Policy. Pages call the same services as the
admin JSON API (``broker/api/admin.py``).
"""

from broker.console.routes import console_router

__all__ = ["console_router"]
