"""CPU cost of building and serialising one outreach email.

Times ``compose_email`` alone, ``as_bytes`` with the wire policy the channels use, and both
together, over a mix of first messages and follow-ups with ASCII and non-ASCII names,
subjects and bodies (no I/O, no database). Prints microseconds per message; the best of
``--repeat`` runs is reported because the minimum is the least noisy estimate of CPU cost.

Run: .venv/bin/python bench/compose_cost.py [--count 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commandcentre.outreach.channels.email import _wire_policy
from commandcentre.outreach.compose import compose_email

_NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
RESULTS = Path(__file__).resolve().parent / "results" / "compose_cost.json"


def _inputs(count: int) -> list[dict[str, Any]]:
    variants: list[dict[str, Any]] = []
    for i in range(count):
        fields: dict[str, Any] = {
            "from_address": "ana@agency.example",
            "from_name": "Ana Müller" if i % 2 else "Ana Smith",
            "to_address": f"speaker{i}@conf{i % 7}.example",
            "subject": f"Your talk #{i} at PyCon"
            if i % 3
            else f"Grüße zu deinem Vortrag #{i} in München",
            "body": f"Hi speaker {i},\r\nloved the talk.\n\nAna"
            if i % 4
            else f"Hallo {i},\nschöne Grüße aus München.\nAna",
            "message_id_domain": "mail.agency.example",
            "unsubscribe_url": f"https://cc.example/unsubscribe/{'t0k3n' * 30}{i}",
            "unsubscribe_mailto": None if i % 5 else "unsubscribe@agency.example",
            "postal_address": "Agency Ltd\n1 Main Street\nSpringfield",
            "now": _NOW,
        }
        if i % 2:
            fields["in_reply_to"] = f"<parent{i}@mail.agency.example>"
            fields["references"] = [f"<root{i}@mail.agency.example>"]
        variants.append(fields)
    return variants


def _run(inputs: list[dict[str, Any]]) -> tuple[float, float]:
    compose_total = 0.0
    wire_total = 0.0
    for fields in inputs:
        started = time.perf_counter()
        message = compose_email(**fields)
        composed = time.perf_counter()
        message.as_bytes(policy=_wire_policy(message))
        wire_total += time.perf_counter() - composed
        compose_total += composed - started
    return compose_total, wire_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    inputs = _inputs(args.count)
    _run(inputs[:50])  # warm caches and imports
    runs = [_run(inputs) for _ in range(args.repeat)]
    compose_s, wire_s = min(runs, key=lambda run: run[0] + run[1])
    per = 1e6 / args.count
    print(f"messages:        {args.count} (best of {args.repeat})")
    print(f"compose_email:   {compose_s * per:8.1f} µs/message")
    print(f"as_bytes (wire): {wire_s * per:8.1f} µs/message")
    print(f"total:           {(compose_s + wire_s) * per:8.1f} µs/message")
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "messages": args.count,
        "repeat": args.repeat,
        "compose_us": round(compose_s * per, 1),
        "as_bytes_us": round(wire_s * per, 1),
        "total_us": round((compose_s + wire_s) * per, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {RESULTS}")


if __name__ == "__main__":
    main()
