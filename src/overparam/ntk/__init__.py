"""overparam.ntk."""
