"""Follow-up text: short, deterministic, and built only from stored facts (each cited).

Follow-ups answer a message the person already has, so they are brief and carry one ask;
every personal detail comes from the same facts the first message used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from commandcentre.llm.types import Claim, Fact

GREETINGS = {"professional": "Hello", "friendly": "Hi", "casual": "Hey"}
SIGN_OFFS = {"professional": "Kind regards", "friendly": "Best", "casual": "Cheers"}


@dataclass(frozen=True, slots=True)
class FollowupText:
    body: str
    claims: list[Claim] = field(default_factory=list)
    reasoning: str = ""


def _value(facts: list[Fact], name: str) -> str | None:
    for fact in facts:
        if fact.field == name:
            return fact.value
    return None


def write_followup(
    *,
    followup_type: str,
    facts: list[Fact],
    first_name: str,
    sender_name: str,
    tone: str,
) -> FollowupText:
    event = _value(facts, "event.name")
    talk = _value(facts, "session.title")
    claims: list[Claim] = []
    if event:
        claims.append(Claim(text=event, source_field="event.name"))
    at_event = f"at {event}" if event else "at the event"
    greeting = f"{GREETINGS.get(tone, 'Hi')} {first_name}".strip() + ","
    if followup_type == "value_add" and talk:
        claims.append(Claim(text=talk, source_field="session.title"))
        middle = (
            f'I have been thinking about your talk "{talk}" and would value ten minutes '
            f"{at_event} to compare notes. Would that suit you?"
        )
        why = "value-add: ties the ask to their talk"
    elif followup_type == "check_in":
        middle = (
            f"Checking in once more about meeting {at_event}. If the timing is wrong, just "
            "say so and I will not follow up again."
        )
        why = "check-in: last regular follow-up, offers an easy way out"
    elif followup_type == "post_event":
        middle = (
            f"I hope {event or 'the event'} went well. Would a short call in the coming weeks "
            "be useful?"
        )
        why = "post-event: the event is over, so the ask moves to a call"
    elif followup_type == "meeting_note":
        middle = (
            f"I am {at_event} now. If you have ten minutes between sessions, I would be glad "
            "to meet."
        )
        why = "meeting note: sent during the event, as asked"
    else:
        middle = (
            f"A quick note to bring my earlier message back to the top of your inbox: would "
            f"a short conversation {at_event} work for you?"
        )
        why = "reminder: brief nudge on the first message"
    sign_off = SIGN_OFFS.get(tone, "Best")
    body = f"{greeting}\n\n{middle}\n\n{sign_off},\n{sender_name}\n"
    return FollowupText(body=body, claims=claims, reasoning=why)
