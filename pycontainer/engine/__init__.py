"""The engine: docker's model (containers, images, networks, volumes) over
the low-level runtime. It chooses every policy; the faces (the SDK's
models, the daemon's API, the CLI) call it and never the other way round."""
