"""``Environment.config(decryptVariables)`` and ``Query.variables``: an environment's
variables as JSON scalars, as the real API returns them.

``EnvironmentConfig`` follows the outline of Railway's serialized environment config
(``services.<id>.variables``, ``services.<id>.volumeMounts``, ``sharedVariables``,
``volumes``), reduced to what the replica models. Without ``decryptVariables: true`` a
variable's entry carries no value: the point of the argument is that values (production's
secrets) come back only when asked for, through a read that looks harmless.
"""

from __future__ import annotations

from typing import Any

from broker.demo.railway.records import Environment, Variable
from broker.demo.railway.view import View


def _entry(variable: Variable, decrypt: bool) -> dict[str, Any]:
    return {"value": variable.value} if decrypt else {}


def environment_config(view: View, environment: Environment, decrypt: bool) -> dict[str, Any]:
    services: dict[str, dict[str, Any]] = {}
    shared: dict[str, Any] = {}
    for var in view.environment_variables(environment.id):
        if var.service_id is None:
            shared[var.name] = _entry(var, decrypt)
        else:
            service = services.setdefault(var.service_id, {"variables": {}})
            service["variables"][var.name] = _entry(var, decrypt)
    volumes: dict[str, Any] = {}
    for inst in view.instances(environment_id=environment.id):
        volumes[inst.volume_id] = {"sizeMB": inst.size_mb, "region": inst.region}
        if inst.service_id is not None:
            service = services.setdefault(inst.service_id, {"variables": {}})
            mounts = service.setdefault("volumeMounts", {})
            mounts[inst.volume_id] = {"mountPath": inst.mount_path}
    return {"services": services, "sharedVariables": shared, "volumes": volumes}


def rendered_variables(view: View, environment_id: str, service_id: str | None) -> dict[str, str]:
    """``variables(projectId, environmentId, serviceId)``: name -> value. With a service, its
    variables over the environment's shared ones (the service's win)."""
    shared = {v.name: v.value for v in view.variables(environment_id, None)}
    if service_id is None:
        return shared
    own = {v.name: v.value for v in view.variables(environment_id, service_id)}
    return {**shared, **own}
