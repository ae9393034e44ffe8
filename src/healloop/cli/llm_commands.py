"""``healloop llm check``: is this model endpoint fit for the llm planner, and in which mode."""

from __future__ import annotations

import sys

import anyio
import click

# healloop.agent.llm_wire.MODES, written out so `--help` imports nothing of the agent.
TOOL_MODES = ("auto", "native", "json")


@click.group("llm")
def llm_group() -> None:
    """The model endpoint of the llm planner."""


@llm_group.command("check")
@click.option("--base-url", envvar="HEALLOOP_LLM_BASE_URL", show_envvar=True, required=True,
              help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 (Ollama).")
@click.option("--model", envvar="HEALLOOP_LLM_MODEL", show_envvar=True, required=True)
@click.option("--api-key-env", default="HEALLOOP_LLM_API_KEY", show_default=True,
              envvar="HEALLOOP_LLM_API_KEY_ENV", show_envvar=True,
              help="Name of the environment variable holding the API key.")
@click.option("--tools", type=click.Choice(TOOL_MODES), default="auto", show_default=True,
              envvar="HEALLOOP_LLM_TOOLS", show_envvar=True,
              help="Check native tool calls, JSON mode, or both (auto).")
@click.option("--timeout", "timeout_s", type=click.FloatRange(1, 3600), default=120, show_default=True,
              help="Seconds per request; a local model's first request also loads it.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check_cmd(base_url: str, model: str, api_key_env: str, tools: str, timeout_s: float,
              as_json: bool) -> None:
    """Send one tool-call round trip: offer read_file(path), ask the model to call it, send back a
    result holding a word made up for this run, and expect the answer to quote it. Done with native
    tool calls and in JSON mode; one line per finding (OK, FAIL, WARN, SKIP), the last one the mode the
    agent would use.

    Exits 0 when some mode works, 1 when none does, 2 on bad input."""
    from healloop.agent.llm_chat import LLMConfig
    from healloop.agent.llm_check import check
    from healloop.errors import ConfigError

    try:
        config = LLMConfig(base_url=base_url, model=model, api_key_env=api_key_env, tools=tools,
                           timeout_s=timeout_s, retries=1, retry_max_wait_s=10)
    except ConfigError as exc:
        hint = {"llm_base_url": "--base-url", "llm_model": "--model"}.get(exc.field or "", "--base-url")
        raise click.BadParameter(exc.message, param_hint=hint) from None
    report = anyio.run(check, config)
    if as_json:
        click.echo(report.as_json())
    else:
        click.echo(f"healloop llm check: {model} at {base_url}")
        for line in report.lines:
            click.echo(line.text())
    if report.mode is None:
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(llm_group)
