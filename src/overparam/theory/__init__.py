"""overparam.theory."""
