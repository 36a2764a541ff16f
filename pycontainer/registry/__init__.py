"""Images from and to registries: the client, and a registry server of our own (server/)."""
