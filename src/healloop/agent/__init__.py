"""Agents: stateless workers that claim failure events from the queue, analyse them, repair through the
reporting machine's MCP tool node, verify by rerunning the one failing test, and resolve or escalate."""
