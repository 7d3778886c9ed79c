"""Typed inputs and outputs of every writer (offline or model-backed).

A writer only ever sees a ``DraftRequest``: the few stored fields the task needs, flattened into
``Fact`` rows. It never sees whole records, so it cannot leak another contact's data, and the
result has no recipient field, so it cannot choose who a message goes to.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Tone = Literal["professional", "friendly", "casual"]
Channel = Literal["email", "linkedin"]

# Fields whose text comes from outside the workspace (scraped bios, talk titles and abstracts,
# account news gathered from fetched pages).
# They are treated as untrusted even when a caller forgets to list them, because forgetting is
# the likely mistake and over-fencing costs nothing.
_ALWAYS_UNTRUSTED = re.compile(
    r"^(contact\.bio|session\.(abstract|title)|event\.description|intel\.[^.]+\.(body|title)"
    r"|fetched\..+)$"
)
MAX_INSTRUCTION_CHARS = 500
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$")


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Fact(_Strict):
    """One stored field the writer may use, e.g. ``contact.title`` = ``Head of Data``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    field: str = Field(min_length=3, max_length=120)
    value: str = Field(min_length=1)

    @field_validator("field")
    @classmethod
    def _dotted_name(cls, v: str) -> str:
        # Field names end up inside prompt attributes, so keep them to a safe alphabet.
        if not _FIELD_NAME.match(v):
            raise ValueError(f"fact field must look like 'record.attribute', got {v!r}")
        return v

    @field_validator("value")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("fact value must not be blank; omit the fact instead")
        return v


class DraftRequest(_Strict):
    recipient_name: str = Field(min_length=1, max_length=300)
    # May be empty: imported contacts often lack a parsed first name.
    recipient_first_name: str = Field(default="", max_length=150)
    sender_name: str = Field(min_length=1, max_length=300)
    sender_company: str = Field(default="", max_length=300)
    tone: Tone = "professional"
    channel: Channel = "email"
    ask: str = Field(min_length=1, max_length=200)
    facts: list[Fact] = Field(default_factory=list)
    untrusted_fields: set[str] = Field(default_factory=set)
    # The user's own short request when a draft is written again ("shorter", "leave out the
    # talk"). Trusted: it comes from the signed-in user, never from stored or fetched text.
    instruction: str = Field(default="", max_length=MAX_INSTRUCTION_CHARS)

    @field_validator("recipient_name", "sender_name", "ask")
    @classmethod
    def _required_text(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v

    @model_validator(mode="after")
    def _unique_fields(self) -> DraftRequest:
        seen: set[str] = set()
        for fact in self.facts:
            if fact.field in seen:
                raise ValueError(f"duplicate fact field {fact.field!r}")
            seen.add(fact.field)
        return self

    def get(self, field: str) -> str | None:
        for fact in self.facts:
            if fact.field == field:
                return fact.value
        return None

    def is_untrusted(self, field: str) -> bool:
        return field in self.untrusted_fields or bool(_ALWAYS_UNTRUSTED.match(field))


class Claim(_Strict):
    """A personal statement in a draft and the stored field it came from."""

    text: str
    source_field: str


class DraftOutput(_Strict):
    """What a model is asked to return; code adds ``writer`` and ``flags`` afterwards."""

    subject: str
    body: str = Field(min_length=1)
    claims: list[Claim] = Field(default_factory=list)
    reasoning: str = ""


class DraftResult(DraftOutput):
    writer: str
    flags: list[str] = Field(default_factory=list)


@runtime_checkable
class Writer(Protocol):
    name: str

    def draft(self, request: DraftRequest) -> DraftResult: ...
