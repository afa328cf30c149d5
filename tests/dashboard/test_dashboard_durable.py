"""The dashboard's durable-run controls: schedules page, pauses, checkpoints, priority."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from dash_kit import csrf_of

from baton.core.durable import ScheduleSpec
from baton.dashboard.paused import CHECKPOINT_CHARS, checkpoint_rows
from baton.server import Engine, Target

FLOWS = Path(__file__).parents[1] / "fixtures" / "durable_flows.py"


@pytest.fixture
async def durable(engine: Engine) -> Engine:
    """The engine with ``tests/fixtures/durable_flows.py`` registered as ``durable_flows``."""
    await engine.register(Target.app(str(FLOWS)), "durable_flows")
    return engine


async def _csrf(client: httpx.AsyncClient, path: str = "/workers") -> str:
    return csrf_of((await client.get(path)).text)


# schedules --------------------------------------------------------------------------------------


async def test_schedules_page_lists_code_and_api_schedules_with_ticks(
    durable: Engine, client: httpx.AsyncClient
) -> None:
    services = durable.services
    created = services.create_schedule(
        "durable_flows/tick",
        ScheduleSpec(
            cron="*/5 * * * *", timezone="America/New_York", input=["hi"], overlap="queue"
        ),
    )
    fired = services.fire_tick(created, datetime(2030, 1, 1, 12, 5, tzinfo=UTC))
    assert fired.run_id is not None

    html = (await client.get("/schedules")).text

    assert '<a href="/schedules" aria-current="page">Schedules</a>' in html
    assert "code:durable_flows:nightly" in html and "Europe/Paris" in html
    assert "0 3 * * *" in html and '["nightly"]' in html
    assert created.id in html and "*/5 * * * *" in html and "America/New_York" in html
    assert "queue" in html and '["hi"]' in html
    assert "2030-01-01 12:05:00.000: started" in html and fired.run_id in html
    assert html.count("▶</span> active") == 2  # state in words, next tick shown
    assert html.count("<time datetime=") == 2


async def test_schedule_pause_resume_and_delete_actions(
    durable: Engine, client: httpx.AsyncClient
) -> None:
    services = durable.services
    schedule = services.create_schedule("durable_flows/tick", ScheduleSpec(cron="0 * * * *"))
    csrf = await _csrf(client, "/schedules")

    paused = await client.post(f"/schedules/{schedule.id}/pause", data={"csrf": csrf})
    paused_html = (await client.get(paused.headers["location"])).text
    assert paused.status_code == 303 and services.get_schedule(schedule.id).paused
    assert "Paused schedule" in paused_html and "— (paused)" in paused_html
    assert f'data-schedule="{schedule.id}" data-paused="true"' in paused_html

    resumed = await client.post(f"/schedules/{schedule.id}/resume", data={"csrf": csrf})
    assert resumed.status_code == 303 and not services.get_schedule(schedule.id).paused

    deleted = await client.post(f"/schedules/{schedule.id}/delete", data={"csrf": csrf})
    assert deleted.status_code == 303
    assert all(s.id != schedule.id for s in services.list_schedules())
    assert "Deleted schedule" in (await client.get(deleted.headers["location"])).text


async def test_schedule_actions_refuse_a_missing_csrf_token(
    durable: Engine, client: httpx.AsyncClient
) -> None:
    schedule = durable.services.create_schedule(
        "durable_flows/tick", ScheduleSpec(cron="0 * * * *")
    )

    for act in ("pause", "resume", "delete"):
        response = await client.post(f"/schedules/{schedule.id}/{act}", data={})
        assert response.status_code == 403, act

    assert not durable.services.get_schedule(schedule.id).paused


async def test_unknown_schedule_action_says_so(engine: Engine, client: httpx.AsyncClient) -> None:
    response = await client.post("/schedules/sch_nope/pause", data={"csrf": await _csrf(client)})

    assert response.status_code == 303
    assert "sch_nope" in (await client.get(response.headers["location"])).text


async def test_schedules_page_needs_sign_in_when_tokens_are_required(
    locked: httpx.AsyncClient,
) -> None:
    response = await locked.get("/schedules")
    action = await locked.post("/schedules/sch_x/pause", data={"csrf": "x"})

    assert response.status_code == 303 and response.headers["location"].startswith("/signin")
    assert action.status_code == 401


# pauses -----------------------------------------------------------------------------------------


async def test_pause_queue_from_workers_page_marks_it_paused(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    before = (await client.get("/workers")).text
    assert "Queue running" in before and 'id="queue-pause"' in before

    response = await client.post("/queue/pause", data={"csrf": csrf_of(before)})
    html = (await client.get(response.headers["location"])).text
    runs_html = (await client.get("/")).text

    assert response.status_code == 303
    assert [p.scope for p in engine.services.list_pauses()] == ["queue"]
    assert "‖</span> Queue paused" in html and 'id="queue-resume"' in html
    assert "Paused the queue." in html
    assert "The queue is paused" in runs_html  # every other page carries the banner

    await client.post("/queue/resume", data={"csrf": csrf_of(html)})
    assert engine.services.list_pauses() == []
    assert "Queue running" in (await client.get("/workers")).text


async def test_paused_queue_holds_a_new_run_until_resumed(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    csrf = await _csrf(client)
    await client.post("/queue/pause", data={"csrf": csrf})
    run = engine.services.start_run("squares/calculate_square", [7])

    html = (await client.get("/workers")).text
    assert "Queue paused" in html
    assert engine.services.get_run(run.id).status == "pending"

    await client.post("/queue/resume", data={"csrf": csrf})
    final = await engine.services.wait_final(run.id, 30)
    assert final.status == "completed"


async def test_pause_and_resume_a_task_from_the_tasks_page(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    slug = "squares/calculate_square"
    before = (await client.get("/tasks")).text
    assert f'aria-label="Pause task {slug}"' in before

    response = await client.post("/tasks/pause", data={"csrf": csrf_of(before), "task": slug})
    html = (await client.get(response.headers["location"])).text

    assert response.status_code == 303
    assert [(p.scope, p.target) for p in engine.services.list_pauses()] == [("task", slug)]
    assert f'aria-label="Resume task {slug}"' in html and "‖</span> paused" in html
    assert 'aria-label="Pause task squares/sum_squares"' in html  # the other task is not

    await client.post("/tasks/resume", data={"csrf": csrf_of(html), "task": slug})
    assert engine.services.list_pauses() == []


async def test_pausing_an_unknown_task_shows_the_error(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/tasks/pause", data={"csrf": await _csrf(client), "task": "squares/nope"}
    )

    assert response.status_code == 303
    assert "squares/nope" in (await client.get(response.headers["location"])).text
    assert engine.services.list_pauses() == []


async def test_pause_and_resume_a_run_tree_from_the_run_page(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    engine.services.pause("queue")  # the run stays pending, so the page offers to pause it
    run = engine.services.start_run("squares/sum_squares", [1, 2])
    page = (await client.get(f"/runs/{run.id}")).text
    assert 'id="pause-tree-button"' in page and "Pause run and its chain" in page

    response = await client.post(f"/runs/{run.id}/pause", data={"csrf": csrf_of(page)})
    html = (await client.get(response.headers["location"])).text

    assert response.status_code == 303
    assert ("tree", run.id) in [(p.scope, p.target) for p in engine.services.list_pauses()]
    assert 'id="tree-paused"' in html and "‖</span> paused" in html
    assert 'id="resume-tree-button"' in html and 'id="fact-paused"' in html

    await client.post(f"/runs/{run.id}/resume", data={"csrf": csrf_of(html)})
    engine.services.resume("queue")
    assert engine.services.list_pauses() == []
    assert (await engine.services.wait_final(run.id, 30)).status == "completed"


async def test_a_chained_run_pauses_its_root_tree(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/sum_squares", [3, 4])
    await engine.services.wait_final(run.id, 30)
    child = engine.services.store.children(run.id)[0].id

    response = await client.post(f"/runs/{child}/pause", data={"csrf": await _csrf(client)})
    html = (await client.get(response.headers["location"])).text

    assert [(p.scope, p.target) for p in engine.services.list_pauses()] == [("tree", run.id)]
    assert "Resume the whole chain" in html


async def test_pause_actions_refuse_a_missing_csrf_token(
    engine: Engine, client: httpx.AsyncClient
) -> None:
    run = engine.services.start_run("squares/calculate_square", [2])
    posts = [
        ("/queue/pause", {}),
        ("/queue/resume", {}),
        ("/tasks/pause", {"task": "squares/calculate_square"}),
        ("/tasks/resume", {"task": "squares/calculate_square"}),
        (f"/runs/{run.id}/pause", {}),
        (f"/runs/{run.id}/resume", {}),
        ("/queue/pause", {"csrf": "forged"}),
    ]

    for path, data in posts:
        response = await client.post(path, data=data)
        assert response.status_code == 403, path

    assert engine.services.list_pauses() == []


# run page: checkpoints, priority, concurrency key -----------------------------------------------


async def test_run_page_shows_checkpoints_priority_and_concurrency_key(
    durable: Engine, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    services = durable.services
    loop = services.start_run("durable_flows/checkpointed_loop", [4, str(tmp_path / "log")])
    limited = services.start_run("durable_flows/limited", [1])
    assert (await services.wait_final(loop.id, 60)).status == "completed"
    await services.wait_final(limited.id, 30)

    loop_html = (await client.get(f"/runs/{loop.id}")).text
    limited_html = (await client.get(f"/runs/{limited.id}")).text

    assert '<h2 id="checkpoints-h">Checkpoints</h2>' in loop_html
    assert (
        "<code>next</code>" in loop_html and '<code class="checkpoint-value">4</code>' in loop_html
    )
    assert 'id="fact-priority">5<' in limited_html
    assert "<code>durable_flows/limited</code>" in limited_html
    assert "Checkpoints" not in limited_html and "fact-priority" not in loop_html
    assert '<th scope="col">Plan</th>' in loop_html and "<td>standard</td>" in loop_html


def test_checkpoint_values_are_truncated_for_the_page() -> None:
    rows = checkpoint_rows({"b": "x" * 1000, "a": {"n": 1}})

    assert rows[0] == ("a", '{"n": 1}', False)
    key, text, cut = rows[1]
    assert key == "b" and cut and len(text) == CHECKPOINT_CHARS + 1 and text.endswith("…")
