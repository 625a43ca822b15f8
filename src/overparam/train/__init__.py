"""overparam.train."""
