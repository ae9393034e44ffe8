"""The MCP tool node: the one way an agent reads and repairs a test machine.

``config`` reads healloop.toml, ``workspace`` owns the sandbox, locks and atomic writes, the tool
modules (``files``, ``gitops``, ``runners``, ``services``, ``diagnostics``, ``artifacts``) do the
work, and ``server`` exposes them as MCP tools.
"""
