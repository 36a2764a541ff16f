"""Swarm mode and what only a swarm manager serves (nodes, services, tasks,
secrets, configs): this daemon is a node that is not in a swarm, and it
answers as dockerd does on such a node (503), so clients that clean up with
``leave_swarm(force=True)`` or look for a swarm get what they expect."""
from ..app import Routes
from ..status import error

routes = Routes()

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or '
               '"docker swarm join" to connect this node to swarm and try again.')
NOT_IN_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = "swarm mode is not supported by pycontainerd: this node cannot init or join one"


async def _not_manager(request):
    return error(503, NOT_MANAGER)


async def _not_in_swarm(request):
    return error(503, NOT_IN_SWARM)


async def _no_swarm_mode(request):
    return error(503, NO_SWARM_MODE)


routes.get("/swarm")(_not_manager)
routes.get("/swarm/unlockkey")(_not_manager)
routes.post("/swarm/update")(_not_manager)
routes.post("/swarm/unlock")(_not_in_swarm)
routes.post("/swarm/leave")(_not_in_swarm)
routes.post("/swarm/init")(_no_swarm_mode)
routes.post("/swarm/join")(_no_swarm_mode)
for kind in ("nodes", "services", "tasks", "secrets", "configs"):
    routes.get(f"/{kind}")(_not_manager)
    routes.get(f"/{kind}/{{id}}")(_not_manager)
    routes.delete(f"/{kind}/{{id}}")(_not_manager)
    routes.post(f"/{kind}/{{id}}/update")(_not_manager)
    if kind in ("services", "secrets", "configs"):
        routes.post(f"/{kind}/create")(_not_manager)
routes.get("/services/{id}/logs")(_not_manager)
routes.get("/tasks/{id}/logs")(_not_manager)
