"""The table of verbs: name -> (module, function, summary), and the
management groups (``pycontainer image ls``) as aliases of the same verbs.

Only this table is read to dispatch: the module of the chosen verb is
imported, and nothing else (``pycontainer ps`` never imports the image code).
In module ``m``, verb ``f`` is ``m.cmd_f(ctx, args)`` with its flags set up
by ``m.args_f(parser)``.
"""

VERBS = {
    # containers
    "run": ("run", "run", "Create and run a new container from an image"),
    "create": ("run", "create", "Create a new container"),
    "start": ("containers", "start", "Start one or more stopped containers"),
    "stop": ("containers", "stop", "Stop one or more running containers"),
    "restart": ("containers", "restart", "Restart one or more containers"),
    "kill": ("containers", "kill", "Kill one or more running containers"),
    "rm": ("containers", "rm", "Remove one or more containers"),
    "ps": ("listing", "ps", "List containers"),
    "logs": ("containers", "logs", "Fetch the logs of a container"),
    "exec": ("containers", "exec", "Execute a command in a running container"),
    "attach": ("containers", "attach", "Attach local standard input, output, and error "
               "streams to a running container"),
    "cp": ("copy", "cp", "Copy files/folders between a container and the local filesystem"),
    "inspect": ("system", "inspect", "Return low-level information on objects"),
    "top": ("containers", "top", "Display the running processes of a container"),
    "stats": ("containers", "stats", "Display a live stream of container(s) resource usage "
              "statistics"),
    "port": ("containers", "port", "List port mappings or a specific mapping for the container"),
    "rename": ("containers", "rename", "Rename a container"),
    "update": ("containers", "update", "Update configuration of one or more containers"),
    "wait": ("containers", "wait", "Block until one or more containers stop, then print their "
             "exit codes"),
    "pause": ("containers", "pause", "Pause all processes within one or more containers"),
    "unpause": ("containers", "unpause", "Unpause all processes within one or more "
                "containers"),
    "diff": ("containers", "diff", "Inspect changes to files or directories on a container's "
             "filesystem"),
    "export": ("containers", "export", "Export a container's filesystem as a tar archive"),
    "commit": ("containers", "commit", "Create a new image from a container's changes"),
    "container_prune": ("listing", "container_prune", "Remove all stopped containers"),
    "container_inspect": ("system", "container_inspect",
                          "Display detailed information on one or more containers"),
    # images
    "images": ("images", "images", "List images"),
    "tag": ("images", "tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("images", "rmi", "Remove one or more images"),
    "save": ("images", "save", "Save one or more images to a tar archive (streamed to STDOUT "
             "by default)"),
    "load": ("images", "load", "Load an image from a tar archive or STDIN"),
    "import": ("images", "import_", "Import the contents from a tarball to create a "
               "filesystem image"),
    "history": ("images", "history", "Show the history of an image"),
    "pull": ("distribution", "pull", "Download an image from a registry"),
    "push": ("distribution", "push", "Upload an image to a registry"),
    "login": ("distribution", "login", "Log in to a registry"),
    "logout": ("distribution", "logout", "Log out from a registry"),
    "build": ("build", "build", "Build an image from a Dockerfile"),
    "image_prune": ("images", "image_prune", "Remove unused images"),
    "image_inspect": ("system", "image_inspect",
                      "Display detailed information on one or more images"),
    # networks and volumes
    "network_create": ("objects", "network_create", "Create a network"),
    "network_ls": ("objects", "network_ls", "List networks"),
    "network_inspect": ("objects", "network_inspect",
                        "Display detailed information on one or more networks"),
    "network_rm": ("objects", "network_rm", "Remove one or more networks"),
    "network_prune": ("objects", "network_prune", "Remove all unused networks"),
    "network_connect": ("objects", "network_connect", "Connect a container to a network"),
    "network_disconnect": ("objects", "network_disconnect",
                           "Disconnect a container from a network"),
    "volume_create": ("objects", "volume_create", "Create a volume"),
    "volume_ls": ("objects", "volume_ls", "List volumes"),
    "volume_inspect": ("objects", "volume_inspect",
                       "Display detailed information on one or more volumes"),
    "volume_rm": ("objects", "volume_rm", "Remove one or more volumes"),
    "volume_prune": ("objects", "volume_prune", "Remove unused local volumes"),
    # system
    "system_df": ("system", "system_df", "Show disk usage"),
    "system_prune": ("system", "system_prune", "Remove unused data"),
    "info": ("system", "info", "Display system-wide information"),
    "version": ("system", "version", "Show the pycontainer version information"),
    "events": ("events", "events", "Get real time events from the server"),
    # contexts and the shell
    "context_create": ("contexts", "context_create", "Create a context"),
    "context_ls": ("contexts", "context_ls", "List contexts"),
    "context_use": ("contexts", "context_use", "Set the current context"),
    "context_rm": ("contexts", "context_rm", "Remove one or more contexts"),
    "context_inspect": ("contexts", "context_inspect",
                        "Display detailed information on one or more contexts"),
    "completion": ("completion", "completion", "Print a shell completion script (bash, zsh)"),
    # registry
    "registry_serve": ("registry", "registry_serve", "Serve the store's images as an OCI "
                       "registry"),
}

# Management commands: group -> {subcommand: verb}.
GROUPS = {
    "container": {
        "run": "run", "create": "create", "start": "start", "stop": "stop",
        "restart": "restart", "kill": "kill", "rm": "rm", "remove": "rm", "ls": "ps",
        "list": "ps", "ps": "ps", "logs": "logs", "exec": "exec", "attach": "attach", "cp": "cp",
        "inspect": "container_inspect", "top": "top", "stats": "stats", "port": "port",
        "rename": "rename", "update": "update", "wait": "wait", "pause": "pause",
        "unpause": "unpause", "diff": "diff", "export": "export", "commit": "commit",
        "prune": "container_prune"},
    "image": {
        "ls": "images", "list": "images", "tag": "tag", "rm": "rmi", "remove": "rmi",
        "save": "save", "load": "load", "import": "import", "history": "history",
        "prune": "image_prune", "inspect": "image_inspect", "pull": "pull", "push": "push",
        "build": "build"},
    "network": {
        "create": "network_create", "ls": "network_ls", "list": "network_ls",
        "inspect": "network_inspect", "rm": "network_rm", "remove": "network_rm",
        "prune": "network_prune", "connect": "network_connect",
        "disconnect": "network_disconnect"},
    "volume": {
        "create": "volume_create", "ls": "volume_ls", "list": "volume_ls",
        "inspect": "volume_inspect", "rm": "volume_rm", "remove": "volume_rm",
        "prune": "volume_prune"},
    "system": {"df": "system_df", "prune": "system_prune", "info": "info", "events": "events"},
    "registry": {"serve": "registry_serve"},
    "context": {"create": "context_create", "ls": "context_ls", "list": "context_ls",
                "use": "context_use", "rm": "context_rm", "remove": "context_rm",
                "inspect": "context_inspect"},
}
GROUP_SUMMARIES = {
    "container": "Manage containers", "image": "Manage images", "network": "Manage networks",
    "volume": "Manage volumes", "system": "Manage pycontainer",
    "registry": "Serve images as an OCI registry",
    "context": "Manage contexts (named daemons)",
}
# Top-level names of verbs (the rest are reached through their group).
TOP = [v for v in VERBS if "_" not in v]
COMMON = ("run", "exec", "ps", "build", "pull", "push", "images", "login", "logout",
          "logs", "inspect", "info", "version")

# Verbs that only read: the engine does not repair the store for them (a
# stale record is still shown as the exit it was, see engine/state.py).
READ_ONLY = {"ps", "logs", "inspect", "container_inspect", "image_inspect", "top", "stats",
             "port", "diff", "export", "images", "save", "history", "network_ls",
             "network_inspect", "volume_ls", "volume_inspect", "system_df", "info",
             "version", "wait", "cp", "events", "attach", "logout"}
# Verbs whose engine errors exit 125 as docker's run does (others exit 1).
ENGINE_125 = {"run", "create"}

# Verbs that run against a daemon (-H, a context); the others are local only.
REMOTE = {"ps", "images", "events", "run", "logs", "rm", "version"}
# ... and those that read several at once, naming the daemon in a column.
MULTI_HOST = {"ps", "images", "events"}
# Verbs that never talk to a daemon (they manage the client's own settings).
LOCAL_ONLY = {"context_create", "context_ls", "context_use", "context_rm", "context_inspect",
              "login", "logout", "completion"}
