"""healloop: a local self-healing loop for end-to-end test suites."""

__version__ = "0.1.0"
