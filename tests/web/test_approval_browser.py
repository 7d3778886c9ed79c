"""In Chromium: the draft approval queue driven from the keyboard, bulk approval, undo.

A real server (uvicorn in a thread) serves a SQLite database with pending drafts made by
the drafting service; the keys only press the page's own forms, so what is checked is
what the server recorded and shows back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from cctest.live import chromium_page, live_server, sign_in_page
from cctest.outreach import Drafted, seed_drafts
from cctest.personas import World
from cctest.services import chromium_available, require
from commandcentre.context import AppContext
from commandcentre.db.scoping import workspace_session
from commandcentre.outreach.models import OutreachDraft
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


def _statuses(ctx: AppContext, drafted: Drafted, ids: list[str]) -> list[str]:
    """The stored status of each draft, in the order given."""
    with workspace_session(ctx.session_factory, drafted.workspace_id) as session:
        found = []
        for draft_id in ids:
            draft = session.get(OutreachDraft, uuid.UUID(draft_id))
            assert draft is not None
            found.append(draft.status)
        return found


def test_keyboard_approve_bulk_approve_and_take_back(
    page: Page, base_url: str, world: World, ctx: AppContext
) -> None:
    drafted = seed_drafts(
        ctx, 3, slug="acme", config={"businessHoursOnly": False, "undoDelaySeconds": 600}
    )
    sign_in_page(page, world.owner.email)

    page.get_by_role("link", name="Drafts", exact=True).click()
    expect(page.locator("#drafts-pending-count")).to_have_text("3 waiting")
    # The script is loaded: the key help shows.
    expect(page.locator("#shortcut-help")).to_be_visible()
    cards = page.locator(".draft-card")
    expect(cards).to_have_count(3)
    ids = [str(cards.nth(i).get_attribute("data-draft-id")) for i in range(3)]
    assert sorted(ids) == sorted(str(d) for d in drafted.draft_ids)
    first, second, third = ids

    # j selects the first draft, j/k move; e opens the editor, r goes to the reason.
    page.keyboard.press("j")
    expect(cards.nth(0)).to_have_class("card draft-card is-current")
    page.keyboard.press("j")
    expect(cards.nth(1)).to_have_class("card draft-card is-current")
    page.keyboard.press("k")
    expect(cards.nth(0)).to_have_class("card draft-card is-current")
    page.keyboard.press("e")
    expect(cards.nth(0).locator("details[data-edit]")).to_have_attribute("open", "")
    expect(page.locator(f"#subject-{first}")).to_be_focused()
    page.locator(f"#draft-{first}").focus()
    page.keyboard.press("r")
    expect(page.locator(f"#reason-{first}")).to_be_focused()

    # a approves the current draft through its form.
    page.locator(f"#draft-{first}").focus()
    page.keyboard.press("a")
    expect(page.locator(".flash")).to_contain_text("Approved.")
    expect(page.locator("#drafts-pending-count")).to_have_text("2 waiting")
    approved = page.locator(f".approved-card#draft-{first}")
    expect(approved.locator('[data-field="send-status"]')).to_have_text("Queued")
    assert _statuses(ctx, drafted, ids) == ["approved", "pending_approval", "pending_approval"]

    # x ticks drafts for one bulk approval.
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(page.locator(f'input[data-select][value="{second}"]')).to_be_checked()
    expect(page.locator(f'input[data-select][value="{third}"]')).to_be_checked()
    page.locator("#bulk-approve").click()
    expect(page.locator(".flash")).to_have_text("Approved 2 drafts.")
    expect(page.locator("#drafts-pending-count")).to_have_text("0 waiting")
    expect(page.locator("#no-drafts")).to_be_visible()
    expect(page.locator('.approved-card [data-field="send-status"]')).to_have_count(3)
    assert _statuses(ctx, drafted, ids) == ["approved", "approved", "approved"]

    # Within the undo delay, one is taken back and waits for a decision again.
    page.locator(f"#draft-{second}").get_by_role("button", name="Take back").click()
    expect(page.locator(".flash")).to_contain_text("Taken back")
    expect(page.locator("#drafts-pending-count")).to_have_text("1 waiting")
    expect(page.locator(f".draft-card#draft-{second}")).to_be_visible()
    assert _statuses(ctx, drafted, ids) == ["approved", "pending_approval", "approved"]
