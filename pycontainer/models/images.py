"""Images, with docker-py's names: ``client.images.get/list/remove/prune/load/
import_image`` and :class:`Image` (``tags``, ``history()``, ``tag()``, ``save()``)."""
from .. import errors as _errors
from ..errors import InvalidArgument
from .base import Collection, Model

DEFAULT_CHUNK = 2 << 20  # docker-py's DEFAULT_DATA_CHUNK_SIZE


def _epoch(text):
    """RFC 3339 -> seconds since the epoch (docker's history ``Created``)."""
    if not text:
        return 0
    import datetime             # here: `import pycontainer` stays cheap
    try:
        when = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
        return int(when.replace(tzinfo=datetime.timezone.utc).timestamp())
    except ValueError:
        return 0


class Image(Model):
    """An image: ``id``, ``short_id``, ``tags``, ``labels``, ``attrs``.

    >>> img = client.images.get("busybox")
    >>> img.tags, img.short_id
    (['busybox:latest'], 'sha256:6d3e4188a38a')
    """

    def __init__(self, client, record):   # attrs are computed from the record
        self.client = client
        self.record = record

    def __repr__(self):
        return f"<Image: {', '.join(repr(t) for t in self.tags) or self.short_id}>"

    id = property(lambda self: self.record.id)
    short_id = property(lambda self: self.record.short_id)
    tags = property(lambda self: list(self.record.tags))

    @property
    def labels(self):
        return ((self.record.config or {}).get("config") or {}).get("Labels") or {}

    @property
    def attrs(self):
        """``docker image inspect``'s fields."""
        cfg = self.record.config or {}
        history = cfg.get("history") or []
        return {"Id": self.id, "RepoTags": self.tags,
                "RepoDigests": [_familiar_digest(d) for d in self.record.repo_digests],
                "Parent": self.record.parent,
                "Comment": (history[-1].get("comment", "") if history else ""),
                "Created": cfg.get("created"), "Author": cfg.get("author", ""),
                "Config": cfg.get("config") or {}, "Architecture": cfg.get("architecture"),
                "Os": cfg.get("os"), "Size": self.record.size,
                "RootFS": {"Type": "layers", "Layers": self.record.diff_ids}}

    def reload(self):
        """Refresh from the store (tags may have moved)."""
        self.record = self.client._backend.images.get(self.id)

    def history(self):
        """The build steps, newest first, as ``docker history`` gives them.

        >>> [h["Comment"] for h in client.images.get("busybox").history()]
        ['pycontainer embedded busybox']
        """
        cfg = self.record.config or {}
        sizes = list(self.record.layer_sizes)
        out = []
        for step in cfg.get("history") or [{}] * len(sizes):
            size = 0 if step.get("empty_layer") or not sizes else sizes.pop(0)
            out.append({"Id": "<missing>", "Created": _epoch(step.get("created")),
                        "CreatedBy": step.get("created_by", ""), "Tags": None, "Size": size,
                        "Comment": step.get("comment", "")})
        out.reverse()
        if out:
            out[0].update(Id=self.id, Tags=self.tags or None)
        return out

    def tag(self, repository, tag=None, **kwargs):
        """Add a reference to the image (moving it from any other image).

        >>> client.images.get("busybox").tag("mybox", "v1")
        True
        """
        self.record = self.client._backend.images.tag(self.id, repository, tag)
        return True

    def remove(self, force=False, noprune=False):
        """Remove this image (``client.images.remove(self.id, ...)``)."""
        return self.client.images.remove(self.id, force=force, noprune=noprune)

    def save(self, chunk_size=DEFAULT_CHUNK, named=False):
        """The image as a tar stream (docker-archive + OCI layout), in chunks.

        Args:
            chunk_size: bytes per chunk.
            named: False saves it by ID (no name in the archive, as docker-py
                does), True under its first tag, or a string: that tag.

        >>> with open("busybox.tar", "wb") as f:
        ...     for chunk in client.images.get("busybox").save(named=True):
        ...         f.write(chunk)
        """
        ref = self.id
        if named is True:
            ref = self.tags[0] if self.tags else self.id
        elif isinstance(named, str):
            check_named(self.tags, named)
            ref = named
        return self.client._backend.images.save([ref], chunk_size)


class ImageCollection(Collection):
    """``client.images``."""

    model = Image

    @property
    def _engine(self):
        return self.client._backend.images

    def get(self, name):
        """An image by reference, id or unique id prefix; ImageNotFound otherwise.

        >>> client.images.get("busybox:latest").tags
        ['busybox:latest']
        """
        return Image(self.client, self._engine.get(name))

    def list(self, name=None, all=False, filters=None):
        """Images, newest first.

        Args:
            name: only this repository (``busybox``) or reference (``busybox:1``).
            all: accepted for docker-py; there are no intermediate images.
            filters: ``dangling`` (bool), ``label`` (``key`` or ``key=value``,
                one or a list), ``reference`` (glob on ``repo:tag``),
                ``before`` / ``since`` (an image).

        >>> client.images.list(filters={"dangling": True})
        []
        """
        return [Image(self.client, rec) for rec in self._engine.list(name, filters)]

    def remove(self, image, force=False, noprune=False):
        """Untag or delete an image, like ``docker rmi``.

        A tag of an image with other tags is only untagged; otherwise the
        image goes, with the layers no other image or container uses.
        Raises Conflict when a container uses it (unless ``force``).

        >>> client.images.remove("mybox:v1")
        [{'Untagged': 'mybox:v1'}]
        """
        if isinstance(image, Image):
            image = image.id
        return self._engine.remove(image, force=force)

    def prune(self, filters=None):
        """Delete untagged images that no container uses, then unused layers.

        ``filters``: ``{"dangling": False}`` also prunes unused tagged images;
        ``label`` / ``label!`` select by label; ``until`` keeps images created
        after it (unix seconds, RFC 3339 or a duration such as ``"24h"``).
        Any other key raises InvalidArgument.

        >>> client.images.prune()
        {'ImagesDeleted': [], 'SpaceReclaimed': 0}
        """
        return self._engine.prune(filters)

    def load(self, data):
        """Load images from a ``docker save`` archive or an OCI image layout.

        ``data``: bytes, a binary file object, or a path (tar or OCI layout dir).
        Returns the loaded Images.

        >>> client.images.load(open("busybox.tar", "rb"))
        [<Image: 'busybox:latest'>]
        """
        return [Image(self.client, r) for r in self._engine.load(data)]

    def import_image(self, src, repository=None, tag=None, changes=None):
        """Import a rootfs tarball (path, file object or bytes) as a one-layer image,
        like ``docker import``.

        Raises NotFound when the path does not exist, InvalidArgument when it is a
        directory, ImageError when the tar is malformed.

        >>> client.images.import_image("rootfs.tar.gz", "app", "1").tags
        ['app:1']
        """
        return Image(self.client, self._engine.import_image(src, repository=repository, tag=tag,
                                                            changes=changes))

    def pull(self, repository, tag=None, all_tags=False, platform=None, auth_config=None,
             stream=False, decode=False):
        """Pull an image from its registry, as docker-py does.

        Args:
            repository: ``busybox``, ``localhost:5000/app``; may carry the tag
                or ``@sha256:`` digest.
            tag: the tag (or a ``sha256:`` digest); default the one in
                ``repository``, else ``latest``.
            all_tags: pull every tag of the repository (returns a list).
            platform: ``os/arch[/variant]``; default this machine's.
            auth_config: ``{"username": .., "password": ..}`` for this pull.
            stream: instead of the Image, return docker's progress stream
                (JSON lines as bytes, or dicts with ``decode=True``).

        Returns:
            The :class:`Image` (a list with ``all_tags``), or the stream.

        Raises:
            ImageNotFound: no such image, or none for this platform.
            ImageError: a blob or manifest failed its checks (nothing kept).
            RegistryError, Unauthorized: the registry refused or was unreachable.

        >>> client.images.pull("localhost:5000/app", "1").tags
        ['localhost:5000/app:1']
        """
        ref = _pull_ref(repository, tag)
        if all_tags:
            name = ref.split("@")[0].rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
            tags = self._engine.registry_tags(name, auth_config=auth_config)
            return [self.pull(name, t, platform=platform, auth_config=auth_config)
                    for t in tags]
        got = self._engine.pull(ref, platform=platform, auth_config=auth_config, stream=stream)
        if stream:
            import json
            return got if decode else (json.dumps(e).encode() + b"\r\n" for e in got)
        return Image(self.client, got)

    def push(self, repository, tag=None, stream=False, decode=False, auth_config=None):
        """Push an image to its registry, sending only the blobs it lacks.

        Returns:
            docker's progress output: one string of JSON lines, or with
            ``stream=True`` a generator of them (dicts with ``decode=True``).
            The last event's ``aux`` holds ``Tag``, ``Digest`` and ``Size``.

        Raises:
            ImageNotFound: no such local image.
            RegistryError, Unauthorized: the registry refused it.

        >>> client.images.push("localhost:5000/app", "1")
        '{"status": "The push refers to repository [localhost:5000/app]"}\r\n...'
        """
        ref = repository if tag is None else f"{repository}:{tag}"
        events = self._engine.push(ref, auth_config=auth_config, stream=True)
        import json
        if stream:
            return events if decode else (json.dumps(e).encode() + b"\r\n" for e in events)
        return "".join(json.dumps(e) + "\r\n" for e in events)

    def prepare_model(self, attrs):
        """An Image from an Image or docker's image attrs (looked up by ``Id``)."""
        if isinstance(attrs, Image):
            attrs.client = self.client
            return attrs
        if isinstance(attrs, dict) and "Id" in attrs:
            return self.get(attrs["Id"])
        raise InvalidArgument(f"Can't create Image from {attrs!r}")

    def create(self, attrs=None):
        """Refused, as docker-py's (NotImplementedError there): images come
        from ``pull``, ``build``, ``load``, ``import_image`` or ``commit``."""
        raise InvalidArgument("images.create() does not exist in docker either: use pull, "
                              "build, load, import_image or Container.commit")

    def search(self, term, limit=None):
        """Refused: the registry API (OCI Distribution) has no search; only
        Docker Hub's index has, and it is not reachable from here."""
        raise InvalidArgument("images.search(): registries speak the OCI Distribution "
                              "API, which has no search (docker's goes to Docker Hub's index)")

    def prune_builds(self, filters=None, keep_storage=None, all=None):
        """Empty the build cache (``docker builder prune``):
        ``{"CachesDeleted": [...], "SpaceReclaimed": n}``."""
        prune = getattr(self.client._backend.builds, "prune", None)
        if prune is None:
            raise InvalidArgument("prune_builds: this engine's builder has no cache to prune")
        return prune(filters=filters, keep_storage=keep_storage, all=all)

    def get_registry_data(self, name, auth_config=None):
        """The registry's view of ``name`` without pulling it.

        >>> client.images.get_registry_data("localhost:5000/app:1").id
        'sha256:...'
        """
        return RegistryData(name, self._engine.registry_data(name, auth_config=auth_config),
                            self.client)
    def build(self, path=None, fileobj=None, dockerfile="Dockerfile", tag=None,
              buildargs=None, target=None, nocache=False, pull=False, rm=True,
              forcerm=False, labels=None, network_mode=None, platform=None,
              cache_from=None, squash=False, extra_hosts=None, shmsize=None,
              container_limits=None, **kwargs):
        """Build an image from a Dockerfile, as docker-py does: returns
        ``(Image, log generator)`` once the build is done; raises BuildError
        (``build_log``, ``error``: the typed exception) when it fails.

        Args:
            path: the context directory, read in place.
            fileobj: a Dockerfile file object (empty context), or with
                ``custom_context=True`` a tar of the context (plain or
                compressed).
            dockerfile: its path in the context (``<it>.dockerignore`` is
                read before ``.dockerignore``).
            tag: ``name[:tag]`` for the result (or a list of them).
            buildargs: ``ARG`` values; ``SOURCE_DATE_EPOCH`` fixes the dates.
            target: the stage to build (the last by default).
            nocache: rebuild every step.
            pull: pull the bases first (needs a registry client; a build
                with local bases works without one).
            rm, forcerm: remove the RUN containers after a successful step /
                after every step.
            labels: labels of the result.
            network_mode: the RUN containers' network (``RUN --network``
                overrides it).
            platform: only the host's (there is no emulation).
            cache_from: local images built by pycontainer whose layer steps
                serve as cache (their history names each step's key); other
                names are passed over. The store's own cache is used too.
            container_limits: ``memory``, ``memswap``, ``cpushares``,
                ``cpusetcpus`` of the RUN containers.
            squash: the final stage's own layers as one layer on its base.
            extra_hosts: ``{"name": "ip"}`` in the RUN containers' /etc/hosts.
            shmsize: the RUN containers' /dev/shm size (bytes or "64m").
            secrets: ``{"id": bytes or path}`` for ``RUN --mount=type=secret``.

        >>> image, logs = client.images.build(path="app", tag="app:1")
        >>> image.tags
        ['app:1']
        """
        log = []
        image_id = None
        for msg in self.build_stream(
                path=path, fileobj=fileobj, dockerfile=dockerfile, tag=tag,
                buildargs=buildargs, target=target, nocache=nocache, pull=pull, rm=rm,
                forcerm=forcerm, labels=labels, network_mode=network_mode,
                platform=platform, cache_from=cache_from, squash=squash,
                extra_hosts=extra_hosts, shmsize=shmsize,
                container_limits=container_limits, **kwargs):
            log.append(msg)
            if "error" in msg:
                detail = msg.get("errorDetail") or {}
                kind = getattr(_errors, str(detail.get("type")), None)
                error = None
                if isinstance(kind, type) and issubclass(kind, _errors.PyContainerError):
                    try:
                        error = kind(msg["error"])
                    except TypeError:
                        error = None
                raise _errors.BuildError(msg["error"], iter(log), error=error,
                                         exit_code=detail.get("code"))
            if "aux" in msg and "ID" in msg["aux"]:
                image_id = msg["aux"]["ID"]
        if image_id is None:
            raise _errors.BuildError("Unknown", iter(log))
        return self.get(image_id), iter(log)

    def build_stream(self, **options):
        """The streaming form of :meth:`build`: yields docker's JSON build
        messages (``stream``, ``aux``, ``error``/``errorDetail``) as dicts,
        as the build goes, and raises nothing for a failed build.

        >>> for msg in client.images.build_stream(path="app"):
        ...     print(msg.get("stream", ""), end="")
        """
        options = {k: v for k, v in options.items() if v is not None}
        if options.get("dockerfile") == "Dockerfile":
            options.pop("dockerfile")
        return self.client._backend.builds.build(**options)

    def busybox(self, tag="latest"):
        """The embedded default base image (``busybox:latest``), made on first use
        from Debian's busybox-static."""
        return Image(self.client, self._engine.busybox(tag))


class RegistryData:
    """docker-py's ``RegistryData``: ``id`` (the manifest digest), ``short_id``,
    ``attrs`` (``Descriptor``, ``Platforms``), ``has_platform()``."""

    id_attribute = "Descriptor"

    def __init__(self, image_name, attrs, client=None):
        self.image_name = image_name
        self.attrs = attrs
        self._client = client

    id = property(lambda self: self.attrs["Descriptor"]["digest"])
    short_id = property(lambda self: self.id[:19])

    def has_platform(self, platform):
        """True when the image exists for ``platform`` (``os/arch[/variant]``)."""
        parts = platform.split("/")
        for p in self.attrs["Platforms"]:
            want = [p.get("os"), p.get("architecture")] + ([p["variant"]] if len(parts) > 2
                                                           and p.get("variant") else [])
            if parts[:len(want)] == want and len(parts) <= 3:
                return True
        return False

    def pull(self, platform=None):
        """Pull this image (docker-py's ``RegistryData.pull``)."""
        return self._client.images.pull(self.image_name, platform=platform)

    def reload(self):
        """Ask the registry again."""
        self.attrs = self._client.images.get_registry_data(self.image_name).attrs

    def __repr__(self):
        return f"<RegistryData: {self.image_name} {self.short_id}>"


def _pull_ref(repository, tag):
    """docker-py's rule: the tag argument, else the one in ``repository``, else latest."""
    if not isinstance(repository, str) or not repository:
        raise InvalidArgument(f"repository must be a non-empty string, not {repository!r}")
    has_tag = "@" in repository or ":" in repository.rsplit("/", 1)[-1]
    if tag:
        if has_tag:
            raise InvalidArgument(f"repository {repository!r} already has a tag or digest")
        return f"{repository}{'@' if tag.startswith('sha256:') else ':'}{tag}"
    return repository if has_tag else f"{repository}:latest"


def _familiar_digest(ref):
    """``docker.io/library/busybox@sha256:..`` -> ``busybox@sha256:..``, as docker shows it."""
    name, _, digest = ref.partition("@")
    if name.startswith("docker.io/"):
        name = name[len("docker.io/"):]
        if name.startswith("library/") and name.count("/") == 1:
            name = name[len("library/"):]
    return f"{name}@{digest}"


def check_named(tags, named):
    if named not in tags:
        raise InvalidArgument(f"{named!r} is not a tag of this image: {tags}")
