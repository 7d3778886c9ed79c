"""indexes for the last touch of a contact and for follow-up threads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outreach_sends_contact_started", "outreach_sends", ["contact_id", "started_at"]
    )
    op.create_index(
        op.f("ix_agent_outreach_drafts_parent_draft_id"),
        "agent_outreach_drafts",
        ["parent_draft_id"],
    )
    op.create_index(
        op.f("ix_agent_followup_schedule_draft_id"), "agent_followup_schedule", ["draft_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_followup_schedule_draft_id"), table_name="agent_followup_schedule")
    op.drop_index(
        op.f("ix_agent_outreach_drafts_parent_draft_id"), table_name="agent_outreach_drafts"
    )
    op.drop_index("ix_outreach_sends_contact_started", table_name="outreach_sends")
