"""What the agent does per conversation: MultiWOZ's human agents (their annotated acts) against a
dialog-rl policy playing the same scenario's simulated customers.

`dialog-rl compare` holds the customers' turns side by side; this holds the agents'. A simulated
conversation is longer than a real one when its agent needs more turns for the same job, and the
customers' act shares then move with it (thanks and good-byes, once a conversation, become a
smaller share of more turns). Real: per dialogue, the system turns before the customer's last turn
(the agent's closing good-bye after it is left out, as a simulated conversation ends on the
customer's close) and how many carry each MultiWOZ act label. Simulated: per conversation, the
agent's actions by catalog name, greedy, on the text channel.

Run: python benchmarks/agent_acts.py [--scenario scenarios/restaurant_calibrated.yaml]
     [--corpus ../shared/data/multiwoz/restaurant_val_dialogues.json] [--episodes 2000] [--noise 0.15]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "multiwoz"


def real_agent(corpus: Path, domain: str) -> tuple[int, float, Counter]:
    """Dialogues about ``domain`` alone: their count, system turns before the last user turn per
    dialogue, and per label the number of those turns carrying it (summed over dialogues)."""
    data = json.loads(corpus.read_text(encoding="utf-8"))
    labels: Counter = Counter()
    dialogues = turns = 0
    for d in data.values():
        user_domains = {
            lab.split("-", 1)[0].lower()
            for t in d["turns"]
            if t["speaker"] == "user"
            for lab in (t.get("dialog_act") or {})
        } - {"general"}
        if user_domains != {domain}:
            continue
        last_user = max(i for i, t in enumerate(d["turns"]) if t["speaker"] == "user")
        dialogues += 1
        for t in d["turns"][:last_user]:
            if t["speaker"] == "system":
                turns += 1
                labels.update(set(t.get("dialog_act") or {}))
    return dialogues, turns / max(dialogues, 1), labels


def simulated_agent(scenario: str, episodes: int, noise: float) -> tuple[float, Counter]:
    from dialog_rl.domain import load_domain
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.rollout.runner import policy_rng
    from dialog_rl.seeding import episode_seed

    d = load_domain(scenario)
    env = DialogueEnv(d, noise=noise, channel="text")
    policy = make_policy("rule", d, env.spec_obs)
    acts: Counter = Counter()
    for i in range(episodes):
        s = episode_seed(0, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        while True:
            a = policy.act(obs, info["action_mask"], explore=False, rng=rng).action
            acts[d.act_names[a]] += 1
            obs, _, terminated, truncated, info = env.step(a)
            if terminated or truncated:
                break
    return sum(acts.values()) / episodes, acts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "restaurant_calibrated.yaml"))
    ap.add_argument("--corpus", default=str(DATA / "restaurant_val_dialogues.json"))
    ap.add_argument("--domain", default="restaurant")
    ap.add_argument("--episodes", type=int, default=2000)
    ap.add_argument("--noise", type=float, default=0.15)
    args = ap.parse_args()
    n, per, labels = real_agent(Path(args.corpus), args.domain)
    print(f"real: {n} dialogues about {args.domain} in {Path(args.corpus).name}")
    print(f"  agent turns before the customer's last turn: {per:.2f} per dialogue")
    for label, count in labels.most_common():
        print(f"  {count / n:5.2f}  {label}")
    per_sim, acts = simulated_agent(args.scenario, args.episodes, args.noise)
    print(
        f"simulated: {Path(args.scenario).stem}, rule policy, text channel, word noise "
        f"{args.noise}, {args.episodes} conversations, seed 0"
    )
    print(f"  agent actions before the customer's last turn: {per_sim:.2f} per conversation")
    for name, count in acts.most_common():
        print(f"  {count / args.episodes:5.2f}  {name}")


if __name__ == "__main__":
    main()
