"""What the agent does per conversation: MultiWOZ's human agents (their annotated acts) against a
dialog-rl policy playing the same scenario's simulated customers.

`dialog-rl compare` holds the customers' turns side by side; this holds the agents'. A simulated
conversation is longer than a real one when its agent needs more turns for the same job, and the
customers' act shares then move with it (thanks and good-byes, once a conversation, become a
smaller share of more turns). Real: per dialogue, the system turns before the customer's last turn
(the agent's closing good-bye after it is left out, as a simulated conversation ends on the
customer's close) and how many carry each MultiWOZ act label. Simulated: per conversation, the
agent's actions by catalog name, greedy, on the text channel.

Then the customers' replies by what the agent did just before (an offer, one that found nothing,
a booking made or refused, a question, an answer, "anything else?"): the act types the NLU reads
in the reply's words, the very turns and readings `compare` counts (``TurnView.agent`` carries the
agent's turn), so a gap in its shares can be traced to the moment it arises. Real: the agent's turn by its labels (an offer names a restaurant or asks
to book it); simulated: the action by its kind, and whether it found nothing (the agent's words
are then one of the action's ``no_match_templates``).

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


def simulated_agent(
    scenario: str, episodes: int, noise: float
) -> tuple[float, Counter, dict[str, Counter]]:
    """The agent's actions per conversation in ``compare``'s own simulated conversations, and the
    customers' replies by what the agent did (``replies``)."""
    from dialog_rl.acts import SYS_BOOK, SYS_INFORM, SYS_OFFER, SYS_REQMORE, SYS_REQUEST
    from dialog_rl.domain import load_domain
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.policies import make_policy
    from dialog_rl.realism.compare import simulated_side

    d = load_domain(scenario)
    agent = _Counting(make_policy("rule", d, observation_spec(d)), d.act_names)
    views, _ = simulated_side(d, episodes, 0, noise, agent)
    booking = set(d.booking.slots)

    def kind(turn) -> str:
        action, words = turn
        k = int(d.act_kind[action])
        if k == SYS_REQUEST:
            return "request-book" if d.act_slot[action] in booking else "request"
        if k in (SYS_OFFER, SYS_BOOK):
            # nothing found: the agent's words are one of the action's "nothing matches" templates
            failed = any(words.startswith(t.split("{")[0]) for t in d.act_no_match[action])
            return (
                ("nomatch" if failed else "offer")
                if k == SYS_OFFER
                else ("book-fail" if failed else "book-ok")
            )
        return {SYS_INFORM: "inform", SYS_REQMORE: "reqmore"}.get(k, "other")

    return sum(agent.acts.values()) / episodes, agent.acts, replies(views, kind)


#: what the agent did, by the labels of a real turn (first match wins)
_REAL_KINDS = (
    ("book-fail", ("Booking-NoBook",)),
    ("book-ok", ("Booking-Book",)),
    ("nomatch", ("Restaurant-NoOffer",)),
    ("offer", ("Restaurant-Recommend", "Restaurant-Select", "Booking-Inform")),
    ("request-book", ("Booking-Request",)),
    ("request", ("Restaurant-Request",)),
    ("inform", ("Restaurant-Inform",)),
    ("reqmore", ("general-reqmore",)),
)


def _real_kind(labels: dict) -> str:
    if any(p[0] == "Name" for p in labels.get("Restaurant-Inform", [])):
        return "offer"  # a restaurant named: an offer (or its details, which we count alike)
    return next((kind for kind, keys in _REAL_KINDS if set(keys) & set(labels)), "other")


def real_replies(scenario: str, corpus: Path, domain: str) -> dict[str, Counter]:
    """Per kind of agent turn, the act types read in the real customer's next turn
    (``compare``'s own reading of the real side)."""
    from dialog_rl.domain import load_domain
    from dialog_rl.realism.compare import real_side
    from dialog_rl.realism.corpus import dialogues_about, load_corpus

    d = load_domain(scenario)
    views = real_side(d, dialogues_about(load_corpus(corpus), domain), domain)
    return replies(views, _real_kind)


def replies(conversations, kind) -> dict[str, Counter]:
    """The act types read in each customer turn (``TurnView.read``), by ``kind(turn.agent)`` of
    the agent's turn before ("start" on a first turn)."""
    from dialog_rl.acts import USER_ACT_NAMES

    out: dict[str, Counter] = {}
    for turns in conversations:
        for t in turns:
            k = "start" if t.agent is None else kind(t.agent)
            read = "+".join(sorted(USER_ACT_NAMES[a] for a in t.read)) or "nothing"
            out.setdefault(k, Counter())[read] += 1
    return out


def _print_replies(real: dict[str, Counter], sim: dict[str, Counter]) -> None:
    n_real = sum(sum(c.values()) for c in real.values())
    n_sim = sum(sum(c.values()) for c in sim.values())
    print("the customer's next turn (NLU-read act types) by what the agent did:")
    print(
        "  agent's act    share of turns (real / simulated): the commonest replies, real | simulated"
    )
    for kind in sorted(set(real) | set(sim), key=lambda k: -sum(real.get(k, Counter()).values())):
        r, s = real.get(kind, Counter()), sim.get(kind, Counter())
        nr, ns = sum(r.values()), sum(s.values())

        def top(c: Counter, n: int) -> str:
            return ", ".join(f"{a} {x / n:.2f}" for a, x in c.most_common(4)) if n else "-"

        print(f"  {kind:13s} {nr / n_real:5.3f} / {ns / n_sim:5.3f}: {top(r, nr)} | {top(s, ns)}")


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
    per_sim, acts, sim_replies = simulated_agent(args.scenario, args.episodes, args.noise)
    print(
        f"simulated: {Path(args.scenario).stem}, rule policy, text channel, word noise "
        f"{args.noise}, {args.episodes} conversations, seed 0"
    )
    print(f"  agent actions before the customer's last turn: {per_sim:.2f} per conversation")
    for name, count in acts.most_common():
        print(f"  {count / args.episodes:5.2f}  {name}")
    real = real_replies(args.scenario, Path(args.corpus), args.domain)
    _print_replies(real, sim_replies)


if __name__ == "__main__":
    main()
