"""Wakes live-update streams in this process when activity is written.

Streams also poll the activity table, so updates written by other processes (workers on
other machines) arrive too; this only removes the polling delay for local writes.
"""

from __future__ import annotations

import threading
import uuid


class LiveFeed:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._versions: dict[uuid.UUID, int] = {}

    def publish(self, workspace_id: uuid.UUID) -> None:
        with self._cond:
            self._versions[workspace_id] = self._versions.get(workspace_id, 0) + 1
            self._cond.notify_all()

    def version(self, workspace_id: uuid.UUID) -> int:
        with self._cond:
            return self._versions.get(workspace_id, 0)

    def wait(self, workspace_id: uuid.UUID, seen: int, timeout: float) -> int:
        """Block until the workspace's version passes `seen` or the timeout ends."""
        with self._cond:
            self._cond.wait_for(lambda: self._versions.get(workspace_id, 0) > seen, timeout)
            return self._versions.get(workspace_id, 0)


feed = LiveFeed()
