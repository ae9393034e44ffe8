"""The queue MCP server: an IDE's coding agent (VS Code agent mode, Continue, Cline, Claude Code) works
healloop's queue with the same guardrails as ``healloop agent``. ``server.py`` builds it, ``held.py`` is
one claimed event and the steps it may take, ``prompts.py`` the prompts it offers."""
