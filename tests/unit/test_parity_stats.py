"""The stats readers on cgroup v1 and v2 file trees (a temporary directory
stands for the cgroup mounts), in docker's shapes."""
from pycontainer.engine import stats


def _files(d, **files):
    d.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (d / name.replace("__", ".")).write_text(text)
    return str(d)


ATTRS = {"Name": "/web", "State": {"Running": True, "Pid": 0},
         "HostConfig": {"NetworkMode": "bridge"}}


def test_v2_documents(tmp_path):
    base = _files(tmp_path / "unified",
                  cpu__stat="usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n"
                            "nr_periods 4\nnr_throttled 1\nthrottled_usec 7\n",
                  memory__current="4096\n", memory__max="max\n",
                  memory__stat="anon 100\nfile 200\ninactive_file 50\n",
                  pids__current="3\n", pids__max="20\n",
                  io__stat="8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n")
    doc = stats.sample("v2", {"unified": base}, "abc", ATTRS)
    assert doc["cpu_stats"]["cpu_usage"] == {"total_usage": 1500000,
                                             "usage_in_kernelmode": 500000,
                                             "usage_in_usermode": 1000000}
    assert doc["cpu_stats"]["throttling_data"] == {"periods": 4, "throttled_periods": 1,
                                                   "throttled_time": 7000}
    assert doc["cpu_stats"]["system_cpu_usage"] > 0
    mem = doc["memory_stats"]
    assert mem["usage"] == 4096 and mem["stats"]["inactive_file"] == 50 and "max_usage" not in mem
    assert mem["limit"] == stats._mem_total() > 0       # unlimited: the machine's, as dockerd
    assert doc["pids_stats"] == {"current": 3, "limit": 20}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 10},
        {"major": 8, "minor": 0, "op": "write", "value": 20}]
    assert doc["blkio_stats"]["io_serviced_recursive"][1]["value"] == 2
    assert doc["blkio_stats"]["io_queue_recursive"] is None
    assert (doc["name"], doc["id"], doc["preread"]) == ("/web", "abc", stats.ZERO_TIME)


def test_v1_documents(tmp_path):
    dirs = {"cpuacct": _files(tmp_path / "cpuacct", cpuacct__usage="300\n",
                              cpuacct__usage_percpu="100 200 \n", cpuacct__usage_sys="50\n",
                              cpuacct__usage_user="250\n"),
            "cpu": _files(tmp_path / "cpu", cpu__stat="nr_periods 2\nnr_throttled 0\n"
                                                      "throttled_time 0\n"),
            "memory": _files(tmp_path / "memory", memory__usage_in_bytes="8192\n",
                             memory__max_usage_in_bytes="9000\n",
                             memory__limit_in_bytes="67108864\n", memory__failcnt="0\n",
                             memory__stat="cache 10\nrss 20\ntotal_inactive_file 5\n"),
            "pids": _files(tmp_path / "pids", pids__current="1\n", pids__max="max\n"),
            "blkio": _files(tmp_path / "blkio", blkio__io_service_bytes_recursive="",
                            blkio__throttle__io_service_bytes_recursive=(
                                "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n"))}
    doc = stats.sample("v1", dirs, "abc", ATTRS)
    assert doc["cpu_stats"]["cpu_usage"] == {"total_usage": 300, "percpu_usage": [100, 200],
                                             "usage_in_kernelmode": 50,
                                             "usage_in_usermode": 250}
    assert doc["memory_stats"]["max_usage"] == 9000 and doc["memory_stats"]["limit"] == 64 << 20
    assert doc["pids_stats"] == {"current": 1}
    assert doc["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 0}]
    no_blkio = stats.sample("v1", {**dirs, "blkio": str(tmp_path / "none")}, "abc", ATTRS)
    assert no_blkio["blkio_stats"]["io_service_bytes_recursive"] is None


def test_networks_from_net_dev(tmp_path):
    (tmp_path / "42" / "net").mkdir(parents=True)
    (tmp_path / "42" / "net" / "dev").write_text(
        "Inter-|   Receive                            |  Transmit\n"
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes ...\n"
        "    lo:     10       1    0    0    0     0          0         0       10       1"
        "    0    0    0     0       0          0\n"
        "  eth0:   1000      10    1    2    0     0          0         0     2000      20"
        "    3    4    0     0       0          0\n")
    assert stats.networks(42, proc=str(tmp_path)) == {"eth0": {
        "rx_bytes": 1000, "rx_packets": 10, "rx_errors": 1, "rx_dropped": 2,
        "tx_bytes": 2000, "tx_packets": 20, "tx_errors": 3, "tx_dropped": 4}}
    assert stats.networks(0) is None


def test_follow_and_encode():
    a = stats.sample("v2", {"unified": "/nonexistent"}, "x", ATTRS)
    b = stats.follow(a, stats.sample("v2", {"unified": "/nonexistent"}, "x", ATTRS))
    assert b["precpu_stats"] is a["cpu_stats"] and b["preread"] == a["read"]
    assert stats.encode({"a": 1}) == b'{"a": 1}\n'
