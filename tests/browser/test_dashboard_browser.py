"""The dashboard in a real browser: live runs, the chain timeline, logs, cancel, sign-in."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from browser_kit import baton_server, create_token, shoot
from playwright.sync_api import expect

FAN_OUT = "flows/fan_out"


def _start(url: str, args: list[object], token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.post(
        f"{url}/v1/task-runs", json={"task": FAN_OUT, "input": args}, headers=headers
    )
    assert response.status_code == 202, response.text
    run_id: str = response.json()["id"]
    return run_id


def test_fan_out_appears_and_finishes_live_then_timeline_and_logs(
    page: Any, tmp_path: Path
) -> None:
    with baton_server("dev", tmp_path / "baton.db") as url:
        page.goto(url + "/")
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        page.wait_for_function("document.querySelector('#runs') !== null")
        page.wait_for_timeout(300)  # let the EventSource connect before the run starts

        run_id = _start(url, [4, 0.3])

        row = page.locator(f"#run-{run_id}")
        expect(row).to_be_visible()  # arrived over server-sent events, no reload
        expect(row.locator(".c-status")).to_contain_text("completed")
        shoot(page, "runs-page")

        row.get_by_role("link").click()
        expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))
        rows = page.locator("#timeline .tl-row")
        expect(rows).to_have_count(5)
        expect(page.locator('#timeline .tl-row[data-status="completed"]')).to_have_count(5)
        expect(page.locator("#logs")).to_contain_text("fanning out to 4 leaves")
        shoot(page, "run-page")

        rows.nth(1).get_by_role("link").click()
        expect(page.locator("#logs")).to_contain_text(re.compile(r"leaf \d says hello"))
        shoot(page, "child-run-page")

        page.get_by_role("link", name="Tasks").click()
        expect(page.get_by_role("heading", name="flows/leaf")).to_be_visible()
        expect(page.locator("body")).to_contain_text("CPU-seconds")
        shoot(page, "tasks-page")

        page.get_by_role("link", name="Workers & queue").click()
        expect(page.locator("table.workers")).to_contain_text("alive")
        shoot(page, "workers-page")

        page.get_by_role("button", name="Pause queue").click()
        expect(page.locator(".flash")).to_contain_text("Paused the queue.")
        expect(page.locator("#queue-state")).to_contain_text("Queue paused")
        shoot(page, "workers-page-queue-paused")
        schedule = {"task": "flows/leaf", "cron": "*/10 * * * *", "input": [1, 0]}
        assert httpx.post(f"{url}/v1/schedules", json=schedule).status_code == 201
        page.get_by_role("link", name="Schedules").click()
        expect(page.locator("table.schedules")).to_contain_text("*/10 * * * *")
        expect(page.locator("#queue-paused-banner")).to_contain_text("The queue is paused")
        shoot(page, "schedules-page")
        page.get_by_role("link", name="Workers & queue", exact=True).click()
        page.get_by_role("button", name="Resume queue").click()
        expect(page.locator("#queue-state")).to_contain_text("Queue running")

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(url + "/")
        expect(page.locator(f"#run-{run_id}")).to_be_visible()
        shoot(page, "runs-page-phone")


def test_cancel_turns_every_descendant_canceled(page: Any, tmp_path: Path) -> None:
    with baton_server("dev", tmp_path / "baton.db") as url:
        run_id = _start(url, [3, 120])
        page.goto(f"{url}/runs/{run_id}")
        expect(page.locator('#timeline .tl-row[data-status="running"]')).to_have_count(4)

        page.get_by_role("button", name="Cancel run and its chain").click()

        expect(page.locator(".flash")).to_contain_text("Canceled 4 run(s)")
        expect(page.locator('#timeline .tl-row[data-status="canceled"]')).to_have_count(4)
        expect(page.locator("#run-status")).to_contain_text("canceled")
        shoot(page, "run-page-canceled")


def test_sign_in_and_out_on_baton_serve(page: Any, tmp_path: Path) -> None:
    db = tmp_path / "baton.db"
    token = create_token(db)
    with baton_server("serve", db) as url:
        run_id = _start(url, [1, 0], token)
        page.goto(url + "/")
        expect(page).to_have_url(re.compile(r"/signin"))
        shoot(page, "signin-page")

        page.get_by_label("API token").fill("bat_not_a_token")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("not valid")

        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Runs", exact=True)).to_be_visible()
        expect(page.locator(f"#run-{run_id}")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/signin$"))
        page.goto(f"{url}/runs/{run_id}")
        expect(page).to_have_url(re.compile(r"/signin\?next="))
