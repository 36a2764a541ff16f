"""The monitor's report line -> the failed step's label (no monitor run)."""
from pycontainer._core import lib
from pycontainer.runtime import monitor
from pycontainer.runtime.plan import PlanBuilder


def _packed(attach):
    pb = PlanBuilder()
    pb.op(lib.PYC_OP_SYNC, "wait for the cgroup attach")
    plan = pb.build()
    data = monitor.pack(plan, ["sh"], ["PATH=/bin"], 0, attach, [("R", "/x", "")],
                        ["/run.json", "/log", "", "/stop", "/name"], "c1",
                        hooks=[["/bin/true"]])
    return plan, data


def test_attach_step_names_the_cgroup():
    plan, data = _packed(["/cg/memory/pycontainer/c1/cgroup.procs",
                          "/cg/pids/pycontainer/c1/cgroup.procs"])
    assert monitor._step(monitor.STEP_ATTACH, 1, plan, data) == (
        "attach the init to cgroup /cg/pids/pycontainer/c1",
        "/cg/pids/pycontainer/c1/cgroup.procs")
    assert monitor._step(0, -1, plan, data) == ("wait for the cgroup attach", None)
    assert monitor._step(monitor.STEP_START, -1, plan, data)[0].startswith("start the init")
