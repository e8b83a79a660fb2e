"""A replica of Railway's public GraphQL API, for the tests and ``capbroker demo``.

It executes requests with graphql-core against Railway's REAL schema (the published
introspection, shipped as ``schema.json.gz``), so a request of the wrong shape fails as it
would on the real API, and serves the part that matters with real resolvers: workspaces,
projects, environments (with ``config(decryptVariables)``), services, variables,
deployments, volumes with their per-environment instances, instance backups and schedules,
project tokens, and Relay connections paged with ``first``/``after``. A root field it does
not implement answers an error, never a made-up value. See ``docs/railway-replica.md``.

Python API::

    tables = railway_seed(master_key, now=clock())        # the seed, as plain data
    with serve_replica(master_key, admin_token) as replica:
        replica.graphql_url, replica.ids, replica.state, replica.log

``IDS`` names the seeded objects (deterministic UUIDs); ``build_replica`` gives the ASGI app.
"""

from broker.demo.railway.replica import ReplicaServer, build_replica, serve_replica
from broker.demo.railway.schema import railway_schema
from broker.demo.railway.seed import IDS, SeedIds, Tables, railway_id, railway_seed
from broker.demo.railway.service import GRAPHQL_PATH, RailwayService
from broker.demo.railway.state import RailwayState

__all__ = [
    "GRAPHQL_PATH",
    "IDS",
    "RailwayService",
    "RailwayState",
    "ReplicaServer",
    "SeedIds",
    "Tables",
    "build_replica",
    "railway_id",
    "railway_schema",
    "railway_seed",
    "serve_replica",
]
