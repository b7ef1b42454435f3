"""Seconds per phase of a stage, for its result and the Dagster metadata."""

from __future__ import annotations

import time


class Laps:
    """``lap("name")`` records the seconds since the previous lap (or since creation) under
    ``name`` in ``into`` — a stage result's ``seconds`` dict."""

    def __init__(self, into: dict[str, float]):
        self.into = into
        self._clock = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = round(now - self._clock, 3)
        self._clock = now
