"""Our retry policy around model calls (the SDKs' own retries are switched off).

Rules:

* Retried: HTTP 408, 409, 429 and every 5xx (including Anthropic's 529 "overloaded"), timeouts and
  connection errors — up to ``max_retries`` extra attempts.
* Delay: the server's ``Retry-After`` (seconds or an HTTP date; OpenAI's ``retry-after-ms`` too)
  when present; otherwise full-jitter exponential backoff,
  ``uniform(0, min(max_delay, base_delay * 2**attempt))``, so many workers do not retry in step.
* Never retried: spend and quota errors, which raise ``SpendLimitReached`` at once, because
  asking again only repeats the refusal (and with a hard limit may cost money once lifted).
  How each provider reports them is decided by the provider module's classifier.
* A ``Retry-After`` longer than ``retry_after_cap`` fails at once as ``ProviderError``: retrying
  earlier than the server asked only earns another refusal, and waiting that long would hold a
  worker (the task's own retry, or the fallback writer, handles it better).
* Anything else (bad request, bad key, unknown model) fails at once as ``ProviderError``.
* ``NotSent`` errors (an open circuit breaker) and ``StopWork`` errors (a spent budget) are
  raised by our own guards, not by a provider; they propagate untouched.

The sleep function and the random source are injected so tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal, TypeVar

T = TypeVar("T")

RETRY_STATUSES = frozenset({408, 409, 429})


class ModelError(Exception):
    """Base class for failures of a model call."""


class ProviderError(ModelError):
    """The provider refused the call or kept failing after every allowed attempt."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class SpendLimitReached(ModelError):
    """The account is out of credit or over a spend limit; never retried."""


class NotSent(ModelError):
    """Refused before any request left this process (for example an open circuit breaker).

    No tokens were spent, so the usage ledger does not count it as a call.
    """


class StopWork(ModelError):
    """No further model calls may be made for this work (a daily budget is spent).

    Unlike other failures this does not fall back to the offline writer: the task stops and
    says why, so spending limits are visible instead of silently degrading every draft.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Decision:
    kind: Literal["retry", "spend", "fail"]
    status: int | None = None
    retry_after: float | None = None
    message: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    base_delay: float = 0.5
    max_delay: float = 8.0
    retry_after_cap: float = 60.0


def parse_retry_after(
    headers: Mapping[str, str], *, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After``; ``None`` if absent."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def backoff_delay(attempt: int, policy: RetryPolicy, rand: Callable[[], float]) -> float:
    """Full jitter: uniform over [0, min(max_delay, base_delay * 2**attempt)]."""
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**attempt))
    return rand() * ceiling


def call_with_retries(
    fn: Callable[[], T],
    *,
    classify: Callable[[Exception], Decision | None],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> tuple[T, int]:
    """Run ``fn`` under ``policy``; returns its value and the number of attempts made.

    ``classify`` maps an exception to a ``Decision``; ``None`` means "not a provider error" and
    the exception propagates unchanged (a bug should not be disguised as an outage).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn(), attempt
        except Exception as exc:
            decision = classify(exc)
            if decision is None:
                raise
            if decision.kind == "spend":
                raise SpendLimitReached(decision.message or str(exc)) from exc
            if decision.kind == "fail" or attempt > policy.max_retries:
                raise ProviderError(
                    decision.message or str(exc), status=decision.status, attempts=attempt
                ) from exc
            if decision.retry_after is not None:
                if decision.retry_after > policy.retry_after_cap:
                    raise ProviderError(
                        f"{decision.message or exc}; server asked to wait "
                        f"{decision.retry_after:.0f} s",
                        status=decision.status,
                        attempts=attempt,
                    ) from exc
                delay = decision.retry_after
            else:
                delay = backoff_delay(attempt - 1, policy, rand)
            sleep(delay)
