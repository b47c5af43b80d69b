"""`dialog-rl tui` in a real terminal (tmux): a whole conversation with an override, then save."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Tmux:
    """A private tmux server (its own socket) running one command in a 120x36 window."""

    def __init__(self, name: str, config: Path) -> None:
        # Without a client attached, tmux sizes windows by default-size (80x24 unless set).
        config.write_text("set -g default-size 120x36\n")
        self.base = ["tmux", "-L", name, "-f", str(config)]

    def start(self, command: str) -> None:
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", "tui", "-x", "120", "-y", "36", command],
            check=True,
        )

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*self.base, "send-keys", "-t", "tui", key], check=True)
            time.sleep(0.05)

    def screen(self) -> str:
        out = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True
        )
        return out.stdout

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear on screen within {timeout} s:\n{screen}")

    def stop(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    if shutil.which("tmux") is None:
        raise RuntimeError("the terminal test needs tmux (apt-get install tmux)")
    t = Tmux(f"dialog-rl-test-{os.getpid()}", tmp_path / "tmux.conf")
    yield t
    t.stop()


@pytest.mark.slow
def test_whole_conversation_with_an_override_in_a_real_terminal(tmux, tmp_path):
    out = tmp_path / "saved"
    cmd = [sys.executable, "-m", "dialog_rl.cli", "tui"]
    cmd += ["--scenario", str(ROOT / "scenarios/restaurant.yaml"), "--seed", "0"]
    cmd += ["--out", str(out)]
    # The shell stays after the app so the exit code can be read from the screen.
    tmux.start(f"cd {shlex.quote(str(ROOT))} && {shlex.join(cmd)}; echo TUI-EXIT=$?; sleep 60")
    tmux.wait_for("spc Step")
    tmux.wait_for("turn 1: the policy's choice")
    tmux.keys("Space")
    tmux.wait_for("Agent  1")
    tmux.keys("o")
    tmux.wait_for("Type to filter")
    tmux.keys("Down", "Enter")  # the second allowed action: not the policy's choice
    tmux.wait_for("✎ overridden")
    for _ in range(30):
        if "■ " in tmux.screen():
            break
        tmux.keys("Space")
        time.sleep(0.1)
    screen = tmux.wait_for("■ ")
    assert "after" in screen and "reward" in screen
    tmux.keys("s")
    tmux.wait_for("Saved")
    tmux.keys("q")
    tmux.wait_for("TUI-EXIT=0")
    data = json.loads((out / "session.json").read_text())
    choices = data["current"]["choices"]
    assert [c["overridden"] for c in choices].count(True) == 1 and choices[1]["overridden"]
    assert (out / "log").is_dir() and (out / "demos.parquet").exists()
