"""Container.stats in docker's JSON shape, from a real container that burns
CPU, fills memory and sends packets: the numbers move as they should and a
``docker stats``-style CPU % from two samples is sane."""
import json

import pytest

from pycontainer import errors
from pycontainer.engine.stats import ZERO_TIME
from test_networks import containers, in_netns, netns, wait_for  # noqa: F401

BURN = ("dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null && touch /tmp/full; "
        "while :; do :; done")


def cpu_percent(s):
    """docker CLI's calculateCPUPercentUnix."""
    cpu = s["cpu_stats"]["cpu_usage"]["total_usage"] - s["precpu_stats"]["cpu_usage"]["total_usage"]
    system = s["cpu_stats"]["system_cpu_usage"] - s["precpu_stats"].get("system_cpu_usage", 0)
    return cpu / system * s["cpu_stats"]["online_cpus"] * 100 if system > 0 else 0.0


def test_stats_of_a_busy_container(client, busybox, netns):
    def body(client):
        with containers(client.containers.run("busybox", ["sh", "-c", BURN], detach=True,
                                              network="bridge", mem_limit="256m",
                                              name="pycpar-stats")) as (c,):
            wait_for(lambda: c.exec_run("test -f /tmp/full").exit_code == 0, what="fill")
            s = c.stats(stream=False)
            assert (s["id"], s["name"]) == (c.id, "/pycpar-stats")
            assert s["read"] > s["preread"] > ZERO_TIME and s["num_procs"] == 0
            mem = s["memory_stats"]
            assert mem["limit"] == 256 << 20 and mem["usage"] >= 40 << 20
            assert isinstance(mem["stats"], dict) and mem["stats"]
            if client._runtime.cg.kind == "v1":
                assert mem["max_usage"] >= mem["usage"]
                percpu = s["cpu_stats"]["cpu_usage"]["percpu_usage"]
                assert sum(percpu) == pytest.approx(s["cpu_stats"]["cpu_usage"]["total_usage"],
                                                    rel=0.05)
            usage = s["cpu_stats"]["cpu_usage"]
            assert usage["usage_in_usermode"] > 0 and usage["total_usage"] > \
                s["precpu_stats"]["cpu_usage"]["total_usage"] > 0
            assert s["cpu_stats"]["online_cpus"] >= 1
            assert set(s["cpu_stats"]["throttling_data"]) == {"periods", "throttled_periods",
                                                              "throttled_time"}
            # one busy shell: about one CPU's worth (the machine is shared: at least 10 %)
            assert 10 < cpu_percent(s) <= 100 * s["cpu_stats"]["online_cpus"] + 5
            assert s["pids_stats"]["current"] >= 1
            assert "io_service_bytes_recursive" in s["blkio_stats"]

            before = s["networks"]["eth0"]
            assert set(before) == {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                   "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"}
            gw = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
            assert c.exec_run(f"ping -c 3 -W 2 {gw}").exit_code == 0
            after = c.stats(stream=False, one_shot=True)["networks"]["eth0"]
            assert after["tx_packets"] >= before["tx_packets"] + 3
            assert after["rx_packets"] >= before["rx_packets"] + 3
            assert after["tx_bytes"] > before["tx_bytes"]
    in_netns(netns, body, client)


def test_stats_stream_shapes_and_refusals(client, busybox):
    with containers(client.containers.run("busybox", ["sh", "-c", "while :; do :; done"],
                                          detach=True, network_mode="none")) as (c,):
        lines = c.stats()                           # docker-py's default: bytes lines
        first, second = json.loads(next(lines)), json.loads(next(lines))
        lines.close()
        assert first["preread"] == ZERO_TIME and \
            first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
        assert second["precpu_stats"] == first["cpu_stats"] and second["preread"] == first["read"]
        assert second["cpu_stats"]["cpu_usage"]["total_usage"] > \
            first["cpu_stats"]["cpu_usage"]["total_usage"]
        assert "networks" not in first               # network_mode="none", as docker
        docs = c.stats(decode=True)
        assert isinstance(next(docs), dict)
        docs.close()
        one = c.stats(stream=False, one_shot=True)
        assert one["preread"] == ZERO_TIME and one["precpu_stats"]["cpu_usage"]["total_usage"] == 0
        with pytest.raises(errors.InvalidArgument, match="one_shot"):
            c.stats(stream=True, one_shot=True)
        with pytest.raises(errors.InvalidArgument, match="decode"):
            c.stats(decode=True, stream=False)
        c.kill()
        c.wait(timeout=30)
        assert [d["read"] for d in c.stats(decode=True)] == [ZERO_TIME]   # stopped: one, ends
