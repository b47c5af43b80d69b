"""Accuracy of off-policy evaluation against the simulator's ground truth.

Logs ``--episodes`` conversations from the epsilon-soft rule policy (``dialog-rl simulate --policy
rule --epsilon E``), then evaluates three targets from those logs: the greedy rule policy, a trained
DQN (``dialog-rl train --algo dqn``, or ``--dqn RUN``) and the random policy. For each target and
estimator it prints the estimate, its 95% bootstrap interval, the truth (the target played online
for ``--truth-episodes`` conversations, with its own 95% interval) and the relative error, and
writes them as CSV. It also prints the half-width an on-policy Monte-Carlo estimate from the same
number of conversations would have: no off-policy estimator can be expected to beat it.

    python benchmarks/ope.py                      # 10,000 logged dialogues, about 5 minutes on 2 cores
    python benchmarks/ope.py --episodes 2000 --truth-episodes 5000   # a quick look
"""

from __future__ import annotations

import argparse
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "restaurant.yaml"))
    ap.add_argument("--episodes", type=int, default=10_000, help="logged conversations")
    ap.add_argument("--epsilon", type=float, default=0.3, help="exploration of the logger")
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--truth-episodes", type=int, default=20_000)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dqn", default=None, help="trained DQN run directory (default: train one)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench-ope"), help="logs, DQN and ope.csv")
    args = ap.parse_args()

    from dialog_rl.domain import load_domain
    from dialog_rl.env import DialogueEnv
    from dialog_rl.ope.command import logger_distribution
    from dialog_rl.ope.fqe import FQE
    from dialog_rl.ope.logged import load_logged
    from dialog_rl.ope.report import RECOMMENDED, evaluate_logged, online_value
    from dialog_rl.policies import make_policy

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logs = out / "logs"
    t0 = time.perf_counter()
    cli = [sys.executable, "-m", "dialog_rl.cli"]
    _run(
        [*cli, "simulate", "--scenario", args.scenario, "--policy", "rule", "--epsilon",
         str(args.epsilon), "--episodes", str(args.episodes), "--noise", str(args.noise),
         "--seed", str(args.seed), "--out", str(logs), "--force", "--no-progress"]
    )  # fmt: skip
    dqn = args.dqn
    if dqn is None:
        dqn = str(out / "dqn")
        _run(
            [*cli, "train", "--scenario", args.scenario, "--algo", "dqn", "--dialogues", "4000",
             "--seed", str(args.seed), "--noise", str(args.noise), "--out", dqn, "--force",
             "--no-progress"]
        )  # fmt: skip
    print(f"logs and DQN ready in {time.perf_counter() - t0:.0f} s\n", flush=True)

    domain = load_domain(args.scenario)
    logged = load_logged(logs)
    env = DialogueEnv(domain, noise=args.noise)
    names = env.spec_obs.names
    logger_dist, _ = logger_distribution(logged, domain, env.spec_obs)
    rows = []
    summary = []
    for label, name in (("rule (greedy)", "rule"), ("DQN (greedy)", dqn), ("random", "random")):
        t = time.perf_counter()
        policy = make_policy(name, domain, env.spec_obs)
        dist = logged.target_distribution(policy, explore=False)
        result = evaluate_logged(
            logged,
            dist,
            feature_names=names,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            fqe=FQE(),
            logger_dist=logger_dist,
            action_names=domain.act_names,
        )
        truth_seed = 1_000_003 + args.seed  # disjoint from the logging run's customers
        truth, returns = online_value(
            env, policy, episodes=args.truth_episodes, seed=truth_seed, explore=False
        )
        oracle = 1.959963984540054 * returns.std(ddof=1) / math.sqrt(logged.n_episodes)
        w = result.weights
        print(
            f"== target {label}: truth {truth.value:.3f} [{truth.low:.3f}, {truth.high:.3f}] "
            f"({args.truth_episodes} online conversations); ESS {w.ess:.0f} of {w.n_episodes}, "
            f"max weight {w.max_weight:.3g}; on-policy MC with {logged.n_episodes} conversations "
            f"would be +-{oracle:.3f} ({100 * oracle / abs(truth.value):.1f}%)"
        )
        print(f"  {'estimator':<9} {'estimate':>9}  {'95% CI':<20} {'rel.err':>8} {'covers':>6}")
        for r in result.trajectory:
            e = r.estimate
            rel = abs(e.value - truth.value) / abs(truth.value)
            mark = " *" if r.name == RECOMMENDED else ""
            print(
                f"  {r.name + mark:<9} {e.value:>9.3f}  [{e.low:>7.3f}, {e.high:>7.3f}]  "
                f"{100 * rel:>7.1f}% {'yes' if e.covers(truth.value) else 'NO':>6}"
            )
            rows.append(
                {
                    "target": label,
                    "estimator": r.name,
                    "estimate": e.value,
                    "ci_low": e.low,
                    "ci_high": e.high,
                    "truth": truth.value,
                    "truth_low": truth.low,
                    "truth_high": truth.high,
                    "rel_error": rel,
                    "covers": e.covers(truth.value),
                    "ess": w.ess,
                    "oracle_halfwidth": oracle,
                }
            )
        for msg in result.warnings:
            print(f"  warning: {msg}")
        rec = result.row(RECOMMENDED).estimate
        rel = abs(rec.value - truth.value) / abs(truth.value)
        summary.append((label, rel, rec.covers(truth.value), oracle / abs(truth.value)))
        print(f"  ({time.perf_counter() - t:.0f} s)\n", flush=True)

    with open(out / "ope.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"recommended default {RECOMMENDED}: target <= 5% relative error and CI covering truth")
    for label, rel, covers, oracle_rel in summary:
        ok = rel <= 0.05 and covers
        print(
            f"  {label:<14} {100 * rel:5.1f}% error, CI {'covers' if covers else 'MISSES'} truth: "
            f"{'met' if ok else 'NOT met'} (on-policy MC from as many conversations: "
            f"+-{100 * oracle_rel:.1f}%)"
        )
    print(f"wrote {out / 'ope.csv'}; total {time.perf_counter() - t0:.0f} s")
    return 0


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
