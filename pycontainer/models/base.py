"""What every model shares (docker-py's ``Model``): a client, attributes,
identity by id, and a short repr."""


class Model:
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
