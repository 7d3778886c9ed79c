"""Delivery channels for approved outreach messages."""

from __future__ import annotations

from commandcentre.outreach.channels.email import (
    Channel,
    OutboxChannel,
    SendOutcome,
    SendReceipt,
    SmtpChannel,
)

__all__ = ["Channel", "OutboxChannel", "SendOutcome", "SendReceipt", "SmtpChannel"]
