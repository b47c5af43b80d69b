"""TUI speed: step latency (key press to screen updated; target p95 < 50 ms) and start-up time
(command to first frame; target < 2 s). With --screenshots DIR, also export the README's SVGs.

Run: python benchmarks/tui.py [--scenario S] [--conversations N] [--startups N] [--screenshots docs]
     python benchmarks/tui.py --scenario scenarios/order_support.yaml --lifetime --conversations 10

With --lifetime each "conversation" is a returning customer's whole lifetime of visits, so the
transcript grows across visits; the latency of the steps with the longest transcripts is printed too.

Step latency is measured in the app itself, headless: the time from a space key reaching the app
to the end of the screen refresh that shows the new turn (session step, panes re-rendered,
compositor done), plus the CPU time that took. Start-up is measured in a real terminal (tmux):
from launching `dialog-rl tui` to the footer being on screen. The machine's load average is
printed alongside, because wall-clock figures on a shared machine move with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from textual import events

from dialog_rl.tui.app import DialogApp
from dialog_rl.tui.launch import build_session
from dialog_rl.tui.messages import SessionChanged

ROOT = Path(__file__).resolve().parent.parent


class TimedApp(DialogApp):
    """DialogApp that records when the screen refresh after each session change has finished."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.done: asyncio.Future | None = None

    def on_session_changed(self, message: SessionChanged) -> None:
        super().on_session_changed(message)
        if self.done is not None and not self.done.done():
            fut = self.done
            self.call_after_refresh(lambda: fut.done() or fut.set_result(time.perf_counter()))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def step_latency(
    scenario: str, conversations: int, lifetime: bool = False
) -> tuple[list[float], list[float], list[int]]:
    session = build_session(scenario=scenario, policy=None, seed=0, noise=None, lifetime=lifetime)
    app = TimedApp(session, tempfile.mkdtemp())
    wall, cpu, shown = [], [], []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.2)
        loop = asyncio.get_running_loop()
        for _ in range(conversations):
            app.screen.action_new(False)
            await pilot.pause()
            while not app.session.finished:
                app.done = loop.create_future()
                c0, t0 = time.process_time(), time.perf_counter()
                app._driver.send_message(events.Key("space", " "))
                t1 = await app.done
                wall.append(t1 - t0)
                cpu.append(time.process_time() - c0)
                shown.append(len(app.session.turns))
    return wall, cpu, shown


def startup_in_terminal(scenario: str, repeats: int) -> list[float]:
    """Seconds from launching the command in tmux to the footer being drawn."""
    if shutil.which("tmux") is None:
        return []
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "tmux.conf"
        conf.write_text("set -g default-size 120x36\n")
        base = ["tmux", "-L", f"dialog-rl-bench-{os.getpid()}", "-f", str(conf)]
        cmd = [sys.executable, "-m", "dialog_rl.cli", "tui", "--scenario", scenario]
        cmd += ["--out", str(Path(tmp) / "out")]
        for i in range(repeats):
            name = f"s{i}"
            start = time.perf_counter()
            subprocess.run(
                [
                    *base,
                    "new-session",
                    "-d",
                    "-s",
                    name,
                    "-x",
                    "120",
                    "-y",
                    "36",
                    f"cd {shlex.quote(str(ROOT))} && {shlex.join(cmd)}",
                ],
                check=True,
            )
            while time.perf_counter() - start < 30:
                screen = subprocess.run(
                    [*base, "capture-pane", "-p", "-t", name], capture_output=True, text=True
                ).stdout
                if "spc Step" in screen and "Why" in screen:
                    break
                time.sleep(0.005)
            times.append(time.perf_counter() - start)
            subprocess.run([*base, "send-keys", "-t", name, "q"], check=False)
            time.sleep(0.3)
        subprocess.run([*base, "kill-server"], capture_output=True)
    return times


HEADLESS_PROBE = """
import asyncio
from dialog_rl.tui.launch import build_session
from dialog_rl.tui.app import DialogApp

async def main():
    app = DialogApp(build_session(scenario={scenario!r}, policy=None, seed=0, noise=None), "x")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()

asyncio.run(main())
"""


def startup_cpu(scenario: str, repeats: int) -> list[float]:
    """CPU seconds (user + system) from interpreter start to the first frame, headless.

    Unlike wall-clock start-up, this does not move with the machine's load.
    """
    import resource

    out = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-c", HEADLESS_PROBE.format(scenario=scenario)], check=True, cwd=ROOT
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return out


async def screenshots(scenario: str, directory: Path) -> list[Path]:
    """The README's SVGs, exported by Textual: the main screen, and the override picker."""
    directory.mkdir(parents=True, exist_ok=True)
    shots = [
        ("tui-main.svg", ["space", "space", "space", "d", "g"]),
        ("tui-override.svg", ["space", "space", "o", *"req"]),
    ]
    written = []
    for name, keys in shots:
        session = build_session(scenario=scenario, policy=None, seed=0, noise=None)
        app = DialogApp(session, tempfile.mkdtemp())
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press(*keys)
            await pilot.pause()
            path = directory / name
            app.save_screenshot(str(path))
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default=str(ROOT / "scenarios/restaurant.yaml"))
    parser.add_argument("--conversations", type=int, default=30)
    parser.add_argument("--startups", type=int, default=5)
    parser.add_argument("--screenshots", default=None, help="export the README SVGs here")
    parser.add_argument("--lifetime", action="store_true", help="returning customers' lifetimes")
    args = parser.parse_args()

    if args.screenshots:
        for path in asyncio.run(screenshots(args.scenario, Path(args.screenshots))):
            print(f"wrote {path}")
        return

    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f}")
    wall, cpu, shown = asyncio.run(step_latency(args.scenario, args.conversations, args.lifetime))
    what = "lifetimes" if args.lifetime else "conversations"
    print(
        f"step latency (key to screen updated), {len(wall)} steps over {args.conversations} "
        f"{what}: p50 {statistics.median(wall) * 1e3:.1f} ms, "
        f"p95 {pct(wall, 0.95) * 1e3:.1f} ms, max {max(wall) * 1e3:.1f} ms "
        f"(target p95 < 50 ms); CPU per step p50 {statistics.median(cpu) * 1e3:.1f} ms, "
        f"p95 {pct(cpu, 0.95) * 1e3:.1f} ms"
    )
    if args.lifetime:
        longest = sorted(range(len(wall)), key=lambda i: shown[i])[-10:]
        print(
            f"  the 10 steps with the longest transcripts ({min(shown[i] for i in longest)}-"
            f"{max(shown)} agent turns on screen): median "
            f"{statistics.median(wall[i] for i in longest) * 1e3:.1f} ms, "
            f"max {max(wall[i] for i in longest) * 1e3:.1f} ms"
        )
        return
    times = startup_in_terminal(args.scenario, args.startups)
    if times:
        print(
            f"start-up (`dialog-rl tui` to first frame, tmux 120x36), {len(times)} runs: "
            f"median {statistics.median(times):.2f} s, max {max(times):.2f} s (target < 2 s)"
        )
    else:
        print("start-up: tmux not found, not measured")
    cpu_start = startup_cpu(args.scenario, args.startups)
    print(
        f"start-up CPU time (interpreter start to first frame, headless), {len(cpu_start)} runs: "
        f"median {statistics.median(cpu_start):.2f} s"
    )


if __name__ == "__main__":
    main()
