"""docker-py's public model API, walked by name (pure introspection of the
installed docker-py, no daemon): every method and property of each model and
collection exists here with the same parameter names and defaults, except the
documented differences below, and an integration test calls it."""
import inspect
import pathlib
import re

import docker.client
import docker.models.containers as d_containers
import docker.models.images as d_images
import docker.models.networks as d_networks
import docker.models.volumes as d_volumes
import pytest

import pycontainer.docker as p_docker
from pycontainer.models import containers, images, networks, volumes

PAIRS = {
    "Container": (d_containers.Container, containers.Container),
    "ContainerCollection": (d_containers.ContainerCollection, containers.ContainerCollection),
    "Image": (d_images.Image, images.Image),
    "ImageCollection": (d_images.ImageCollection, images.ImageCollection),
    "RegistryData": (d_images.RegistryData, images.RegistryData),
    "Network": (d_networks.Network, networks.Network),
    "NetworkCollection": (d_networks.NetworkCollection, networks.NetworkCollection),
    "Volume": (d_volumes.Volume, volumes.Volume),
    "VolumeCollection": (d_volumes.VolumeCollection, volumes.VolumeCollection),
    "DockerClient": (docker.client.DockerClient, p_docker.DockerClient),
}

# (model, method) -> why the signature differs on purpose
SIGNATURE_DIFFERENCES = {
    # docker-py takes **kwargs and passes them to the API; ours names them
    ("Container", "stats"): "docker-py: **kwargs (decode, stream, one_shot): ours names them",
    ("DockerClient", "from_env"): "ours also takes Client's keywords (root=, run_root=)",
    ("DockerClient", "version"): "docker-py's api_version flag is accepted",
}
# (model, name) -> why it is not in an integration test (refused without touching the engine)
NOT_EXERCISED = {
    ("ImageCollection", "create"): "refused, as docker-py's raises NotImplementedError",
    ("ImageCollection", "search"): "refused: no registry search API",
    ("DockerClient", "from_context"): "refused: contexts name remote daemons",
    ("DockerClient", "configs"): "swarm: refused", ("DockerClient", "nodes"): "swarm: refused",
    ("DockerClient", "plugins"): "refused", ("DockerClient", "secrets"): "swarm: refused",
    ("DockerClient", "services"): "swarm: refused", ("DockerClient", "swarm"): "swarm: refused",
    ("DockerClient", "api"): "exercised as client.api.<method>",
}
# names of docker-py's base classes that are plumbing, not API
PLUMBING = {"id_attribute", "model", "prepare_model", "collection", "client"}

INTEGRATION = pathlib.Path(__file__).parent.parent / "integration"


def _public(cls):
    for name, value in inspect.getmembers(cls):
        if not name.startswith("_"):
            yield name, value


def _params(fn):
    sig = inspect.signature(fn)
    return {n: p.default for n, p in sig.parameters.items()
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}, \
        any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def _tested_names():
    text = "\n".join(p.read_text() for p in INTEGRATION.glob("test_*.py"))
    return set(re.findall(r"\.([a-z_]+)\b", text))


@pytest.mark.parametrize("model", sorted(PAIRS))
def test_model_api_by_name(model):
    theirs, ours = PAIRS[model]
    missing, differ = [], []
    for name, value in _public(theirs):
        mine = getattr(ours, name, None)
        if mine is None and name not in ("containers", "images", "networks", "volumes"):
            missing.append(name)
            continue
        if not inspect.isfunction(value) or (model, name) in SIGNATURE_DIFFERENCES:
            continue
        want, _ = _params(value)
        got, got_kwargs = _params(mine)
        for pname, default in want.items():
            if pname not in got and not got_kwargs:
                differ.append(f"{name}: no parameter {pname}")
            elif pname in got and got[pname] != default:
                differ.append(f"{name}({pname}=): default {got[pname]!r}, docker {default!r}")
    assert missing == [] and differ == []


@pytest.mark.parametrize("model", sorted(PAIRS))
def test_every_method_has_a_behaviour_test(model):
    theirs, _ = PAIRS[model]
    tested = _tested_names()
    untested = [name for name, _ in _public(theirs) if name not in PLUMBING and
                (model, name) not in NOT_EXERCISED and name not in tested]
    assert untested == []


def test_docker_client_has_the_collections(tmp_path):
    c = p_docker.DockerClient(root=str(tmp_path / "store"))
    for name in ("containers", "images", "networks", "volumes"):
        assert getattr(c, name).client is c
    assert isinstance(c.containers.prepare_model({"Id": "x" * 64}), containers.Container)


def test_documented_differences_are_real():
    for model, name in SIGNATURE_DIFFERENCES:
        theirs, ours = PAIRS[model]
        assert inspect.signature(getattr(theirs, name)) != inspect.signature(getattr(ours, name))
