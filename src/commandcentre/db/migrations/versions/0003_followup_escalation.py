"""follow-up schedule: escalation rows; sends counted per workspace

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = "'reminder', 'value_add', 'check_in', 'post_event', 'meeting_note'"


def _types(allowed: str) -> None:
    with op.batch_alter_table("agent_followup_schedule", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_agent_followup_schedule_followup_type_allowed"), type_="check"
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_agent_followup_schedule_followup_type_allowed"),
            f"followup_type IN ({allowed})",
        )


def upgrade() -> None:
    _types(f"{_OLD}, 'escalation'")
    op.create_index(
        "ix_outreach_sends_workspace_started", "outreach_sends", ["workspace_id", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_outreach_sends_workspace_started", table_name="outreach_sends")
    op.execute("DELETE FROM agent_followup_schedule WHERE followup_type = 'escalation'")
    _types(_OLD)
