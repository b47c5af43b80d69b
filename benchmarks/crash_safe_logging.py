"""What crash-safe logging costs: `dialog-rl simulate --out` throughput by part size.

A run writes its log part by part (each part, its outcomes and the summary fsynced and renamed
into place), so a kill loses at most one part. Smaller parts lose less and cost more writes.
This prints turns per second of CPU and of wall time for several part sizes, in this process,
alternating sizes round by round so a shared machine's load falls on all of them alike.

Run: python benchmarks/crash_safe_logging.py [--episodes N] [--rounds R]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from dialog_rl.cli import main
from dialog_rl.rollout.logs import PART_EPISODES

ROOT = Path(__file__).resolve().parent.parent


def one_run(episodes: int, part: int) -> tuple[float, float, int]:
    """CPU seconds, wall seconds and turns of one logged simulate run."""
    tmp = Path(tempfile.mkdtemp(prefix="dialog-rl-bench-"))
    try:
        args = ["simulate", "--scenario", str(ROOT / "scenarios" / "restaurant.yaml")]
        args += ["--episodes", str(episodes), "--part-episodes", str(part), "--no-progress"]
        cpu, wall = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert main([*args, "--out", str(tmp / "run")]) == 0
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        summary = json.loads((tmp / "run" / "summary.json").read_text())
        turns = round(summary["metrics"]["turns"]["mean"] * episodes)
        return cpu, wall, turns
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = sorted({100, PART_EPISODES, 2000, args.episodes})
    results: dict[int, list[tuple[float, float, int]]] = {s: [] for s in sizes}
    for _ in range(args.rounds):
        for size in sizes:
            results[size].append(one_run(args.episodes, size))
    print(f"restaurant, rule policy, {args.episodes} episodes, median of {args.rounds} rounds")
    print(f"{'part size':>10} {'parts':>6} {'turns/s CPU':>12} {'turns/s wall':>13}")
    for size in sizes:
        cpu = statistics.median(t / c for c, _, t in results[size])
        wall = statistics.median(t / w for _, w, t in results[size])
        mark = "  (default)" if size == PART_EPISODES else ""
        parts = -(-args.episodes // size)
        print(f"{size:>10} {parts:>6} {cpu:>12,.0f} {wall:>13,.0f}{mark}")


if __name__ == "__main__":
    main_()
