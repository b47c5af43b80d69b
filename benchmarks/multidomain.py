"""The rule policy on a multi-domain scenario, with dialog-rl's metrics and ConvLab-2's.

For each noise level, ``--episodes`` conversations (batched engine, greedy rule policy, seed 0):
dialog-rl's success, reward and turns, and on the same conversations ConvLab-2's evaluation
(``MultiWozEvaluator``: inform precision/recall/F1, match rate, task success; see
``dialog_rl.rollout.metrics.convlab_metrics`` for the definitions and the one deviation), each
with its 95% confidence interval. Prints a Markdown table; ``--json`` writes the summaries.

Run: python benchmarks/multidomain.py [--scenario cambridge] [--episodes 10000]
[--noise 0 0.15 0.3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dialog_rl.domain import load_domain
from dialog_rl.env.vector import DialogueVectorEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.rollout.batched import run_batched
from dialog_rl.rollout.metrics import summarize


def evaluate(scenario: str, noise: float, episodes: int, seed: int = 0) -> dict:
    domain = load_domain(scenario)
    vec = DialogueVectorEnv(domain, num_envs=min(episodes, 1024), noise=noise)
    policy = RulePolicy(domain, vec.spec_obs)
    outcomes = [e.outcome for e in run_batched(vec, policy, episodes, seed, explore=False)]
    return summarize(outcomes)


def _pct(x: dict) -> str:
    lo, hi = x["ci95"]
    return f"{100 * x['mean']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def _num(x: dict) -> str:
    lo, hi = x["ci95"]
    return f"{x['mean']:.2f} [{lo:.2f}, {hi:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="cambridge")
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--noise", nargs="+", type=float, default=[0.0, 0.15, 0.3])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    results = {}
    print(
        "| noise | success | reward | turns | inform P | inform R | inform F1 | match rate "
        "| book rate | task success (ConvLab) |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for noise in args.noise:
        start = time.perf_counter()
        m = evaluate(args.scenario, noise, args.episodes)
        c = m["convlab"]
        results[str(noise)] = {**m, "wall_s": time.perf_counter() - start}
        print(
            f"| {noise:.0%} | {_pct(m['success'])} | {_num(m['reward'])} | {_num(m['turns'])} "
            f"| {_pct(c['inform_precision'])} | {_pct(c['inform_recall'])} "
            f"| {_pct(c['inform_f1'])} | {_pct(c['match_rate'])} "
            f"| {_pct(c['book_rate']) if 'book_rate' in c else '-'} | {_pct(c['task_success'])} |"
        )
    print(
        f"\n{args.scenario}, rule policy (greedy), {args.episodes} conversations per noise level, "
        "seed 0; 95% CIs (Wilson for rates, normal for means)."
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
