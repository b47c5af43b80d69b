"""The noise table: rule vs random on every shipped scenario at 0%, 15% and 30% semantic error.

Runs the same code path as `dialog-rl simulate` (greedy rule, uniform random; seed 0) and prints
a Markdown table with 95% confidence intervals. Run: python benchmarks/noise_table.py [--episodes N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog_rl.domain import load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import make_policy
from dialog_rl.rollout.metrics import format_metric, summarize
from dialog_rl.rollout.runner import run_episodes

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| scenario | noise | policy | success | reward | turns | hang-ups |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        d = load_domain(str(path))
        for noise in (0.0, 0.15, 0.30):
            for name in ("rule", "random"):
                env = DialogueEnv(d, noise=noise)
                policy = make_policy(name, d, env.spec_obs)
                outcomes = [
                    r.outcome for r in run_episodes(env, policy, range(args.episodes), args.seed)
                ]
                m = summarize(outcomes)
                print(
                    f"| {d.name} | {noise:.0%} | {name} | {format_metric(m['success'], pct=True)} "
                    f"| {format_metric(m['reward'])} | {format_metric(m['turns'])} "
                    f"| {format_metric(m['hangup'], pct=True)} |"
                )
    print(f"\n{args.episodes} episodes per row, seed {args.seed}; 95% CIs (Wilson for rates).")


if __name__ == "__main__":
    main()
