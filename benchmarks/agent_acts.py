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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "multiwoz"


def real_agent(corpus: Path, domain: str) -> tuple[int, float, Counter]:
    """Dialogues about ``domain`` alone: their count, system turns before the last user turn per
    dialogue, and per label the number of those turns carrying it (summed over dialogues)."""
    from dialog_rl.realism.corpus import dialogues_about, load_corpus

    dialogues = dialogues_about(load_corpus(corpus), domain)
    labels: Counter = Counter()
    turns = 0
    for d in dialogues:
        last_user = max(i for i, t in enumerate(d.turns) if t.speaker == "user")
        for t in d.turns[:last_user]:
            if t.speaker == "system":
                turns += 1
                labels.update(set(t.labels))
    return len(dialogues), turns / max(len(dialogues), 1), labels


class _Counting:
    """The rule policy, counting the actions it takes by catalog name."""

    def __init__(self, policy, names: tuple[str, ...]) -> None:
        self.policy, self.names, self.acts = policy, names, Counter()

    def act(self, *args, **kw):
        decision = self.policy.act(*args, **kw)
        self.acts[self.names[decision.action]] += 1
        return decision


def simulated_agent(scenario: str, episodes: int, noise: float) -> tuple[float, Counter]:
    """The agent's actions per conversation in ``compare``'s own simulated conversations."""
    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies import make_policy
    from dialog_rl.realism.compare import simulated_side

    d = load_domain(scenario)
    agent = _Counting(make_policy("rule", d, observation_spec(d)), d.act_names)
    simulated_side(d, episodes, 0, noise, agent)
    return sum(agent.acts.values()) / episodes, agent.acts


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
