"""``healloop agent``: run agent workers against the queue."""

from __future__ import annotations

import anyio
import click

from healloop.cli.queue_commands import node_host_option
from healloop.extras import require

# healloop.agent.mcpclient.SETUP_TIMEOUT_S, written out so `--help` needs no agent extra (MCP);
# tests/test_packaging.py checks the two agree.
NODE_SETUP_TIMEOUT_S = 30.0


@click.command("agent")
@click.option(
    "--queue",
    "queue_url",
    default="http://127.0.0.1:8787",
    show_default=True,
    envvar="HEALLOOP_URL",
    show_envvar=True,
    help="The event queue.",
)
@click.option("--token", envvar="HEALLOOP_TOKEN", show_envvar=True, help="The queue's bearer token.")
@click.option(
    "--node-token",
    envvar="HEALLOOP_AGENT_NODE_TOKEN",
    show_envvar=True,
    help="Bearer token for the tool nodes' MCP endpoints.",
)
@node_host_option
@click.option(
    "--planner",
    type=click.Choice(["rules", "llm"]),
    default="rules",
    show_default=True,
    envvar="HEALLOOP_AGENT_PLANNER",
    show_envvar=True,
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="HEALLOOP_AGENT_CONCURRENCY",
    show_envvar=True,
    help="Workers in this process.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    envvar="HEALLOOP_AGENT_DRY_RUN",
    show_envvar=True,
    help="Analyse and plan, record the plan and escalate; change nothing.",
)
@click.option(
    "--lease",
    "lease_s",
    type=click.FloatRange(1, 3600),
    default=60,
    show_default=True,
    envvar="HEALLOOP_AGENT_LEASE",
    show_envvar=True,
    help="Lease seconds; heartbeats every third.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0, 30),
    default=10,
    show_default=True,
    envvar="HEALLOOP_AGENT_WAIT",
    show_envvar=True,
    help="Long-poll seconds per claim.",
)
@click.option(
    "--node-setup-timeout",
    "node_setup_s",
    type=click.FloatRange(0.1, 600),
    default=NODE_SETUP_TIMEOUT_S,
    show_default=True,
    envvar="HEALLOOP_AGENT_NODE_SETUP_TIMEOUT",
    show_envvar=True,
    help="Seconds to open an MCP session to a node (connect, handshake, tool list); a node that takes "
    "longer counts as unreachable.",
)
@click.option("--name", envvar="HEALLOOP_AGENT_NAME", show_envvar=True, help="Worker name prefix.")
@click.option(
    "--llm-base-url",
    envvar="HEALLOOP_LLM_BASE_URL",
    show_envvar=True,
    help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1.",
)
@click.option("--llm-model", envvar="HEALLOOP_LLM_MODEL", show_envvar=True)
@click.option(
    "--llm-api-key-env",
    default="HEALLOOP_LLM_API_KEY",
    show_default=True,
    envvar="HEALLOOP_LLM_API_KEY_ENV",
    show_envvar=True,
    help="Name of the environment variable holding the API key.",
)
@click.option(
    "--llm-max-steps",
    type=click.IntRange(1, 100),
    default=12,
    show_default=True,
    envvar="HEALLOOP_LLM_MAX_STEPS",
    show_envvar=True,
)
@click.option(
    "--llm-token-budget",
    type=click.IntRange(100),
    default=60000,
    show_default=True,
    envvar="HEALLOOP_LLM_TOKEN_BUDGET",
    show_envvar=True,
    help="Tokens per event.",
)
@click.option(
    "--llm-retries",
    type=click.IntRange(0, 20),
    default=4,
    show_default=True,
    envvar="HEALLOOP_LLM_RETRIES",
    show_envvar=True,
    help="Retries of one completion the endpoint rate limited (HTTP 429); then the rules planner runs.",
)
@click.option(
    "--llm-retry-base",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    envvar="HEALLOOP_LLM_RETRY_BASE",
    show_envvar=True,
    help="Seconds before the first retry after a 429 without Retry-After; doubled each retry.",
)
@click.option(
    "--llm-retry-wait",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    envvar="HEALLOOP_LLM_RETRY_WAIT",
    show_envvar=True,
    help="Most seconds one event waits on rate limits in all; a longer Retry-After runs the rules planner.",
)
@click.option(
    "--llm-tools",
    type=click.Choice(["auto", "native", "json"]),
    default="auto",
    show_default=True,
    envvar="HEALLOOP_LLM_TOOLS",
    show_envvar=True,
    help="How the model calls tools: native tool calls, JSON mode (the functions described in the prompt, "
    "one JSON object per turn), or auto: native until the endpoint refuses tools, then JSON.",
)
@click.option(
    "--heal-threshold",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    envvar="HEALLOOP_HEAL_THRESHOLD",
    show_envvar=True,
    help="Selector healing: the least evidence (0-1) for the chosen element; below it, escalate.",
)
@click.option(
    "--heal-margin",
    type=click.FloatRange(0, 1),
    default=0.2,
    show_default=True,
    envvar="HEALLOOP_HEAL_MARGIN",
    show_envvar=True,
    help="Selector healing: how far the chosen element must beat the runner-up; closer, escalate.",
)
@click.option(
    "--max-data-kb",
    type=click.IntRange(64, 4096),
    default=256,
    show_default=True,
    envvar="HEALLOOP_AGENT_MAX_DATA_KB",
    show_envvar=True,
    help="The most data (report, analysis) one state move sends; longer parts are cut with a marker. "
    "Lower it when a proxy in front of the queue allows less than the queue's 1 MiB.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    envvar="HEALLOOP_AGENT_METRICS_PORT",
    show_envvar=True,
    help="Serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (events, attempts, actions, tool "
    "calls, durations, refusals). Off when not given.",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    envvar="HEALLOOP_AGENT_METRICS_HOST",
    show_envvar=True,
    help="Address the metrics port binds to; 0.0.0.0 lets a Prometheus on another machine scrape it.",
)
def agent_command(
    queue_url: str,
    token: str | None,
    node_token: str | None,
    node_hosts: tuple[str, ...],
    planner: str,
    concurrency: int,
    dry_run: bool,
    lease_s: float,
    wait_s: float,
    node_setup_s: float,
    name: str | None,
    llm_base_url: str | None,
    llm_model: str | None,
    llm_api_key_env: str,
    llm_max_steps: int,
    llm_token_budget: int,
    llm_retries: int,
    llm_retry_base: float,
    llm_retry_wait: float,
    llm_tools: str,
    heal_threshold: float,
    heal_margin: float,
    max_data_kb: int,
    metrics_port: int | None,
    metrics_host: str,
) -> None:
    """Claim failure events and repair them through the reporting machine's tool node."""
    require("agent", command="healloop agent")
    from healloop.agent.worker import Agent, AgentConfig

    config = AgentConfig(
        queue_url=queue_url,
        token=token,
        node_token=node_token,
        node_hosts=node_hosts,
        planner=planner,
        concurrency=concurrency,
        dry_run=dry_run,
        lease_s=lease_s,
        wait_s=wait_s,
        node_setup_s=node_setup_s,
        heal_threshold=heal_threshold,
        heal_margin=heal_margin,
        max_data_kb=max_data_kb,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
    )
    if name:
        config.name = name
    if planner == "llm":
        from healloop.agent.llm import LLMConfig

        if not llm_base_url or not llm_model:
            raise click.UsageError(
                "--planner llm needs --llm-base-url and --llm-model "
                "(or HEALLOOP_LLM_BASE_URL and HEALLOOP_LLM_MODEL)"
            )
        config.llm = LLMConfig(
            base_url=llm_base_url,
            model=llm_model,
            api_key_env=llm_api_key_env,
            max_steps=llm_max_steps,
            token_budget=llm_token_budget,
            retries=llm_retries,
            retry_base_s=llm_retry_base,
            retry_max_wait_s=llm_retry_wait,
            tools=llm_tools,
        )
    click.echo(
        f"healloop agent {config.name}: {concurrency} worker(s), planner {planner}, queue {queue_url}"
        + (" (dry run)" if dry_run else ""),
        err=True,
    )
    if metrics_port is not None:
        _serve_metrics(metrics_host, metrics_port)
    anyio.run(Agent(config).run)


def _serve_metrics(host: str, port: int) -> None:
    """``GET /metrics`` from a thread of its own, bound before the first claim: a port in use is said
    at start, not found out by a scrape that fails."""
    from healloop.agent.metrics import REGISTRY
    from healloop.errors import HealloopError
    from healloop.prometheus import serve_in_thread

    try:
        serve_in_thread(REGISTRY.render, host, port, "--metrics-port")
    except HealloopError as exc:
        raise click.ClickException(exc.message) from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"healloop agent: metrics at http://{shown}:{port}/metrics", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(agent_command)
