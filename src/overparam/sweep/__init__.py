"""overparam.sweep."""
