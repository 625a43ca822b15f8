"""overparam.report."""
