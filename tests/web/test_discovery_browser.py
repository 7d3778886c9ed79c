"""In Chromium: sign in, import a speakers CSV, run discovery, open the new opportunity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect, sync_playwright

from cctest.live import CHROMIUM_ARGS, live_server
from cctest.personas import PASSWORD, World
from cctest.services import CHROMIUM, chromium_available, require

pytestmark = pytest.mark.browser

SPEAKERS_CSV = """First Name,Last Name,Company,Job Title,Email,Talk Title
Amara,Okafor,Helix Robotics GmbH,VP Engineering,amara@helix-robotics.io,Robots that read the room
Jonas,Berg,Helix Robotics,Staff Engineer,jonas@helix-robotics.io,Fleet telemetry at scale
Lena,Fischer,Unrelated Bakery,Owner,lena@bakery.example,Sourdough and sensors
"""


@pytest.fixture
def browser() -> Iterator[Browser]:
    require("chromium", chromium_available())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_import_then_discover_then_open_the_opportunity(
    app: FastAPI, client: TestClient, world: World, browser: Browser, tmp_path: Path
) -> None:
    created = client.post(
        "/api/accounts",
        json={"name": "Helix Robotics", "domain": "helix-robotics.io", "tier": 1},
        headers=world.owner.auth,
    )
    assert created.status_code == 201
    csv_path = tmp_path / "speakers.csv"
    csv_path.write_text(SPEAKERS_CSV, encoding="utf-8")

    with live_server(app) as base:
        page = browser.new_page()
        page.set_default_timeout(8000)
        page.goto(f"{base}/login")
        page.get_by_label("Email").fill(world.owner.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Command Centre")).to_be_visible()

        page.goto(f"{base}/imports")
        page.locator("select[name=kind]").select_option("speakers")
        page.locator("input[name=event]").fill("Robotics Week Berlin")
        page.locator("input[name=file]").set_input_files(str(csv_path))
        page.get_by_role("button", name="Import").click()
        expect(page.get_by_text("speakers.csv").first).to_be_visible()
        expect(page.locator("body")).to_contain_text("3")

        page.goto(f"{base}/opportunities")
        page.get_by_role("button", name="Run discovery").click()
        link = page.get_by_role("link", name="Robotics Week Berlin")
        expect(link).to_be_visible()
        link.click()

        expect(page.locator("h1")).to_contain_text("Robotics Week Berlin")
        body = page.locator("main")
        expect(body).to_contain_text("Helix Robotics")
        expect(body).to_contain_text("Amara Okafor")
        expect(body).to_contain_text("Jonas Berg")
        expect(body).not_to_contain_text("Lena Fischer")
