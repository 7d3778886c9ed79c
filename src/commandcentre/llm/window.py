"""How many model calls to keep in flight: enough to cover the model's latency, no more.

Threads waiting on a slow model cost nothing, but with a fast one (a local server answering in
a few milliseconds) dozens of runnable threads spend their time handing the interpreter lock
to each other. On the outreach workflow bench, drafting for 1,000 contacts with a model that
answers at once took about 1.9 ms per draft with 4 calls in flight and 2.6 to 3.0 ms with 32.

The window is the time a call takes divided by the CPU this process spends on it (Little's law
for the one core that Python code runs on), kept between ``FLOOR`` and the configured
concurrency. The time used is the shortest of the recent calls, not their average: waiting for
the interpreter lock lengthens calls when too many run, which must not make the window grow.
Until ``WARM_UP`` calls have been seen the window is the whole concurrency, so a slow model
gets every call in flight from the start.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from commandcentre.settings import Settings

FLOOR = 2
WARM_UP = 8
SAMPLES = 64


class CallWindow:
    """Thread-safe: calls report from the threads that make them."""

    def __init__(self, ceiling: int, samples: int = SAMPLES) -> None:
        self.ceiling = max(1, ceiling)
        self._lock = threading.Lock()
        self._wall: deque[float] = deque(maxlen=samples)
        self._cpu: deque[float] = deque(maxlen=samples)

    def observe(self, wall_s: float, cpu_s: float) -> None:
        """One finished call: its duration and the CPU its thread spent on it."""
        with self._lock:
            self._wall.append(max(0.0, wall_s))
            self._cpu.append(max(0.0, cpu_s))

    def size(self) -> int:
        with self._lock:
            if len(self._wall) < WARM_UP:
                return self.ceiling
            shortest = min(self._wall)
            cpu = sum(self._cpu) / len(self._cpu)
        if cpu <= 0:
            return self.ceiling
        # Rounded first: an average of many equal floats may land a hair off the ratio.
        calls = math.ceil(round(shortest / cpu, 6))
        return max(min(FLOOR, self.ceiling), min(self.ceiling, calls))


_WINDOWS: dict[tuple[str, int], CallWindow] = {}
_WINDOWS_LOCK = threading.Lock()


def shared_window(ceiling: int, model: str = "") -> CallWindow:
    """The process's window for calls to ``model`` (whatever names it: provider, endpoint
    and model) made ``ceiling`` at a time at most: what one batch learned about that model's
    speed, the next starts with. Another model starts from nothing known."""
    with _WINDOWS_LOCK:
        window = _WINDOWS.get((model, ceiling))
        if window is None:
            window = _WINDOWS[(model, ceiling)] = CallWindow(ceiling)
        return window


def model_of(settings: Settings) -> str:
    """What a window learns the speed of: the configured provider, endpoint and model."""
    return "|".join((settings.llm_provider, settings.llm_base_url, settings.llm_model))


def forget_windows() -> None:
    """Start again from nothing known (tests: each starts as a new process would)."""
    with _WINDOWS_LOCK:
        _WINDOWS.clear()
