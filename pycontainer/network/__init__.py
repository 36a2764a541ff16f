"""Container networking: bridge networks, IPAM, published ports, hosts files.

``client.networks`` (models/networks.py) is the docker-py face; this package
does the work (docs/networks.md):

* :mod:`.manager`  networks and container endpoints (start, release, recover)
* :mod:`.store`    networks, leases and port claims on disk (flock)
* :mod:`.ipam`     pools, subnet choice, address allocation
* :mod:`.ports`    ``ports=`` parsing and host port claims
* :mod:`.firewall` the ``ip pycontainer`` nftables table
* :mod:`.netlink`  a minimal rtnetlink client (links, addresses, routes)
* :mod:`.hosts`    /etc/hosts and /etc/resolv.conf
* :mod:`.release`  the monitor hook that releases a container's networking

Kept free of imports outside the standard library, ``pycontainer.errors`` and
``pycontainer._core``, so that the release hook starts fast.
"""
