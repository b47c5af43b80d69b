"""Pairing pays: how many episodes paired and unpaired comparisons need to catch one regression.

For each regression (a baseline and a worse candidate on a scenario) and each design:

- ``none``: unpaired: the candidate meets other customers than the baseline;
- ``episode``: the same customers (goal, persona, patience), draws misaligned after the first
  different turn (what ``dialog-rl simulate`` with the same seed gives);
- ``turn``: user and noise draws re-keyed per turn;
- ``act``: draws keyed by what is said (the gate's default; ``dialog_rl/regress/crn.py``);

it prints the standard deviation of the per-episode difference in success, the episodes per
policy a fixed-sample one-sided test (alpha 0.05) needs for 80% power against that regression,
and, running the sequential gate itself ``--repeats`` times with twice that budget, how often it
caught the regression and how many episodes it used on average. ``--false-alarms R`` also runs the gate R times on two
equivalent policies (the same epsilon-soft rule, independent exploration) and prints the
false-alarm rate.

    python benchmarks/pairing.py                      # ~10 minutes on one core
    python benchmarks/pairing.py --false-alarms 1000  # + the calibration figure
"""

from __future__ import annotations

import argparse
import math
import time
from statistics import NormalDist

from dialog_rl.domain import load_domain
from dialog_rl.regress.gate import GateConfig, run_gate
from dialog_rl.rollout.metrics import Z95, rate_ci

CASES = (
    # scenario, noise, baseline, candidate (over-confirming: confirms even confident slots)
    ("restaurant", 0.15, "rule", "rule:confirm-below=0.95"),
    ("shopping", 0.15, "rule", "rule:confirm-below=0.95"),
)
DESIGNS = ("none", "episode", "turn", "act")


def sd_of_difference(domain, path, noise, baseline, candidate, pairing, episodes, seed):
    """Mean and standard deviation of the per-episode success difference under a design."""
    result = run_gate(
        GateConfig(
            path,
            baseline,
            candidate,
            episodes=episodes,
            seed=seed,
            noise=noise,
            looks=1,
            pairing=pairing,
            health_episodes=0,
        ),
        domain=domain,
    )
    m = result.primary
    sd = (m.ci95[1] - m.ci95[0]) / (2 * Z95) * math.sqrt(result.episodes)
    return m.diff, sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=4000, help="pairs to estimate each sd")
    ap.add_argument(
        "--delta-episodes", type=int, default=16000, help="act-paired pairs to estimate the gap"
    )
    ap.add_argument("--repeats", type=int, default=20, help="gate runs per design")
    ap.add_argument("--false-alarms", type=int, default=0, help="gate runs on equal policies")
    args = ap.parse_args()
    nd = NormalDist()
    z = nd.inv_cdf(0.95) + nd.inv_cdf(0.80)
    start = time.perf_counter()
    for scenario, noise, baseline, candidate in CASES:
        path = f"scenarios/{scenario}.yaml"
        domain = load_domain(path)
        stats = {
            p: sd_of_difference(domain, path, noise, baseline, candidate, p, args.episodes, 1)
            for p in DESIGNS
        }
        # the regression, estimated once precisely, on other customers than the runs below
        delta, sd = sd_of_difference(
            domain, path, noise, baseline, candidate, "act", args.delta_episodes, 7
        )
        half = Z95 * sd / math.sqrt(args.delta_episodes)
        print(
            f"\n{scenario}, noise {noise}: {baseline} -> {candidate}: success "
            f"{100 * delta:+.2f} points [{100 * (delta - half):+.2f}, {100 * (delta + half):+.2f}] "
            f"({args.delta_episodes} act-paired episodes)"
        )
        print(
            f"  {'design':<8} {'sd of diff':>10} {'episodes for 80% power':>23} "
            f"{'vs unpaired':>11} {'budget':>7} {'gate caught':>11} {'mean episodes used':>18}"
        )
        needed_unpaired = (z * stats["none"][1] / delta) ** 2
        for p in DESIGNS:
            sd = stats[p][1]
            needed = (z * sd / delta) ** 2
            # each design gets twice what it needs on paper (the sequential test stops earlier)
            budget = int(math.ceil(2 * needed / 50) * 50)
            caught, used = 0, 0
            for r in range(args.repeats):
                res = run_gate(
                    GateConfig(
                        path,
                        baseline,
                        candidate,
                        episodes=budget,
                        seed=100 + r,
                        noise=noise,
                        margin=abs(delta),
                        pairing=p,
                        health_episodes=0,
                    ),
                    domain=domain,
                )
                caught += res.verdict == "worse"
                used += res.episodes
            print(
                f"  {p:<8} {sd:>10.3f} {math.ceil(needed):>23,d} "
                f"{needed_unpaired / needed:>10.1f}x {budget:>7,d} {caught:>5}/{args.repeats:<5} "
                f"{used / max(args.repeats, 1):>18,.0f}"
            )
        print("  (gate: margin = the regression, alpha 0.05, 5 looks, budget = 2x the plan)")

    if args.false_alarms:
        domain = load_domain("scenarios/restaurant.yaml")
        fails = 0
        for r in range(args.false_alarms):
            res = run_gate(
                GateConfig(
                    "scenarios/restaurant.yaml",
                    "rule:eps=0.2",
                    "rule:eps=0.2",
                    episodes=100,
                    looks=2,
                    seed=1000 + r,
                    noise=0.15,
                    independent_exploration=True,
                    health_episodes=0,
                ),
                domain=domain,
            )
            fails += res.verdict == "worse"
        ci = rate_ci([True] * fails + [False] * (args.false_alarms - fails))
        lo, hi = ci["ci95"]
        print(
            f"\nfalse alarms: {fails}/{args.false_alarms} = {100 * fails / args.false_alarms:.1f}% "
            f"[{100 * lo:.1f}, {100 * hi:.1f}] (alpha 5%; rule:eps=0.2 against itself with "
            "independent exploration, restaurant, noise 0.15, 100 paired episodes, 2 looks)"
        )
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
