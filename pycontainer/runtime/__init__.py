"""The runtime: op plans, the init process, container directories."""
