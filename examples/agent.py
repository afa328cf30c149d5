"""An agent-style loop: plan, search in parallel, summarize, decide whether to go on.

The "model" here is a deterministic stand-in so the example runs offline; swap in a real
LLM call inside `plan` and `summarize`.
"""

from __future__ import annotations

import asyncio

from baton import TaskContext, Workflows

app = Workflows()

KNOWLEDGE = {
    "queues": "Runs beyond the concurrency limit wait in a FIFO queue.",
    "retries": "Failed attempts are retried with exponential backoff.",
    "isolation": "Every attempt runs in its own OS process.",
    "chains": "A task calling a task starts a chained child run.",
}


@app.task
def plan(question: str, known: list[str]) -> list[str]:
    """Pick up to two topics not yet researched."""
    return [t for t in KNOWLEDGE if t not in known and t in question.lower()][:2]


@app.task
def search(topic: str) -> str:
    return KNOWLEDGE.get(topic, "nothing found")


@app.task
def summarize(question: str, notes: list[str]) -> str:
    return f"{question} -> " + " ".join(notes)


@app.task
async def research_agent(ctx: TaskContext, question: str, max_rounds: int = 3) -> dict[str, object]:
    """Render 1.x style: the context chains with ctx.run and knows the run's ids."""
    known: list[str] = []
    notes: list[str] = []
    for round_no in range(1, max_rounds + 1):
        topics = await ctx.run(plan, question, known)
        if not topics:
            break
        found = await asyncio.gather(*(ctx.run(search, t) for t in topics))
        known.extend(topics)
        notes.extend(found)
        print(f"round {round_no}: researched {topics}")
    answer = await ctx.run(summarize, question, notes)
    return {"answer": answer, "rounds": round_no, "run_id": ctx.metadata.task_run_id}


if __name__ == "__main__":
    app.start()
