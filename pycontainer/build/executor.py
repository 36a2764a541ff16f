"""The build of a parsed Dockerfile: stages in dependency order, one step
per instruction, docker's JSON build messages on the way.

Metadata instructions (``ENV``, ``CMD``, ``LABEL``...) change only the
config and add a history entry with ``empty_layer``; ``RUN``, ``COPY``,
``ADD`` (and a ``WORKDIR`` that has to make its directory) add one layer.
Layer steps go through the cache (cache.py) unless ``nocache``. Stages
that the target does not need are not built, independent ones are built at
the same time (graph.py: each stage on a copy of the builder; what the
copies share is guarded by ``_lock``). A stage's image is stored
(untagged) when a ``RUN`` needs to start from it, when another stage copies
from it, and at its end; so are the layers in it.
"""
import codecs
import contextlib
import datetime
import hashlib
import json
import os
import posixpath
import re
import tempfile
import threading

from .. import fstree
from ..errors import (Conflict, DockerfileError, ImageNotFound, InvalidArgument, NotFound,
                      PyContainerError)
from ..image.changes import apply_changes
from ..image.commit import stage_upper
from ..image.record import now, rfc3339
from ..image.store import target_ref
from . import graph, sources
from .cache import HISTORY_COMMENT, KEY_NOTE, Cache, Lease, cache_sources, digest
from .copying import (CopyJob, _NeedsRead, excludes_of, parse_chmod, probe_digest,
                      remember_tree, tree_digest)
from .dockerfile import parse_instruction
from .layer import LayerWriter, image_kind
from .running import Mounts, check_network, run_options, run_step
from .shell import SubstitutionError, expand, process_word, process_words, split_raw
from .state import PROXY_ARGS, State, check_platform, platform_args

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
LIMIT_KEYS = {"memory": "mem_limit", "memswap": "memswap_limit", "cpushares": "cpu_shares",
              "cpusetcpus": "cpuset_cpus", "cpuquota": "cpu_quota", "cpuperiod": "cpu_period"}


class StepFailed(PyContainerError):
    """A step failed: ``error`` the typed exception, ``exit_code`` for RUN."""

    def __init__(self, message, error=None, exit_code=None):
        super().__init__(message)
        self.error, self.exit_code = error, exit_code


class Builder:
    """One build. :meth:`run` yields docker's messages and returns the image."""

    def __init__(self, engine, ctx, dockerfile, *, buildargs=None, target=None, nocache=False,
                 pull=False, rm=True, forcerm=False, labels=None, network_mode=None,
                 platform=None, tags=(), secrets=None, container_limits=None, extra_hosts=None,
                 shmsize=None, squash=False, cache_from=None):
        self.engine, self.ctx, self.df = engine, ctx, dockerfile
        self.store = engine.image_store
        self.cache = Cache(self.store)
        self.lease = None
        self.buildargs = {k: (None if v is None else str(v)) for k, v in (buildargs or {}).items()}
        self.target, self.nocache, self.pull = target, bool(nocache), bool(pull)
        self.rm, self.forcerm = bool(rm), bool(forcerm)
        self.labels = dict(labels or {})
        self.network_mode = network_mode
        self.platform = platform
        check_platform(platform, "platform")
        self.refs = [target_ref(t, None) for t in tags]      # InvalidArgument before work
        self.secrets = dict(secrets or {})
        self.limits = {}
        for key, value in (container_limits or {}).items():
            if key not in LIMIT_KEYS:
                raise InvalidArgument(f"container_limits: unknown key {key!r}; use "
                                      f"{', '.join(LIMIT_KEYS)}")
            self.limits[LIMIT_KEYS[key]] = value
        self.run_options = run_options(extra_hosts, shmsize)
        self.squash = bool(squash)
        self.cache_sources = cache_sources(engine, cache_from)
        self.used_args = set()
        self.staged = []
        self.pending = []
        self.results = {}           # stage index -> State
        self._shared = {}            # what the stages' workers share (they are copies)
        self._lock = threading.RLock()
        self.jobs = max(2, min(8, os.cpu_count() or 2))
        if "SOURCE_DATE_EPOCH" in self.buildargs:
            self.used_args.add("SOURCE_DATE_EPOCH")
        self.made = []              # images this build added (the intermediate ones go)
        self.done = False
        epoch = self.buildargs.get("SOURCE_DATE_EPOCH") or os.environ.get("SOURCE_DATE_EPOCH")
        try:
            self.epoch = int(epoch) if epoch else None
        except ValueError:
            raise InvalidArgument(f"SOURCE_DATE_EPOCH must be whole seconds, got {epoch!r}") \
                from None
        self.created = (rfc3339(datetime.datetime.fromtimestamp(self.epoch,
                                                               datetime.timezone.utc))
                        if self.epoch is not None else None)

    # -- messages -------------------------------------------------------------

    def say(self, text):
        self.pending.append({"stream": text})

    def flush(self):
        out, self.pending = self.pending, []
        return out

    def when(self):
        return self.created or now()

    # -- the build --------------------------------------------------------------

    def run(self):
        """Yield message dicts; the generator's return value is the record."""
        self.lease = Lease(self.cache.dir)
        try:
            stages, deps = graph.plan(self)
            yield from graph.run_stages(self, stages, deps, self.jobs)
            final = self.results[stages[-1].index]
            if self.squash:
                self.squash_state(final)
            if self.labels:
                labels = dict(final.image_config.get("Labels") or {})
                labels.update(self.labels)
                final.image_config["Labels"] = labels
                final.image_id = None
            unused = sorted(k for k in self.buildargs
                            if k not in self.used_args and k not in PROXY_ARGS)
            if unused:
                self.say(f"[Warning] One or more build-args {unused} were not consumed\n")
            image_id = self.materialize(final, self.refs)
            record = self.store.get(image_id)
            self.pending.append({"aux": {"ID": record.id}})
            self.say(f"Successfully built {record.id[7:19]}\n")
            for ref in self.refs:
                self.say(f"Successfully tagged {ref.familiar}\n")
            # docker's legacy builder journals no build; the journal's readers want one
            self.engine.events.emit("image", "build", record.id, {
                "name": self.refs[0].familiar if self.refs else record.id})
            self.done = True
            yield from self.flush()
            return record
        finally:
            if self.done:            # a failed build keeps them: they hold its cache
                self.drop_intermediates()
            self.store.discard(self.staged)
            self.lease.close()
            if self._shared.get("secrets"):
                fstree.remove(self._shared["secrets"])

    def drop_intermediates(self):
        """Remove the images made only to start a RUN from or to copy from,
        as docker hides its intermediate images: their layers are a prefix
        of their stage's image, which is kept (the cache needs them)."""
        keep = {st.image_id for st in self.results.values()}

        def remove(image_id):
            with contextlib.suppress(NotFound, Conflict):
                self.store.remove(image_id)
        self.lease.drop(remove, [i for i in self.made if i not in keep])

    def meta_scope(self):
        scope = platform_args(self.platform)
        for inst in self.df.meta_args:
            for name, default in self.arg_pairs(inst, scope):
                value = self.buildargs.get(name, default)
                if name in self.buildargs:
                    self.used_args.add(name)
                if value is not None:
                    scope[name] = value
        return scope

    def arg_pairs(self, inst, scope):
        out = []
        for word in split_raw(inst.args, self.df.escape):
            name, eq, value = word.partition("=")
            out.append((name, self.sub(inst, value, scope) if eq else None))
        return out

    def sub(self, inst, text, scope, words=False):
        try:
            if words:
                return process_words(text, scope, self.df.escape, self.used_args)
            return process_word(text, scope, self.df.escape, self.used_args)
        except SubstitutionError as err:
            raise inst.error(str(err), inst.args_column + err.offset) from None

    def expand(self, inst, text, scope):
        """Variables only (quotes stay): a heredoc's body."""
        try:
            return expand(text, scope, self.df.escape, self.used_args)
        except SubstitutionError as err:
            raise inst.error(str(err)) from None

    # -- FROM ---------------------------------------------------------------------

    def from_(self, stage):
        inst = stage.source
        scope = self.meta_scope()
        base = self.sub(inst, stage.base, scope)
        if stage.platform:
            check_platform(self.sub(inst, stage.platform, scope), f"line {inst.line}: FROM")
        earlier = {s.name: s.index for s in self.df.stages[:stage.index] if s.name}
        if base.lower() in earlier and earlier[base.lower()] in self.results:
            state = self.results[earlier[base.lower()]].copy()
        elif base == "scratch":
            state = State.scratch()
        else:
            state = State.of_record(self.base_image(base, inst))
        state.args = {}
        state.cmd_set = False
        state.base_layers = len(state.layers)          # what squash keeps
        state.base_history = len(state.config.get("history") or [])
        self.meta = scope
        if state.image_id:
            self.say(f" ---> {state.image_id[7:19]}\n")
        self.state = state
        triggers = state.image_config.pop("OnBuild", None) or []
        if triggers:
            state.image_id = None
            self.say(f"# Executing {len(triggers)} build trigger"
                     f"{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                trigger, _ = parse_instruction(text, inst.line, inst.column, inst.filename,
                                               escape=self.df.escape)
                self.execute(trigger)
        return state

    def base_image(self, ref, inst):
        """The record of image ``ref``: local, or pulled (the one seam for it)."""
        pull = getattr(self.engine.images, "pull", None)
        if self.pull and pull is not None:
            return pull(ref, platform=self.platform)
        try:
            return self.engine.images.get(ref)
        except ImageNotFound as err:
            if pull is None:
                raise ImageNotFound(
                    f"{inst.filename}:{inst.line}: base image {ref!r} is not in the local "
                    "store, and pulling needs the registry client (not available): load or "
                    "build it first") from err
            try:
                return pull(ref, platform=self.platform)
            except PyContainerError as failed:
                raise ImageNotFound(
                    f"{inst.filename}:{inst.line}: base image {ref!r} is not in the local "
                    f"store, and pulling it failed: {failed}") from failed

    # -- steps --------------------------------------------------------------------

    def execute(self, inst):
        handler = getattr(self, "do_" + inst.keyword.lower())
        try:
            handler(inst)
        except (NotFound, InvalidArgument) as err:
            if isinstance(err, DockerfileError) or str(err).startswith(inst.filename + ":"):
                raise
            try:     # the same typed error, saying which line it comes from
                located = type(err)(f"{inst.filename}:{inst.line}: {err}")
            except TypeError:
                raise err from None
            raise located from err

    def history(self, text, empty=True):
        """A metadata step's entry; its date is cached like a layer step's, so
        that a rebuild from the cache is the same image, as docker's is."""
        created, key = self.created, digest("meta", self.state.key(), text)
        if created is None and not self.nocache:
            if self.cache_sources is None:
                created = self.cache.date(key)
            else:
                created = (self.cache_sources.get(key) or {}).get("created")
            if created is not None:
                self.say(" ---> Using cache\n")
        if created is None:
            created = self.created or now()
            self.cache.put(key, {"created": created})
        self.state.add_history(text, created, empty, f"{HISTORY_COMMENT} {KEY_NOTE}{key}")

    def pairs(self, inst):
        """ENV/LABEL ``k=v ...`` (or the legacy ``k v``), substituted."""
        scope = self.state.scope()
        words = split_raw(inst.args, self.df.escape)
        if words and "=" not in words[0]:
            key, _, rest = inst.args.strip().partition(" ")
            if not rest.strip():
                raise inst.error(f"{inst.keyword} {key} needs a value")
            return [(key, self.sub(inst, rest.strip(), scope))]
        out = []
        for word in words:
            key, eq, value = word.partition("=")
            if not eq or not key:
                raise inst.error(f"{inst.keyword}: {word!r} is not key=value")
            out.append((self.sub(inst, key, scope), self.sub(inst, value, scope)))
        return out

    def do_env(self, inst):
        pairs = self.pairs(inst)
        for key, value in pairs:
            self.state.set_env(key, value)
        self.history("ENV " + " ".join(f"{k}={v}" for k, v in pairs))

    def do_label(self, inst):
        pairs = self.pairs(inst)
        labels = dict(self.state.image_config.get("Labels") or {})
        labels.update(pairs)
        self.state.image_config["Labels"] = labels
        self.history("LABEL " + " ".join(f"{k}={v}" for k, v in pairs))

    def do_maintainer(self, inst):
        self.state.config["author"] = inst.args.strip()
        self.history(f"MAINTAINER {inst.args.strip()}")

    def do_arg(self, inst):
        for name, default in self.arg_pairs(inst, self.state.scope()):
            if name in self.buildargs:
                self.used_args.add(name)
                value = self.buildargs[name]
            elif default is None and name in self.meta:
                value = self.meta[name]
            else:
                value = default
            self.state.args[name] = value

    def _command(self, inst):
        if inst.json is not None:
            return inst.json
        return self.state.shell() + [inst.args.strip()]

    def do_cmd(self, inst):
        self.state.image_config["Cmd"] = self._command(inst)
        self.state.cmd_set = True
        self.history(f"CMD {_show(self.state.image_config['Cmd'])}")

    def do_entrypoint(self, inst):
        cfg = self.state.image_config
        cfg["Entrypoint"] = self._command(inst)
        if not self.state.cmd_set:
            cfg.pop("Cmd", None)     # docker: a new ENTRYPOINT resets the base's CMD
        self.history(f"ENTRYPOINT {_show(cfg['Entrypoint'])}")

    def do_shell(self, inst):
        self.state.image_config["Shell"] = inst.json
        self.history(f"SHELL {_show(inst.json)}")

    def do_onbuild(self, inst):
        cfg = self.state.image_config
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [inst.args.strip()]
        self.history(f"ONBUILD {inst.args.strip()}")

    def _change(self, inst, keyword, value):
        try:
            apply_changes(self.state.image_config, [f"{keyword} {value}"])
        except InvalidArgument as err:
            raise inst.error(str(err)) from None
        self.history(f"{keyword} {value}")

    def do_expose(self, inst):
        self._change(inst, "EXPOSE", " ".join(self.sub(inst, inst.args, self.state.scope(),
                                                       words=True)))

    def do_user(self, inst):
        self._change(inst, "USER", self.sub(inst, inst.args.strip(), self.state.scope()))

    def do_stopsignal(self, inst):
        self._change(inst, "STOPSIGNAL", self.sub(inst, inst.args.strip(),
                                                  self.state.scope()))

    def do_volume(self, inst):
        paths = inst.json if inst.json is not None else self.sub(
            inst, inst.args, self.state.scope(), words=True)
        if not paths:
            raise inst.error("VOLUME requires at least one argument")
        cfg = self.state.image_config
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths}}
        self.history(f"VOLUME {_show(paths)}")

    def do_healthcheck(self, inst):
        cfg = self.state.image_config
        words = inst.args.split(None, 1)
        kind = words[0].upper()
        if kind == "NONE":
            if len(words) > 1 or inst.flags:
                raise inst.error("HEALTHCHECK NONE takes no other arguments")
            cfg["Healthcheck"] = {"Test": ["NONE"]}
        elif kind == "CMD":
            if len(words) < 2:
                raise inst.error("HEALTHCHECK CMD needs a command")
            rest = words[1]
            from .dockerfile import json_form
            test = json_form(rest)
            check = {"Test": ["CMD"] + test if test is not None else ["CMD-SHELL", rest.strip()]}
            for flag, key in (("interval", "Interval"), ("timeout", "Timeout"),
                              ("start-period", "StartPeriod"),
                              ("start-interval", "StartInterval")):
                if inst.flag(flag) is not None:
                    check[key] = _duration(inst.flag(flag), inst, flag)
            if inst.flag("retries") is not None:
                try:
                    check["Retries"] = int(inst.flag("retries"))
                except ValueError:
                    raise inst.error(f"--retries={inst.flag('retries')}: not a number") from None
            cfg["Healthcheck"] = check
        else:
            raise inst.error("HEALTHCHECK takes CMD <command> or NONE")
        self.history(f"HEALTHCHECK {inst.args.strip()}")

    def do_workdir(self, inst):
        cfg = self.state.image_config
        path = self.sub(inst, inst.args.strip(), self.state.scope())
        path = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))
        cfg["WorkingDir"] = path
        self.state.image_id = None
        if image_kind(self.state.layer_dirs, path) == "dir":
            self.history(f"WORKDIR {path}")
            return
        writer = LayerWriter(self.store.tmp_dir, self.epoch)
        CopyJob(writer, self.state.layer_dirs).parents(path + "/x")
        self.layer_step(f"WORKDIR {path}", ("workdir", path), writer)

    # -- layer steps ------------------------------------------------------------

    def layer_step(self, created_by, key_parts, writer=None, make=None):
        """Add the step's layer: from the cache when it has it, else from
        ``writer`` (a LayerWriter) or ``make()`` (a StagedLayer)."""
        key = digest("step", self.state.key(), created_by, key_parts)
        if self.nocache:
            entry = None
        elif self.cache_sources is None:
            entry = self.cache.get(key)
        else:           # cache_from: those images' steps only, as docker's legacy builder
            entry = self.cache_sources.get(key)
            if entry is not None and "diff_id" in entry and self.store.has_layer(
                    entry["diff_id"]):
                self.cache.put(key, entry)      # its layer is local: ours from now on
            else:
                entry = None
        if entry is not None:
            if writer is not None:
                writer.close()
            self.say(" ---> Using cache\n")
            diff_id = entry["diff_id"]
            self.state.add_layer(diff_id, self.store.layer_path(diff_id))
            created = self.created or entry.get("created") or now()
        else:
            try:
                staged = writer.stage(self.store) if writer is not None else make()
            finally:
                if writer is not None:
                    writer.close()
            self.staged.append(staged)
            self.state.add_layer(staged, os.path.join(staged.path, "diff"))
            created = self.when()
            self.cache.put(key, {"diff_id": staged.diff_id, "created_by": created_by,
                                 "created": created})
        # a hit keeps the date the step was made: a rebuild is the same image
        self.state.add_history(created_by + " # buildkit", created, False,
                               f"{HISTORY_COMMENT} {KEY_NOTE}{key}")

    def squash_state(self, state):
        """The stage's own layers (since its FROM) as one, as docker's --squash."""
        from .squash import squash_layers
        n = state.base_layers
        if len(state.layers) - n < 2:
            return
        staged = squash_layers(self.store, state.layer_dirs[:n], state.layer_dirs[n:],
                               self.epoch)
        self.staged.append(staged)
        state.layers = state.layers[:n] + [staged]
        state.layer_dirs = state.layer_dirs[:n] + [os.path.join(staged.path, "diff")]
        history = state.config.get("history") or []
        own = [h for h in history[state.base_history:] if not h.get("empty_layer")]
        for h in own[:-1]:
            h["empty_layer"] = True        # docker: the squashed steps keep their entries
        state.image_id = None

    def materialize(self, state, refs=()):
        """Store ``state`` as an image (its staged layers published); its ID."""
        with self._lock:          # two stages may copy from one finished stage
            return self._materialize(state, refs)

    def _materialize(self, state, refs):
        if state.image_id and not refs:
            return state.image_id
        config = dict(state.config)
        config["created"] = (config.get("history") or [{}])[-1].get("created") or self.when()
        config["rootfs"] = {"type": "layers", "diff_ids": state.diff_ids()}
        data = json.dumps(config, separators=(",", ":")).encode()
        image_id = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            self.store.get(image_id)
        except NotFound:
            self.made.append(image_id)      # new: ours to drop if intermediate
        with self.lease.using(image_id):
            record = self.store.add_image(data, state.layers, list(refs))
        state.layers = state.diff_ids()
        state.layer_dirs = [self.store.layer_path(d) for d in state.layers]
        state.image_id = record.id
        return record.id

    def do_run(self, inst):
        state = self.state
        if inst.json is not None:
            argv = inst.json
        elif inst.heredocs and inst.args.strip() == f"<<{_marker(inst)}":
            argv = state.shell() + [inst.heredocs[0].content]
        elif inst.heredocs:
            argv = state.shell() + [_with_heredocs(inst)]
        else:
            argv = state.shell() + [inst.args.strip()]
        scope = state.scope()
        mounts_text = [self.sub(inst, m, scope) for m in inst.flags.get("mount") or ()]
        network = check_network(inst.flag("network"), inst) or self.network_mode
        env = {k: v for k, v in state.args.items() if v is not None and k not in state.env}
        shown_args = dict(env)
        for name in PROXY_ARGS:
            if name in self.buildargs and self.buildargs[name] is not None:
                env[name] = self.buildargs[name]
                self.used_args.add(name)
        prefix = (f"|{len(shown_args)} " + " ".join(f"{k}={v}" for k, v in
                                                    sorted(shown_args.items())) + " "
                  if shown_args else "")
        created_by = f"RUN {prefix}{_show(argv) if inst.json is not None else ' '.join(argv)}"
        mounts = Mounts(self, inst, mounts_text)
        try:
            self.layer_step(created_by, ("run", argv, sorted(env.items()), mounts.key,
                                         network),
                            make=lambda: self._run(inst, argv, env, mounts, network))
        finally:
            mounts.close()

    def _run(self, inst, argv, env, mounts, network):
        image_id = self.materialize(self.state)
        status, output, cid, upper = run_step(self, image_id, argv,
                                              [f"{k}={v}" for k, v in env.items()],
                                              mounts, network)
        staged = None
        try:
            if cid is not None:
                self.say(f" ---> Running in {cid[:12]}\n")
            decoders = {}
            for stream, chunk in output + [(name, None) for name in ("stdout", "stderr")]:
                dec = decoders.setdefault(stream, codecs.getincrementaldecoder("utf-8")("replace"))
                text = dec.decode(chunk or b"", final=chunk is None)   # None: a cut sequence's end
                if text:        # stderr in red, as docker's legacy builder sends it
                    self.say(f"\x1b[91m{text}\x1b[0m" if stream == "stderr" else text)
            if status:
                shown = _show(argv) if inst.json is not None else " ".join(argv)
                raise StepFailed(f"The command '{shown}' returned a non-zero code: {status}",
                                 exit_code=status)
            staged = stage_upper(self.store, upper, self.epoch)
        finally:
            if cid is not None and (self.forcerm or (self.rm and staged is not None)):
                with contextlib.suppress(NotFound):
                    self.engine.containers.remove(cid, force=True, v=True)
                self.say(f"Removing intermediate container {cid[:12]}\n")
        return staged

    def bind_source(self, source, inst):
        """A context path for ``RUN --mount=type=bind``: the host path of the
        directory or file (checked to stay inside) and its content digest."""
        fd = self.ctx.open(source, os.O_PATH, "RUN --mount")
        try:
            host = os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        writer = LayerWriter(self.store.tmp_dir, self.epoch)
        try:
            job = CopyJob(writer, [])
            job.add_tree(self.ctx, sources.clean(source), "/x", True)
            return host, job.digest()
        finally:
            writer.close()

    def secret_dir(self):
        with self._lock:          # stages run in threads: one dir for the build
            if not self._shared.get("secrets"):
                self._shared["secrets"] = tempfile.mkdtemp(prefix="pyc-secrets-",
                                                           dir=self.engine.runtime.run_root)
            return self._shared["secrets"]

    def do_copy(self, inst):
        self._copy(inst, add=False)

    def do_add(self, inst):
        self._copy(inst, add=True)

    def _copy(self, inst, add):
        state, what = self.state, inst.keyword
        scope = state.scope()
        words = inst.json if inst.json is not None else self.sub(inst, inst.args, scope,
                                                                 words=True)
        if len(words) < 2:
            raise inst.error(f"{what} requires at least two arguments")
        dest, srcs = words[-1], words[:-1]
        workdir = state.image_config.get("WorkingDir") or "/"
        dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
        dir_dest = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
        chown = inst.flag("chown")
        spec = dict(
            owner=self.owner(self.sub(inst, chown, scope), inst) if chown else None,
            chmod=parse_chmod(self.sub(inst, inst.flag("chmod"), scope)
                              if inst.flag("chmod") else None, inst),
            keep_owner=bool(inst.flag("from")))
        excludes = excludes_of([self.sub(inst, e, scope) for e in inst.flags.get("exclude")
                                or ()])
        parents = bool(inst.flag("parents"))
        source_from = inst.flag("from")
        docs = {d.name: d for d in inst.heredocs}
        opened = []
        try:
            plan = []
            for src in srcs:
                if src.startswith("<<") and src.lstrip("<-").strip("'\"") in docs:
                    plan.append(("doc", docs[src.lstrip("<-").strip("'\"")]))
                elif add and sources.is_url(src):
                    plan.append(("url", src))
                elif source_from:
                    ctx, rel, _ = self.from_context(self.sub(inst, source_from, scope), src,
                                                    inst, in_place=True)
                    opened.append(ctx)
                    plan += [("path", ctx, r) for r in ctx.expand(rel, what)]
                else:
                    plan += [("path", self.ctx, r) for r in self.ctx.expand(src, what)]
            if len(plan) > 1 and not dir_dest and image_kind(state.layer_dirs,
                                                              dest_abs) != "dir":
                raise inst.error(f"When using {what} with more than one source file, the "
                                 "destination must be a directory and end with a /")
            into = dir_dest or len(plan) > 1
            flags = " ".join(f"--{k}={v[-1]}" if v[-1] is not None else f"--{k}"
                             for k, v in inst.flags.items() if k != "exclude")
            created_by = f"{what} {flags + ' ' if flags else ''}{' '.join(srcs)} {dest}"

            def fill(job):
                for item in plan:
                    if item[0] == "doc":
                        doc = item[1]
                        content = doc.content
                        if doc.expand:
                            content = self.expand(inst, content, scope)
                        target = posixpath.join(dest_abs, doc.name) if into else dest_abs
                        job.add_bytes(target, content.encode())
                    elif item[0] == "url":
                        if job.probe:
                            raise _NeedsRead(item[1])
                        sources.add_url(job, item[1], dest_abs, into, inst,
                                        self.sub(inst, inst.flag("checksum"), scope)
                                        if inst.flag("checksum") else None)
                    else:
                        _, ctx, rel = item
                        archive = add and sources.archive_of(ctx, rel, self.store.tmp_dir)
                        if archive is not None and archive is not False:
                            opened.append(archive)
                            if job.probe:
                                raise _NeedsRead(rel)
                            keep = job.keep_owner
                            job.keep_owner = True
                            job.add_tree(archive, "", dest_abs, True, what=what)
                            job.keep_owner = keep
                        else:
                            job.add_tree(ctx, rel, dest_abs, into, parents, excludes, what)

            def write():
                writer = LayerWriter(self.store.tmp_dir, self.epoch)
                try:
                    job = CopyJob(writer, state.layer_dirs, **spec)
                    fill(job)
                    return writer, job
                except BaseException:
                    writer.close()
                    raise

            known = tree = None
            if not self.nocache:
                tree = self._tree_key(plan, state, spec, inst, scope, parents, into, dest_abs,
                                      created_by)
                known = tree and tree_digest(tree[0])
                if not known:
                    known = probe_digest(state.layer_dirs, spec, fill)
                    if known is not None and tree:
                        remember_tree(tree[0], known, tree[1])
            if known is None:       # every byte read once: hashed as it is written
                writer, job = write()
                self.layer_step(created_by, ("copy", job.digest()), writer)
            else:                   # the digest without reading: written on a miss only
                def make():
                    writer, _ = write()
                    try:
                        return writer.stage(self.store)
                    finally:
                        writer.close()
                self.layer_step(created_by, ("copy", known), make=make)
        finally:
            for ctx in opened:
                ctx.close()

    def _tree_key(self, plan, state, spec, inst, scope, parents, into, dest_abs, created_by):
        """(what a probe of this COPY depends on, the snapshot's newest ctime), or
        None: sources other than this build's context, or no snapshot of it."""
        if not plan or any(item[0] != "path" or item[1] is not self.ctx for item in plan):
            return None
        snap = self.ctx.snapshot()
        if snap is None:
            return None
        excludes = tuple(self.sub(inst, e, scope) for e in inst.flags.get("exclude") or ())
        return ((snap[0], self.ctx.path, self.ctx.ignore_text, tuple(state.diff_ids()),
                 repr(sorted(spec.items())), excludes, parents, into, dest_abs, created_by,
                 tuple(item[2] for item in plan)), snap[1])

    def owner(self, spec, inst):
        from ..engine import users
        user, sep, group = spec.partition(":")
        try:
            who = users.lookup(spec, self.state.layer_dirs)
        except InvalidArgument as err:
            raise inst.error(f"--chown={spec}: {err}") from None
        if not sep and user.isdigit():
            return who.uid, who.uid          # docker: a lone UID is the GID too
        return who.uid, who.gid

    def from_context(self, value, src, inst, in_place=False):
        """``COPY --from`` and ``RUN --mount=type=bind,from=``: the source's
        files from a stage or an image, as a context of their own (taken out
        through the engine's get_archive; ``in_place``: read from the store's
        layer when one layer holds them all, for a COPY, which only reads):
        ``(context, path in it, image ID)``."""
        index = {s.name: s.index for s in self.df.stages if s.name}
        if value.lower() in index and index[value.lower()] in self.results:
            state = self.results[index[value.lower()]]
            image_id = self.materialize(state)
            layer_dirs = state.layer_dirs
        elif value.isdigit() and int(value) in self.results:
            state = self.results[int(value)]
            image_id = self.materialize(state)
            layer_dirs = state.layer_dirs
        else:
            record = self.base_image(value, inst)
            image_id, layer_dirs = record.id, record.layer_dirs
        found = sources.layer_context(layer_dirs, src) if in_place else None
        if found is not None:
            return found[0], found[1], image_id
        ctx, rel = sources.image_context(self.engine, image_id, src, self.store.tmp_dir)
        return ctx, rel, image_id


def _marker(inst):
    m = re.search(r"<<-?['\"]?([a-zA-Z_][a-zA-Z0-9_]*)", inst.args)
    return m.group(0)[2:] if m else ""


def _with_heredocs(inst):
    """A shell command with its heredoc bodies, for the shell to read."""
    text = inst.args.strip()
    for doc in inst.heredocs:
        text += "\n" + doc.content + doc.name
    return text


def _show(value):
    return json.dumps(value)


def _duration(text, inst, flag):
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise inst.error(f"--{flag}={text}: not a duration such as 30s or 1m30s")
    return int(total)


