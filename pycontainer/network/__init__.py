"""Container networking: bridge networks, IPAM, published ports, hosts files.

``client.networks`` (models/networks.py) is the docker-py face and
``engine/networks.py`` docker's verbs; this package does the work
(docs/networks.md), one job per module:

* :mod:`.manager`   ``Networking``: the engine's one handle on all of it
* :mod:`.records`   network records: create, get, the default, remove
* :mod:`.leases`    IPAM leases: an address for a container endpoint
* :mod:`.endpoints` a container's networking at start, connect, disconnect
* :mod:`.bridge`    bridges, namespaces and veths (over :mod:`.netlink`)
* :mod:`.ports`     ``ports=`` parsing, host port claims, their DNAT
* :mod:`.firewall`  the ``ip pycontainer`` nftables table
* :mod:`.hosts`     /etc/hosts and /etc/resolv.conf
* :mod:`.recovery`  release at stop or exit, the monitor's hooks, crash recovery
* :mod:`.release`   the script the monitor runs to release a container
* :mod:`.views`     docker's NetworkSettings and a network's Containers
* :mod:`.store`     networks, leases, port claims and run-dir files on disk
* :mod:`.ipam`      pools, subnet choice, address allocation
* :mod:`.netlink`   a minimal rtnetlink client (links, addresses, routes)

Kept free of imports outside the standard library, ``pycontainer.errors``,
``pycontainer.jsonfile`` and ``pycontainer._core``, so that the release hook
starts fast.
"""
