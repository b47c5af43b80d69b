"""Simulated customers against real ones: the text NLU on real MultiWOZ turns, and the shape of
simulated restaurant dialogues next to real ones.

Usage: python benchmarks/real_customers.py [--data PATH] [--episodes 1000] [--noise 0.15] [--seed 0]

Part A reads the user turns of 50 real MultiWOZ restaurant dialogues (validation split) with the
restaurant scenario's RuleNLU and scores act types and slot values against the annotation, after
mapping MultiWOZ's labels onto the scenario's (Restaurant-Inform Area/Food/Price -> inform
area/food/pricerange, Restaurant-Request Addr/Phone/Post -> request address/phone/postcode,
general-thank/bye/greet -> thank/bye/hello). Turns are scored only when some annotated act maps
onto the scenario. Excluded, and counted apart: unannotated turns; turns whose acts are only about
booking (day, time, people, reference number) or a restaurant's name, which the scenario does not
model; turns whose only constraint is a value the scenario does not have (e.g. "belgian" food).

Part B runs simulated restaurant dialogues (rule policy, text channel) and compares them with the
real ones: user turns per dialogue, share of turns with each act, share of turns informing several
slots. MultiWOZ does not annotate user affirm/negate, so the table also reads both real and
simulated utterances with the same NLU, to compare like with like.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from dialog_rl.acts import (
    AFFIRM,
    BYE,
    HANGUP,
    HELLO,
    INFORM,
    NEGATE,
    REQUEST,
    THANK,
    USER_ACT_NAMES,
)
from dialog_rl.rollout.metrics import mean_ci
from dialog_rl.scenario import Domain, load_domain
from simulators.lexicon import tokens
from simulators.nlu import RuleNLU
from simulators.nlu_eval import score_turns

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "multiwoz" / "restaurant_val_dialogues.json"
SCENARIO = ROOT / "scenarios" / "restaurant.yaml"

INFORM_SLOTS = {"Area": "area", "Food": "food", "Price": "pricerange"}
REQUEST_SLOTS = {"Addr": "address", "Phone": "phone", "Post": "postcode"}
BOOKING_SLOTS = {"Day", "Time", "People", "Ref"}
GENERAL_ACTS = {"general-thank": THANK, "general-bye": BYE, "general-greet": HELLO}
#: MultiWOZ act names -> our act type, for the act-share table (any slot counts)
ACT_OF_LABEL = {"Restaurant-Inform": INFORM, "Restaurant-Request": REQUEST, **GENERAL_ACTS}
LENIENT = {INFORM: "inform", REQUEST: "request", THANK: "closing", BYE: "closing"}


def gold_value(d: Domain, slot: int, text: str) -> int:
    """Our value index for an annotated value, or -1 if the scenario does not have it.

    Uses the scenario's values and synonyms, and a close spelling match for the annotation's own
    misspellings ("portugese"); never the NLU under test.
    """
    if text == "dontcare":
        return d.dontcare(slot)
    key = " ".join(tokens(text))
    names = {" ".join(tokens(v)): i for i, v in enumerate(d.inf_values[slot])}
    for value, syns in d.synonyms[slot].items():
        for syn in syns:
            names.setdefault(" ".join(tokens(syn)), d.inf_values[slot].index(value))
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.85)
    return names[close[0]] if close else -1


def map_turn(d: Domain, dialog_act: dict) -> tuple[list[tuple[int, int, int]], str]:
    """Gold acts of one real turn in the scenario's terms, and the turn's category."""
    if not dialog_act:
        return [], "unannotated"
    acts: set[tuple[int, int, int]] = set()
    out_of_ontology = False
    for label, pairs in dialog_act.items():
        if label in GENERAL_ACTS:
            acts.add((GENERAL_ACTS[label], -1, -1))
            continue
        for slot, value in pairs:
            if label == "Restaurant-Inform" and slot in INFORM_SLOTS:
                s = d.inf_names.index(INFORM_SLOTS[slot])
                v = gold_value(d, s, value.lower())
                if v >= 0:
                    acts.add((INFORM, s, v))
                else:
                    out_of_ontology = True
            elif label == "Restaurant-Request" and slot in REQUEST_SLOTS:
                acts.add((REQUEST, d.req_names.index(REQUEST_SLOTS[slot]), -1))
    if acts:
        return sorted(acts), "scored"
    return [], "value not in scenario" if out_of_ontology else "booking / name only"


def lenient_types(acts: list) -> set[str]:
    return {LENIENT[a[0]] for a in acts if a[0] in LENIENT}


def real_accuracy(d: Domain, dialogues: dict) -> None:
    nlu = RuleNLU(d)
    gold, parsed, categories = [], [], Counter()
    out_of_scope_alarms = out_of_scope = lenient_ok = 0
    for dialogue in dialogues.values():
        for turn in dialogue["turns"]:
            if turn["speaker"] != "user":
                continue
            acts, category = map_turn(d, turn["dialog_act"])
            categories[category] += 1
            got = nlu.parse(turn["text"])
            if category == "scored":
                gold.append(acts)
                parsed.append(got)
                lenient_ok += lenient_types(acts) == lenient_types(got)
            elif category != "unannotated":
                out_of_scope += 1
                out_of_scope_alarms += any(a[0] in (INFORM, REQUEST) for a in got)
    score = score_turns(gold, parsed)
    total = sum(categories.values())
    print(f"A. RuleNLU on real MultiWOZ user turns ({total} turns in {len(dialogues)} dialogues)")
    for cat in ("scored", "booking / name only", "value not in scenario", "unannotated"):
        print(f"   {cat:<24} {categories[cat]:>4} turns")
    print()
    print(f"   {'metric (scored turns)':<52} {'value':>7}")
    rows = [
        ("act-type accuracy, strict (exact set of types)", score.act_type_accuracy),
        ("act-type accuracy, lenient (inform/request/closing)", lenient_ok / max(score.turns, 1)),
        ("slot-value precision", score.slot_precision),
        ("slot-value recall", score.slot_recall),
        ("slot-value F1", score.slot_f1),
        ("exact turn (all acts, strict)", score.exact_turn),
    ]
    for name, value in rows:
        print(f"   {name:<52} {value:>7.3f}")
    for name, value in score.type_f1.items():
        print(f"   {'F1 of act type ' + name:<52} {value:>7.3f}")
    print(
        f"   {'out-of-scope turns with a spurious slot act':<52} "
        f"{out_of_scope_alarms / max(out_of_scope, 1):>7.3f}  ({out_of_scope_alarms}/{out_of_scope})"
    )
    print(
        "   strict counts every type the NLU reads, including hello/affirm/negate, which MultiWOZ"
        "\n   leaves unannotated on user turns; lenient compares inform, request and closing"
        "\n   (thank or bye, which MultiWOZ labels interchangeably)."
    )


def turn_stats(turns: list[list]) -> dict:
    """Shares of turns with each act type and with several informed slots."""
    n = len(turns)
    shares = {
        k: sum(any(a[0] == k for a in t) for t in turns) / n for k in range(len(USER_ACT_NAMES))
    }
    several = sum(len({a[1] for a in t if a[0] == INFORM}) >= 2 for t in turns) / n
    return {"shares": shares, "several": several, "turns": n}


def real_dialogue_turns(d: Domain, dialogues: dict, nlu: RuleNLU) -> tuple[list, list, list, list]:
    lengths, annotated, annotated_search, read = [], [], [], []
    search_slots = set(INFORM_SLOTS)
    for dialogue in dialogues.values():
        user = [t for t in dialogue["turns"] if t["speaker"] == "user"]
        lengths.append(len(user))
        for t in user:
            acts, search = [], []
            for label, pairs in t["dialog_act"].items():
                kind = ACT_OF_LABEL.get(label)
                if kind is None:
                    continue
                for slot, _ in pairs:
                    acts.append((kind, slot, -1))
                    if kind != INFORM or slot in search_slots:
                        search.append((kind, slot, -1))
            annotated.append(acts)
            annotated_search.append(search)
            read.append(nlu.parse(t["text"]))
    return lengths, annotated, annotated_search, read


def simulate(d: Domain, episodes: int, noise: float, seed: int) -> tuple[list, list, list, dict]:
    from dialog_rl.env import DialogueEnv
    from dialog_rl.policies import make_policy
    from dialog_rl.rollout.runner import episode_seed

    env = DialogueEnv(d, noise=noise, channel="text")
    policy = make_policy("rule", d, env.spec_obs)
    lengths, true_turns, read_turns = [], [], []
    outcomes = Counter()
    for i in range(episodes):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = np.random.default_rng([s, 1])
        n = 0
        while True:
            if info["user_acts"]:
                n += 1
                true_turns.append(list(info["user_acts"]))
                read_turns.append(info["observed_acts"])
            decision = policy.act(obs, info["action_mask"], explore=False, rng=rng)
            obs, _, terminated, truncated, info = env.step(decision.action)
            if terminated or truncated:
                if info["user_acts"]:
                    n += 1
                    true_turns.append(list(info["user_acts"]))
                    read_turns.append(info["observed_acts"])
                outcomes[info["outcome"]["outcome"]] += 1
                break
        lengths.append(n)
    return lengths, true_turns, read_turns, dict(outcomes)


def describe_lengths(lengths: list[int]) -> str:
    m = mean_ci(np.array(lengths))
    lo, hi = m["ci95"]
    return f"{m['mean']:.2f} [{lo:.2f}, {hi:.2f}]  median {np.median(lengths):.0f}"


def compare(d: Domain, dialogues: dict, episodes: int, noise: float, seed: int) -> None:
    nlu = RuleNLU(d)
    real_len, real_ann, real_search, real_read = real_dialogue_turns(d, dialogues, nlu)
    sim_len, sim_true, sim_read, outcomes = simulate(d, episodes, noise, seed)
    ra, rs, rr = turn_stats(real_ann), turn_stats(real_search), turn_stats(real_read)
    st, sr = turn_stats(sim_true), turn_stats(sim_read)
    print()
    print(
        f"B. Simulated restaurant dialogues (rule policy, text channel, noise {noise}, "
        f"{episodes} episodes, seed {seed}) vs {len(dialogues)} real MultiWOZ dialogues"
    )
    print(f"   simulated outcomes: {outcomes}")
    print(f"   {'user turns per dialogue':<30} mean [95% CI]  median   range")
    print(f"   {'real':<30} {describe_lengths(real_len)}   {min(real_len)}-{max(real_len)}")
    print(f"   {'simulated':<30} {describe_lengths(sim_len)}   {min(sim_len)}-{max(sim_len)}")
    print()
    head = (
        "share of user turns with",
        "real: annotated",
        "real: NLU-read",
        "sim: true",
        "sim: NLU-read",
    )
    print("   " + f"{head[0]:<28}" + "".join(f"{h:>17}" for h in head[1:]))
    for k in (INFORM, REQUEST, AFFIRM, NEGATE, THANK, BYE, HELLO, HANGUP):
        cells = [ra["shares"][k], rr["shares"][k], st["shares"][k], sr["shares"][k]]
        na = k in (AFFIRM, NEGATE, HANGUP)  # MultiWOZ has no user label for these
        text = ["n/a" if na else f"{cells[0]:.1%}"] + [f"{c:.1%}" for c in cells[1:]]
        print("   " + f"{USER_ACT_NAMES[k]:<28}" + "".join(f"{c:>17}" for c in text))
    empty_real = sum(not t for t in real_ann) / len(real_ann)
    empty_sim = sum(not t for t in sim_read) / len(sim_read)
    print(
        "   "
        + f"{'(no act)':<28}"
        + f"{empty_real:>17.1%}{sum(not t for t in real_read) / len(real_read):>17.1%}{0:>17.1%}{empty_sim:>17.1%}"
    )
    print(
        "   "
        + f"{'several slots informed':<28}"
        + f"{ra['several']:>17.1%}{rr['several']:>17.1%}{st['several']:>17.1%}{sr['several']:>17.1%}"
    )
    print(
        "   "
        + f"{'  of area/food/price only':<28}"
        + f"{rs['several']:>17.1%}{'':>17}{'':>17}{'':>17}"
    )
    print(f"   turns: real {ra['turns']}, simulated {st['turns']}")
    print(
        "   'real: annotated' counts MultiWOZ labels (inform includes booking and name slots);"
        "\n   'NLU-read' columns are what RuleNLU reads in the utterances (simulated ones after noise)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MultiWOZ dialogues (JSON)")
    parser.add_argument("--scenario", default=str(SCENARIO), help="restaurant scenario file")
    parser.add_argument("--episodes", type=int, default=1000, help="simulated dialogues")
    parser.add_argument("--noise", type=float, default=0.15, help="text noise of the simulation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        with open(args.data, encoding="utf-8") as f:
            dialogues = json.load(f)
    except OSError as err:
        print(f"error: cannot read --data {args.data}: {err.strerror}", file=sys.stderr)
        return 2
    except json.JSONDecodeError as err:
        print(f"error: {args.data}:{err.lineno}: not valid JSON: {err.msg}", file=sys.stderr)
        return 2
    if not isinstance(dialogues, dict) or not dialogues:
        print(f"error: {args.data}: expected a mapping of dialogue id -> dialogue", file=sys.stderr)
        return 2
    d = load_domain(args.scenario)
    real_accuracy(d, dialogues)
    compare(d, dialogues, args.episodes, args.noise, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
