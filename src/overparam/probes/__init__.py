"""overparam.probes."""
