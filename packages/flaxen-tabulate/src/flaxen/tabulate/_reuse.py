"""Replaying repeated Module calls (stub)."""

from __future__ import annotations

from typing import Any


class Reuse:
    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder

    def call(self, call: Any, scope: Any, next_fun: Any, args: tuple, kwargs: dict) -> Any:
        return self.recorder.run(call, next_fun, args, kwargs)
