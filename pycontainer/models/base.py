"""What every model shares (docker-py's ``Model``): a client, attributes,
identity by id, and a short repr."""


class Model:
    id_attribute = "Id"
    def __init__(self, client, attrs):
        self.client = client
        self.attrs = attrs

    def __repr__(self):
        return f"<{type(self).__name__}: {self.short_id}>"

    def __eq__(self, other):
        return isinstance(other, type(self)) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    id = property(lambda self: self.attrs["Id"])
    short_id = property(lambda self: self.id[:12])


class Collection:
    """What every collection shares (docker-py's ``Collection``): the client,
    the model class it makes, and ``prepare_model``."""

    model = Model

    def __init__(self, client):
        self.client = client

    def prepare_model(self, attrs):
        """A model of this collection from attrs (docker's dict) or a model."""
        if isinstance(attrs, self.model):
            attrs.client = self.client
            return attrs
        if isinstance(attrs, dict):
            return self.model(self.client, attrs)
        from ..errors import InvalidArgument
        raise InvalidArgument(f"Can't create {self.model.__name__} from {attrs!r}")

    def exists(self, key):
        """True when ``get(key)`` finds one (podman's ``exists``)."""
        from ..errors import NotFound
        try:
            self.get(key)
        except NotFound:
            return False
        return True
