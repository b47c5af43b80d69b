"""Are the act channel's confidences probabilities? Expected calibration error and AUC of the
scores the act-level channel attaches to each act, raw and calibrated
(``noise.confidence.calibrated``).

An act is right when the channel let it through intact (the act said at that place). ECE: 10
equal-width bins, weighted by how many acts fall in each; AUC: the chance a right act scores
above a wrong one. Rule policy, greedy, 2,000 conversations per scenario and noise level.

Run: python benchmarks/act_confidence.py [--episodes 2000] [--noise 0.15 0.3]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from dialog_rl.domain import load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import RulePolicy
from dialog_rl.seeding import episode_seed

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("restaurant", "order_support", "shopping", "cambridge")


def scores(domain, noise: float, episodes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each heard act's confidence, and whether it came through intact."""
    env = DialogueEnv(domain, noise=noise)
    policy = RulePolicy(domain, env.spec_obs)
    conf, right = [], []

    def take(info: dict) -> None:
        for s, h in zip(info["user_acts"], info["observed_acts"]):
            conf.append(h[3])
            right.append(tuple(s[:3]) == tuple(h[:3]))

    for k in range(episodes):
        obs, info = env.reset(seed=episode_seed(seed, k))
        take(info)
        done = False
        while not done:
            a = policy.act(obs, env.action_masks(), explore=False).action
            obs, _, term, trunc, info = env.step(a)
            take(info)
            done = term or trunc
    return np.array(conf), np.array(right)


def ece(conf: np.ndarray, right: np.ndarray, bins: int = 10) -> float:
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(conf[inside].mean() - right[inside].mean())
    return total / len(conf)


def auc(conf: np.ndarray, right: np.ndarray) -> float:
    order = np.argsort(conf, kind="stable")
    ranks = np.empty(len(conf))
    ranks[order] = np.arange(1, len(conf) + 1)
    n1, n0 = right.sum(), (~right).sum()
    return (
        float((ranks[right].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--noise", nargs="+", type=float, default=[0.15, 0.3])
    args = ap.parse_args()
    print(
        "| scenario | noise | acts | right | ECE raw | ECE calibrated | AUC raw | AUC calibrated |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in SCENARIOS:
        base = load_domain(name)
        for noise in args.noise:
            row = []
            for calibrated in (False, True):
                d = dataclasses.replace(base, conf_calibrated=calibrated)
                conf, right = scores(d, noise, args.episodes)
                row.append((ece(conf, right), auc(conf, right), len(conf), right.mean()))
            (e0, a0, n, r), (e1, a1, _, _) = row
            print(
                f"| {name} | {noise:.0%} | {n:,} | {r:.1%} | {e0:.3f} | {e1:.3f} "
                f"| {a0:.3f} | {a1:.3f} |"
            )
    print(
        f"\n{args.episodes} conversations per scenario and noise level, rule policy, seed 0 (acts "
        "and rates of the raw run; the calibrated run's agent reads other scores, so its "
        "conversations differ)."
    )


if __name__ == "__main__":
    main()
