"""A Railway-style GraphQL API that plays the cloud provider of the incident.

It holds one project whose postgres volume ``vol-pg`` is shared by staging and production,
with its backups on the volume; ``volumeDelete`` removes it everywhere, backups included,
with no confirmation. ``capbroker demo`` and the gateway tests put the gateway in front of
it and read its request log to show what reached the upstream.

Python API::

    state = ProviderState(clock)                # or seed_state(clock)
    log = RequestLog(redact=(master_key, admin_token))
    app = create_provider_app(master_key, admin_token, clock=clock, state=state, log=log)
    with ServerThread(app) as server:           # 127.0.0.1, free port, bounded start
        ... server.url ...
"""

from broker.demo.provider.app import create_provider_app
from broker.demo.provider.requestlog import LoggedOperation, LoggedRequest, RequestLog
from broker.demo.provider.schema import SDL, build_provider_schema
from broker.demo.provider.server import ServerThread
from broker.demo.provider.service import ProviderService, Reply
from broker.demo.provider.state import ProviderState, UnknownObject, seed_state

__all__ = [
    "SDL",
    "LoggedOperation",
    "LoggedRequest",
    "ProviderService",
    "ProviderState",
    "Reply",
    "RequestLog",
    "ServerThread",
    "UnknownObject",
    "build_provider_schema",
    "create_provider_app",
    "seed_state",
]
