"""In Chromium: the dashboard's agent cards and activity feed change without a reload.

A real server (uvicorn in a thread) serves a SQLite database; the test assigns work
through the API with the owner's token and steps the runtime by hand, as a worker would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx2
import pytest
from playwright.sync_api import Page, expect

from cctest.live import chromium_page, live_server, sign_in_page
from cctest.personas import World
from cctest.services import chromium_available, require
from commandcentre.agents.pumps import Pumps
from commandcentre.clock import ManualClock
from commandcentre.context import AppContext
from commandcentre.web.app import create_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database", ["sqlite"], indirect=True),
]


@pytest.fixture
def base_url(ctx: AppContext, world: World) -> Iterator[str]:
    require("chromium", chromium_available())
    with live_server(create_app(ctx)) as url:
        yield url


@pytest.fixture
def page(base_url: str) -> Iterator[Page]:
    with chromium_page(base_url) as page:
        yield page


def test_agent_card_and_feed_update_live(
    page: Page, base_url: str, world: World, ctx: AppContext, clock: ManualClock
) -> None:
    api = httpx2.Client(base_url=base_url, headers=world.owner.auth, timeout=5)
    agents = {a["agentType"]: a["id"] for a in api.get("/api/agents").json()["agents"]}
    research = agents["research"]

    sign_in_page(page, world.owner.email)
    panel = page.locator("#agent-panel")
    expect(panel).to_have_attribute("data-live", "on")
    card = page.locator(f"#agent-card-{research}")
    feed = page.locator("#activity-feed")
    expect(card.locator('[data-field="status"]')).to_have_text("idle")
    expect(feed).to_contain_text("No activity yet.")
    page.evaluate("window.notReloaded = true")

    assigned = api.post(
        f"/api/agents/{research}/tasks/assign", json={"taskType": "ping", "priority": "high"}
    )
    assert assigned.status_code == 201, assigned.text
    expect(card.locator('[data-field="status"]')).to_have_text("active")
    expect(card.locator('[data-field="status"]')).to_have_class("badge status-active")
    expect(card.locator('[data-field="current"]')).to_have_text("ping (pending, high)")
    expect(feed.locator("li").first).to_contain_text("New high task: ping")

    # Later than the assignment, so the feed's newest-first order is defined.
    clock.advance(timedelta(seconds=1))
    Pumps(factory=ctx.session_factory, clock=clock, worker="browser-test").process_tasks()
    expect(card.locator('[data-field="tasks-completed"]')).to_have_text("1")
    expect(card.locator('[data-field="done-today"]')).to_have_text("1")
    expect(card.locator('[data-field="success-rate"]')).to_have_text("100%")
    expect(card.locator('[data-field="status"]')).to_have_text("idle")
    expect(feed.locator('[data-activity-type="task_completed"]')).to_contain_text(
        "Research is alive"
    )
    expect(feed.locator('[data-activity-type="task_completed"]')).to_have_count(1)
    expect(feed.locator("li").last).to_contain_text("New high task: ping")

    escalated = api.post(
        f"/api/agents/{research}/messages/send",
        json={"messageType": "escalation", "subject": "Nobody answers"},
    )
    assert escalated.status_code == 201
    expect(page.locator("#pending-approvals-count")).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True
    api.close()
