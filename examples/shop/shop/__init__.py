"""A tiny shop: the sample app that ``healloop demo`` breaks and repairs."""
