"""BuildKit's scheduling of stages: the target's stages form a graph (a
stage depends on its ``FROM`` stage and on every stage it copies or
mounts from), stages the target does not need are skipped, and a stage
starts as soon as the stages it needs are done, so independent stages
build at the same time (one thread a stage, each a copy of the builder
with a state and a message relay of its own).

The messages stay in Dockerfile order, as docker prints them: the first
unfinished stage streams live, later stages' messages wait in a buffer
until the stages before them are done. When a stage fails no new stage
starts; the running ones finish (their layers are cached), then the
failure is raised.
"""
import concurrent.futures
import copy
import queue

from .shell import process_word


def plan(builder):
    """``(stages, deps)``: the stages the target needs, in order, and per
    stage index the indexes of the stages it needs."""
    df = builder.df
    stages = df.stages
    by_name = {s.name: s for s in stages if s.name}
    target = df.stage(builder.target)
    scope = builder.meta_scope()

    def ref(value, before):
        value = process_word(value, scope, df.escape)
        s = by_name.get(value.lower())
        if s is None and value.isdigit() and int(value) < before:
            s = stages[int(value)]
        return s if s is not None and s.index < before else None

    deps, todo = {}, [target]
    while todo:
        s = todo.pop()
        if s.index in deps:
            continue
        names = [s.base] + [v for i in s.instructions if i.keyword == "COPY"
                            for v in i.flags.get("from") or ()]
        names += [opt.strip()[5:] for i in s.instructions if i.keyword == "RUN"
                  for m in i.flags.get("mount") or () for opt in m.split(",")
                  if opt.strip().startswith("from=")]
        found = [d for d in (ref(n, s.index) for n in names) if d is not None]
        deps[s.index] = {d.index for d in found}
        todo += found
    return [s for s in stages if s.index in deps], deps


class _Relay:
    """A stage's ``pending`` list: each message goes to the scheduler."""

    def __init__(self, events, index):
        self.events, self.index = events, index

    def append(self, message):
        self.events.put(("msg", self.index, message))


def run_stages(builder, stages, deps, jobs):
    """Build ``stages``; yields their messages in order. Fills
    ``builder.results`` (stage index -> State) as stages finish."""
    total = sum(1 + len(s.instructions) for s in stages)
    first, step = {}, 0
    for s in stages:
        first[s.index] = step
        step += 1 + len(s.instructions)
    events = queue.Queue()
    waiting = {s.index: s for s in stages}
    order = [s.index for s in stages]
    buffers = {i: [] for i in order}
    running, head, failure = set(), 0, None
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs),
                                               thread_name_prefix="pyc-build") as pool:
        while True:
            if failure is None:
                for index in [i for i in order if i in waiting and
                              deps[i] <= builder.results.keys()]:
                    running.add(index)
                    pool.submit(_build_stage, builder, waiting.pop(index), first[index] + 1,
                                total, events, index == order[-1])
            if not running:
                break
            kind, index, value = events.get()
            if kind == "msg":
                buffers[index].append(value)
            elif kind == "done":
                running.discard(index)
                builder.results[index] = value
            else:
                running.discard(index)
                failure = failure or value
            while head < len(order):
                yield from buffers[order[head]]
                buffers[order[head]] = []
                if order[head] not in builder.results:
                    break
                head += 1
    for index in order[head:]:
        yield from buffers[index]
    if failure is not None:
        raise failure


def _build_stage(builder, stage, step, total, events, last):
    worker = copy.copy(builder)
    worker.pending = _Relay(events, stage.index)
    try:
        worker.say(f"Step {step}/{total} : {stage.source.original}\n")
        worker.state = worker.from_(stage)
        for inst in stage.instructions:
            step += 1
            worker.say(f"Step {step}/{total} : {inst.original}\n")
            worker.execute(inst)
        if not last:        # stored now: its layers stay cached if another stage fails
            worker.materialize(worker.state)
        events.put(("done", stage.index, worker.state))
    except BaseException as err:        # noqa: BLE001 (raised again by run_stages)
        events.put(("fail", stage.index, err))
