"""Every option of Command Centre in one place.

Options come from `COMMANDCENTRE_*` environment variables or an optional `.env` file;
the defaults run the embedded single-process setup (SQLite under ./var/).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.orm import Session


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMMANDCENTRE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///var/commandcentre.db",
        description="SQLAlchemy URL. SQLite file by default; postgresql://user@host/db at scale.",
    )
    data_dir: Path = Field(default=Path("var"), description="Where local files live.")
    secret_key: str = Field(
        default="",
        description="Signs unsubscribe links and similar tokens. Generated into data_dir if empty.",
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(default=8000, description="Port `serve` listens on.")
    session_days: int = Field(default=14, description="How long a sign-in lasts.")
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure (turn on behind HTTPS)."
    )
    login_max_failures: int = Field(
        default=5, description="Failed sign-ins per email and address before a pause."
    )
    login_lockout_minutes: int = Field(default=15, description="Length of that pause.")
    import_max_bytes: int = Field(default=20_000_000, description="Largest import file.")
    import_max_field_chars: int = Field(default=10_000, description="Longest imported field.")
    demo_email: str = Field(default="demo@example.com", description="Demo sign-in email.")
    demo_password: str = Field(default="demo-password", description="Demo sign-in password.")
    demo_workspace: str = Field(default="demo", description="Demo workspace slug.")
    page_size: int = Field(default=25, description="Rows per page in lists.")
    queue_url: str = Field(
        default="",
        description="Job-queue storage for wake-ups: empty = SQLite file in data_dir, "
        "redis://host:6379/0, or postgresql://user@host/db.",
    )
    worker_threads: int = Field(default=4, ge=1, le=64, description="Threads per worker.")
    tick_seconds: float = Field(
        default=5.0, gt=0, description="How often workers sweep for due and lost work."
    )
    task_batch: int = Field(
        default=25, ge=1, le=500, description="Agent tasks a worker claims and commits together."
    )
    message_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Agent messages a worker claims and delivers in one transaction.",
    )
    due_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often workers look for follow-ups and sends that fell due.",
    )
    lease_seconds: float = Field(
        default=120.0, gt=0, description="How long a worker may hold a claimed row."
    )
    llm_provider: Literal["offline", "openai", "anthropic", "openai-compatible"] = Field(
        default="offline",
        description="Who writes drafts: offline templates (no key needed), openai, anthropic, "
        "or openai-compatible (Ollama, vLLM, llama.cpp; needs llm_base_url).",
    )
    llm_base_url: str = Field(
        default="", description="Model API base URL; empty = the provider's public endpoint."
    )
    llm_api_key: SecretStr = Field(
        default=SecretStr(""), description="Model API key; empty = offline writer."
    )
    llm_model: str = Field(default="", description="Model name; empty = the provider default.")
    llm_cheap_model: str = Field(
        default="", description="Cheaper model for simple tasks; empty = llm_model."
    )
    llm_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of one model request."
    )
    llm_max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a model request after 429/5xx/timeouts."
    )

    llm_requests_per_second: float = Field(
        default=5.0, gt=0, description="Model requests per second per provider, all workers."
    )
    llm_concurrency: int = Field(
        default=8, ge=1, le=256, description="Model calls in flight at once per worker."
    )
    public_base_url: str = Field(
        default="",
        description="Where people reach this server (unsubscribe links); empty = http://host:port.",
    )
    mail_from_address: str = Field(
        default="outreach@example.com", description="From address of outreach email."
    )
    mail_from_name: str = Field(default="", description="From name; empty = the workspace name.")
    mail_daily_cap: int = Field(
        default=50, ge=1, le=100_000, description="Emails per mailbox per rolling 24 hours."
    )
    mail_postal_address: str = Field(
        default="", description="Sender postal address printed in every email footer."
    )
    mail_message_id_domain: str = Field(
        default="", description="Domain of our Message-IDs; empty = the From address's domain."
    )
    outbox_dir: Path | None = Field(
        default=None, description="Where emails go with no SMTP host: data_dir/outbox by default."
    )
    mail_reconcile_delay_seconds: float = Field(
        default=30.0,
        ge=0,
        description="After an unknown SMTP outcome, wait this long before looking in Sent.",
    )
    smtp_host: str = Field(default="", description="SMTP server; empty = write to the outbox.")
    smtp_port: int = Field(default=587, description="SMTP port.")
    smtp_username: str = Field(default="", description="SMTP user; empty = no authentication.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls", description="starttls, ssl (implicit TLS) or none (local relays)."
    )
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP timeout.")
    imap_host: str = Field(
        default="", description="IMAP server for replies and Sent-folder checks; empty = none."
    )
    imap_port: int = Field(default=993, description="IMAP port.")
    imap_username: str = Field(default="", description="IMAP user.")
    imap_password: SecretStr = Field(default=SecretStr(""), description="IMAP password.")
    imap_ssl: bool = Field(default=True, description="IMAP over TLS.")
    imap_inbox_folder: str = Field(default="INBOX", description="Where replies arrive.")
    imap_sent_folder: str = Field(default="Sent", description="Where sent copies are filed.")
    imap_poll_seconds: float = Field(
        default=60.0, gt=0, description="How often workers look for replies over IMAP."
    )
    imap_sent_copies_automatic: bool = Field(
        default=False,
        description="The provider files every accepted message in Sent by itself "
        "(Gmail, Microsoft 365): a message missing there after an unknown outcome is resent.",
    )
    inbound_webhook_token: SecretStr = Field(
        default=SecretStr(""), description="Secret for POST /api/inbound/mime; empty = off."
    )


SETTINGS_KEY = "commandcentre.settings"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def settings_of(session: Session) -> Settings:
    """The settings of the context that made this session (process settings otherwise)."""
    found = session.info.get(SETTINGS_KEY)
    return found if isinstance(found, Settings) else get_settings()
