"""overparam.data."""
