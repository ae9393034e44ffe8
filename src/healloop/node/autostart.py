"""The services ``healloop up`` runs for the tests: started before the node, stopped after it.

Only services with ``autostart = true`` are touched. A ``command`` service is tracked by its pid file
in the node's state dir, the same file the node rewrites when an agent restarts it, so stopping by pid
file stops the copy the agent started as well. A leftover from an ``up`` that was killed (its pid file
names a live process) is stopped first rather than run twice on one port. A systemd unit or Docker
container that was already running is left as it was found, running, on exit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from healloop.errors import HealloopError
from healloop.node.services import Backend, CommandBackend, Services

Say = Callable[[str], None]


class ServiceStartError(HealloopError):
    """An autostart service did not start or never became healthy."""


@dataclass
class Autostart:
    services: Services
    started: list[str] = field(default_factory=list)

    def names(self) -> list[str]:
        return [n for n, b in self.services.backends.items() if b.svc.autostart]

    def start(self, say: Say = lambda _: None) -> None:
        for name in self.names():
            backend = self.services.backends[name]
            ok, why = backend.check()
            if not ok:
                raise ServiceStartError(f"service {name!r} cannot start here: {why}")
            if isinstance(backend, CommandBackend):
                if backend.running():
                    say(f"service {name}: stopping a copy left running by an earlier run")
                    backend.stop()
            elif backend.running():
                say(f"service {name}: already running; left as it is")
                continue
            say(f"service {name}: starting {' '.join(backend.svc.start) or backend.svc.backend}")
            # Tied to `up` (from its main thread: the death signal follows the starting thread).
            backend.start(tied=True) if isinstance(backend, CommandBackend) else backend.start()
            self.started.append(name)
            healthy, detail = backend.wait_healthy()
            if not healthy:
                raise ServiceStartError(
                    f"service {name!r} started but is not healthy after {backend.svc.restart_timeout:.0f} s"
                    f" ({detail}); its log ends with:\n{backend.logs(20)}"
                )
            say(f"service {name}: healthy ({detail})")

    def stop(self) -> None:
        """Stop what ``start`` started (and any copy an agent restarted since), last started first."""
        for name in reversed(self.started):
            backend: Backend = self.services.backends[name]
            try:
                backend.stop()
            except HealloopError:
                continue  # the others must still be stopped; the service's own log says why
        self.started.clear()
        for child in list(CommandBackend._children.values()):
            child.poll()  # reap the copies an agent's restart stopped
