"""Write a log the way a production system would: pandas, one row per decision, following
`dialog-rl logs schema` (acts shape). Then bring it in and evaluate a policy on it:

    python docs/examples/production_log.py my_logs.csv --conversations 2000
    dialog-rl logs import my_logs.csv --scenario restaurant --out runs/mine
    dialog-rl ope --logs runs/mine --policy rule

The "production agent" here is dialog-rl's rule policy exploring 30% of the time, talking to
the simulated customers through `gymnasium.make`; a real system writes the same columns from its
own NLU output (acts and confidences) and its own decision log (act and its probability).
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import pandas as pd

import dialog_rl.env  # noqa: F401  (registers dialog_rl/Restaurant-v0)
from dialog_rl.acts import INFORM, REQUEST, USER_ACT_NAMES
from dialog_rl.policies import make_policy


def acts_text(domain, observed) -> str:
    """The customer's acts as the schema writes them, confidences at full precision."""
    parts = []
    for kind, slot, value, conf in observed:
        name = USER_ACT_NAMES[kind]
        if kind == INFORM:
            name += f"({domain.inf_names[slot]}={domain.value_name(slot, value)})"
        elif kind == REQUEST:
            name += f"({domain.req_names[slot]})"
        parts.append(f"{name}@{conf!r}")
    return " | ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="CSV file to write")
    ap.add_argument("--conversations", type=int, default=2000)
    ap.add_argument("--epsilon", type=float, default=0.3, help="the agent's exploration")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    env = gym.make("dialog_rl/Restaurant-v0", noise=0.15)
    domain = env.unwrapped.domain
    agent = make_policy("rule", domain, env.unwrapped.spec_obs, epsilon=args.epsilon)
    rng = np.random.default_rng(args.seed)
    rows = []
    for c in range(args.conversations):
        obs, info = env.reset(seed=args.seed * 1_000_003 + c)
        heard, turn, done = info["observed_acts"], 0, False
        while not done:
            decision = agent.act(obs, info["action_mask"], explore=True, rng=rng)
            obs, reward, terminated, truncated, info = env.step(decision.action)
            done = terminated or truncated
            rows.append(
                {
                    "conversation": f"conv-{c:05d}",
                    "turn": turn,
                    "customer_acts": acts_text(domain, heard),
                    "action": domain.act_names[decision.action],
                    "propensity": decision.propensity,
                    "reward": reward,
                    "terminated": terminated,
                    "truncated": truncated,
                    # how it ended, on the last row (regress --logs judges success from it)
                    "outcome": info["outcome"]["outcome"] if done else None,
                }
            )
            heard, turn = info["observed_acts"], turn + 1
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {args.out}: {len(rows)} decisions in {args.conversations} conversations")


if __name__ == "__main__":
    main()
