"""Studies reproduced by ``overparam reproduce``."""
