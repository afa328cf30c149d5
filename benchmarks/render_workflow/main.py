"""A Render SDK 1.x workflow for ``benchmarks/render_sdk.py``: one no-op task."""

from render.workflows import TaskContext, Workflows

app = Workflows()


@app.task
def noop(ctx: TaskContext) -> None:
    return None
