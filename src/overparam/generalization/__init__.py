"""overparam.generalization."""
