"""overparam.store."""
