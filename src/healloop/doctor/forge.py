"""The forge ([node.git] forge): whether its token is set and accepted, asked read-only (the repository,
never a write), and what goes there: pull requests and issues, each shown on its own line."""

from __future__ import annotations

import os
from collections.abc import Iterator

from healloop.doctor.core import Finding, Setup, check, ok, warn
from healloop.errors import HealloopError


@check("forge")
def check_forge(setup: Setup) -> Iterator[Finding]:
    from healloop import forge

    node, settings = setup.node, setup.node.forge
    if settings is None:
        yield ok("forge", "no [node.git] forge: proposals and escalations stay in healloop (README, Pull "
                          "requests)")
        return
    where = f"{settings.kind} {settings.repository} at {settings.api_url}"
    ready, why = forge.check(settings, os.environ)
    if ready:
        try:
            seen = forge.client(settings).check_access()
            why = f"{where}: {seen}; the token in ${settings.token_env} is accepted"
        except HealloopError as exc:
            ready, why = False, exc.message
    fix = (f"export {settings.token_env}=... (a {settings.kind} token for {settings.repository}) where the "
           "node runs, and check [node.git] repository and api_url")
    uses = {"pull requests": (node.pull_requests, f"proposals become pull requests into {node.git_branch}"),
            "issues": (node.issues, "an escalation naming a suspect commit opens an issue")}
    if not any(on for on, _ in uses.values()):
        off = "pull requests and issues are off (set pull_requests or issues = true)"
        yield ok("forge", f"{why}; {off}") if ready else warn("forge", f"{why}; {off}", fix)
        return
    for name, (on, what) in uses.items():
        if not on:
            yield ok(f"forge {name}", f"off ([node.git] {name.replace(' ', '_')})")
        elif ready:
            yield ok(f"forge {name}", f"{what}: {why}")
        else:
            yield warn(f"forge {name}", f"on, but {settings.kind} cannot be used: {why}", fix)
