"""Hundreds of random key presses, across every screen and odd terminal sizes, never crash the app."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual import events

# Every key the app binds, plus what people type into the filter and text boxes. Not q: it quits
# (tested on its own), which would end the run early.
KEYS = [
    "space",
    "a",
    "plus",
    "minus",
    "equals_sign",
    "o",
    "r",
    "n",
    "N",
    "e",
    "d",
    "g",
    "t",
    "c",
    "s",
    "i",
    "question_mark",
    "f1",
    "escape",
    "enter",
    "tab",
    "shift+tab",
    "up",
    "down",
    "left",
    "right",
    "home",
    "end",
    "backspace",
    "delete",
    "ctrl+a",
    "ctrl+k",
    "f",
    "o",
    "d",
    "r",
    "e",
    "q",
    "u",
    "t",
    "x",
    "0",
    "1",
    "3",
    ".",
    "-",
    "a",
    "b",
    "y",
]
KEYS = [k for k in KEYS if k != "q"]
SIZES = [(120, 36), (80, 24), (40, 12), (20, 6), (10, 3), (200, 50)]


def character(key: str) -> str | None:
    if len(key) == 1:
        return key
    return {"space": " ", "plus": "+", "minus": "-", "equals_sign": "=", "question_mark": "?"}.get(
        key
    )


@pytest.mark.slow
@pytest.mark.parametrize("policy, seed", [("rule", 0), ("memo", 1)])
async def test_random_keys_never_crash(make_app, policy, seed):
    rng = np.random.default_rng(seed)
    app = make_app(policy=policy, seed=seed)
    screens: set[str] = set()
    async with app.run_test(size=SIZES[0]) as pilot:
        for i in range(300):
            key = KEYS[int(rng.integers(len(KEYS)))]
            # Sent straight to the driver (no wait after each), like a fast typist or a held key.
            app._driver.send_message(events.Key(key, character(key)))
            await asyncio.sleep(0)
            if i % 20 == 19:
                await pilot.pause()
                screens.add(type(app.screen).__name__)
            if i % 60 == 59:
                await pilot.resize_terminal(*SIZES[int(rng.integers(len(SIZES)))])
        await pilot.pause()
        assert app.is_running
    assert app.return_code in (None, 0)
    assert len(screens) >= 3, screens  # the run went through several screens, not just one
