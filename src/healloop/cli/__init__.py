"""The ``healloop`` command line. Each command group lives in its own module, added in ``main.py``."""
