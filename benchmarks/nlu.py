"""Accuracy of the text channel's NLU on generated customer utterances, per scenario and noise.

Usage: python benchmarks/nlu.py [--episodes 500] [--seed 0] [--noise 0 0.15 0.3]

For every scenario in scenarios/*.yaml and each word-noise rate it prints act-type accuracy (turns
whose set of act types is exactly right), slot-value precision/recall/F1 (inform slot=value and
request slot items), exact-turn match, and the mean confidence the NLU gave to parsed acts that
were right and to those that were wrong, on two sources of customer turns:

- ``erratic``: ``simulators.nlu_eval.nlu_accuracy``, customers facing a scripted agent that asks,
  confirms wrong values and makes bad offers, so that every kind of turn occurs;
- ``rule``: the turns of ``DialogueEnv(channel="text")`` conversations with the rule policy, i.e.
  what the channel actually carries in a simulation.

It also prints the NLU's parsing speed (utterances per second, single process).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dialog_rl.domain import Domain, load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import make_policy
from dialog_rl.rollout.runner import episode_seed
from simulators.nlu import RuleNLU, TextNoise
from simulators.nlu_eval import NLUScore, generate_turns, nlu_accuracy, score_turns

ROOT = Path(__file__).resolve().parent.parent


def rule_policy_score(d: Domain, episodes: int, noise: float, seed: int) -> NLUScore:
    """Score the NLU on the turns of text-channel conversations with the rule policy."""
    env = DialogueEnv(d, noise=noise, channel="text")
    policy = make_policy("rule", d, env.spec_obs)
    truth, parsed = [], []
    for i in range(episodes):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = np.random.default_rng([s, 1])
        while True:
            truth.append(info["user_acts"])
            parsed.append(info["observed_acts"])
            decision = policy.act(obs, info["action_mask"], explore=False, rng=rng)
            obs, _, terminated, truncated, info = env.step(decision.action)
            if terminated or truncated:
                truth.append(info["user_acts"])
                parsed.append(info["observed_acts"])
                break
    return score_turns(truth, parsed)


def parse_speed(d: Domain, noise: float, seed: int) -> float:
    texts = [text for _, text in generate_turns(d, 200, seed)]
    rng = np.random.default_rng(seed)
    corrupt = TextNoise(noise)
    texts = [corrupt(t, rng) for t in texts]
    nlu = RuleNLU(d)
    start = time.perf_counter()
    for t in texts:
        nlu.parse(t)
    return len(texts) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=500, help="conversations per cell")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.15, 0.3])
    args = parser.parse_args(argv)
    print(f"NLU accuracy on generated utterances ({args.episodes} conversations per row)")
    head = f"{'scenario':<14}{'noise':>6}  {'source':<8}{'turns':>7}"
    head += f"{'act-type':>10}{'slot P':>8}{'slot R':>8}{'slot F1':>9}{'exact':>8}"
    head += f"{'conf right':>12}{'conf wrong':>12}"
    print(head)
    print("-" * len(head))
    speeds = {}
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        d = load_domain(str(path))
        for noise in args.noise:
            rows = [
                ("erratic", nlu_accuracy(d, args.episodes, noise, args.seed)),
                ("rule", rule_policy_score(d, args.episodes, noise, args.seed)),
            ]
            for source, s in rows:
                print(
                    f"{d.name:<14}{noise:>6.2f}  {source:<8}{s.turns:>7}"
                    f"{s.act_type_accuracy:>10.3f}{s.slot_precision:>8.3f}{s.slot_recall:>8.3f}"
                    f"{s.slot_f1:>9.3f}{s.exact_turn:>8.3f}"
                    f"{s.conf_right:>12.2f}{s.conf_wrong:>12.2f}"
                )
        speeds[d.name] = parse_speed(d, 0.15, args.seed)
    print()
    print("RuleNLU parse speed at noise 0.15 (utterances/s, one process): ", end="")
    print(", ".join(f"{name} {v:,.0f}" for name, v in speeds.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
