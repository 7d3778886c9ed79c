"""The collector settings of long-running processes, checked in a process of their own (the
settings are process-wide and would change how this test run collects)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys, weakref
import commandcentre.web.app  # what a server process has loaded before it settles
from commandcentre.agents import heap

loaded_early = [m for m in ("openai", "anthropic") if m in sys.modules]
before = len(gc.get_objects())
heap.settle("openai-compatible")
after = len(gc.get_objects())
loaded = [m for m in ("openai", "anthropic") if m in sys.modules]

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a reference cycle, freed only by the collector
freed = []
weakref.finalize(a, freed.append, True)
del a, b
gc.collect()
print(json.dumps({"before": before, "after": after, "cycle_freed": freed == [True],
                  "young": gc.get_threshold()[0], "loaded_early": loaded_early,
                  "loaded": loaded}))
"""


def test_startup_heap_is_out_of_the_collectors_way_and_cycles_are_still_freed() -> None:
    """Also: only the configured provider's SDK is loaded, at settling rather than on import."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["before"] > 50_000  # the imports leave a large heap behind
    assert seen["after"] < seen["before"] / 100  # which collections no longer walk
    assert seen["cycle_freed"]
    assert seen["young"] > 700  # young collections less often than CPython's default
    assert seen["loaded_early"] == []
    assert seen["loaded"] == ["openai"]
