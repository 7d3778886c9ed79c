"""The garbage collector's settings for the long-running processes (workers, the server).

A worker allocates many short-lived objects per batch (ORM rows, statement parameters, request
and answer dicts). With CPython's defaults a young collection runs every 700 new container
objects, and every full collection walks the whole heap, including the few hundred thousand
objects that importing the web framework, the ORM and the model SDKs leaves behind and that
live as long as the process. Measured on the outreach workflow bench (1,000 workflows), the
collector took about 0.5 s of CPU with the defaults and about 0.1 s with these settings.

``settle`` is called once the process has finished importing and configuring:

* everything alive at that point is moved out of the collector's way (``gc.freeze``): it is
  never examined again, and freed as usual by reference counting if it ever dies;
* young collections run every ``YOUNG_THRESHOLD`` allocations instead of 700, so garbage in
  reference cycles waits a little longer to be freed (everything else is freed by reference
  counting at once, as before). The collector stays on: cycles made later are still found.
"""

from __future__ import annotations

import gc

from commandcentre.llm.providers import load_sdk

YOUNG_THRESHOLD = 20_000


def settle(llm_provider: str | None = None) -> None:
    """Tune the collector for a process that has finished starting up; with
    ``llm_provider``, that provider's SDK is loaded first (it is a large part of the heap)."""
    if llm_provider is not None:
        load_sdk(llm_provider)
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
