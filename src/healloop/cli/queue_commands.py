"""Commands for the event queue: ``healloop serve`` and ``healloop events ...``."""

from __future__ import annotations

import click


def register(cli: click.Group) -> None:
    pass
