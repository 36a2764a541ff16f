"""docker-py style models and collections."""
