"""The engine's refusals are APIErrors with dockerd's status codes, as
``except docker.errors.APIError`` code expects."""
import pytest

from pycontainer import errors


def test_refusals_carry_their_status(client, busybox):
    cases = [(lambda: client.containers.get("pycpar-none"), errors.ContainerNotFound, 404),
             (lambda: client.images.get("pycpar-none:latest"), errors.ImageNotFound, 404),
             (lambda: client.volumes.get("pycpar-none"), errors.VolumeNotFound, 404),
             (lambda: client.networks.get("pycpar-none"), errors.NetworkNotFound, 404),
             (lambda: client.containers.create("busybox", "true", mem_limit="lots"),
              errors.InvalidArgument, 400)]
    for call, cls, status in cases:
        with pytest.raises(errors.APIError) as err:
            call()
        assert isinstance(err.value, cls) and err.value.status_code == status
        assert err.value.is_client_error() and err.value.explanation


def test_name_in_use_is_a_409(client, busybox):
    c = client.containers.create("busybox", "true", name="pycpar-err")
    try:
        with pytest.raises(errors.APIError) as err:
            client.containers.create("busybox", "true", name="pycpar-err")
        assert isinstance(err.value, errors.Conflict) and err.value.status_code == 409
        assert client.containers.get("pycpar-err").id == c.id       # nothing lost
    finally:
        c.remove(force=True)


def test_a_failed_command_is_a_container_error_not_an_api_error(client, busybox):
    with pytest.raises(errors.DockerException) as err:
        client.containers.run("busybox", ["sh", "-c", "exit 4"], remove=True)
    assert isinstance(err.value, errors.ContainerError)
    assert not isinstance(err.value, errors.APIError) and err.value.exit_status == 4
