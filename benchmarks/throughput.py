"""Single-process simulation throughput: turns per second per scenario.

Rule policy, act-level channel, reward computed every turn (the env's step does it), no text and
no logging: the hot loop of training. A second figure includes what `dialog-rl simulate --out`
adds (utterances and Parquet rows). Run: python benchmarks/throughput.py [--episodes N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.runner import run_episode
from dialog_rl.scenario import load_domain

ROOT = Path(__file__).resolve().parent.parent


def measure(domain, episodes: int, text: bool, record: bool, noise: float) -> float:
    env = DialogueEnv(domain, noise=noise, text=text)
    policy = RulePolicy(domain, env.spec_obs)
    turns = 0
    start = time.perf_counter()
    for i in range(episodes):
        turns += run_episode(env, policy, i, seed=0, record=record).outcome["turns"]
    return turns / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.15)
    args = parser.parse_args()
    print(f"{'scenario':<15} {'hot loop turns/s':>18} {'with text+log rows':>20}")
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        d = load_domain(str(path))
        measure(d, 200, False, False, args.noise)  # warm up
        hot = [measure(d, args.episodes, False, False, args.noise) for _ in range(args.repeats)]
        full = measure(d, args.episodes // 2, True, True, args.noise)
        print(f"{d.name:<15} {statistics.median(hot):>18,.0f} {full:>20,.0f}")
    print(
        f"(median of {args.repeats} runs of {args.episodes} episodes; noise {args.noise}; 1 process)"
    )


if __name__ == "__main__":
    main()
