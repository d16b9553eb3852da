"""The `appliance` command line: one module per command group, the control socket, the selftest."""
