"""`dialog-rl simulate --backend ray` on a quiet and on a busy machine, at the priority dialog-rl
gives a local Ray instance's workers and at Ray's own default.

Ray runs its worker processes 15 steps nicer than the process that starts it
(``RAY_worker_niceness``); dialog-rl's ``backends.start_ray`` sets 0 for a local instance, so a
run's actors share the CPU as the process pool's workers do. This script times the command
(wall seconds, start-up included) with nothing else running, then beside one busy loop per CPU
(plain Python ``while True``, at normal priority), each way: dialog-rl's setting, and
``RAY_worker_niceness=15`` (Ray's default, which a user's own setting overrides). The two ways
take turns, ``--repeats`` times each.

Run: python benchmarks/ray_priority.py [--episodes N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WAYS = {"dialog-rl (0)": {}, "Ray's default (15)": {"RAY_worker_niceness": "15"}}


def simulate_seconds(episodes: int, env: dict) -> float:
    """Wall seconds of one ``simulate --backend ray --workers 2`` run into a new directory."""
    with tempfile.TemporaryDirectory(prefix="dialog-rl-ray-") as tmp:
        cmd = ["dialog-rl", "simulate", "--scenario", "restaurant"]
        cmd += ["--episodes", str(episodes), "--backend", "ray", "--workers", "2"]
        cmd += ["--no-progress", "--out", str(Path(tmp) / "run")]
        start = time.perf_counter()
        subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.pop("RAY_worker_niceness", None)  # each way sets its own
    print(f"dialog-rl simulate --backend ray --workers 2, {args.episodes} conversations, wall s")
    for load in ("quiet", "busy"):
        busy = []
        if load == "busy":
            loop = [sys.executable, "-c", "while True: pass"]
            busy = [subprocess.Popen(loop) for _ in range(os.cpu_count() or 1)]
        try:
            times: dict[str, list[float]] = {way: [] for way in WAYS}
            for _ in range(args.repeats):
                for way, env in WAYS.items():
                    times[way].append(simulate_seconds(args.episodes, env))
        finally:
            for p in busy:
                p.kill()
                p.wait()
        label = "nothing else running" if load == "quiet" else f"{len(busy)} busy loops beside it"
        for way, seconds in times.items():
            shown = ", ".join(f"{s:.1f}" for s in seconds)
            print(f"  {label:<24} {way:<20} {statistics.median(seconds):6.1f}  ({shown})")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
