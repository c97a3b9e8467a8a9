"""``reprolam workflows`` and ``reprolam actions``: what is installed, and what it can do."""

from __future__ import annotations

import click

from reprolam.cli.main import emit_json, json_option, reports_errors, respond


@click.command()
@json_option
@reports_errors
def workflows(as_json: bool) -> None:
    """List installed workflows.

    \b
    Example:
      reprolam workflows --json
    """
    from reprolam.cli import render
    from reprolam.errors import WorkflowError
    from reprolam.workflows.registry import available_workflows, load_workflow

    flows = []
    for name, target in sorted(available_workflows().items()):
        try:
            flows.append(load_workflow(name))
        except WorkflowError as exc:  # one broken plug-in hides none of the others
            click.echo(
                f"warning: workflow {name!r} ({target}) is not listed: {exc}; fix or "
                "uninstall the package that declares it (entry point group "
                "'reprolam.workflows')",
                err=True,
            )
    respond(
        as_json,
        [
            {
                "name": f.name,
                "actions": list(f.actions.names),
                "outputs": list(f.outputs),
                "goal": f.goal,
            }
            for f in flows
        ],
        lambda: render.workflows_table(flows),
    )


@click.command()
@click.argument("workflow", required=False, default="breast-cancer")
@click.option("--tools", is_flag=True, help="Print the OpenAI tool definitions (JSON).")
@json_option
@reports_errors
def actions(workflow: str, tools: bool, as_json: bool) -> None:
    """List WORKFLOW's actions with inputs, outputs, params and determinism class.

    \b
    Example:
      reprolam actions breast-cancer --tools
    """
    from reprolam.cli import render
    from reprolam.workflows.registry import load_workflow

    flow = load_workflow(workflow)
    if tools:
        emit_json(flow.actions.tool_definitions())
    elif as_json:
        emit_json([spec.describe() for spec in flow.actions])
    else:
        render.actions_table(flow)
