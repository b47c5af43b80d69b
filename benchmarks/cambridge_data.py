"""Build scenarios/cambridge.yaml's data from MultiWOZ: the hotel and attraction KBs, and the goal
model fitted to the 309 real validation dialogues.

The goal model is estimated by counting (the maximum-likelihood estimate of each categorical and
Bernoulli parameter), not tuned by eye:
- the kinds of goal (`goals.mix`): each dialogue's domains in the order the customer first names
  them (its first user act of the domain), with their counts as weights;
- per domain, the probability that a goal constrains each slot (`constraints`) and asks for each
  requestable slot (`requests`): the share of that domain's goals that do;
- the carried area (`goals.carry`): among goals with an area in two domains, the share where the
  later domain's area equals the earlier one's;
- booking (`goals.book`, restaurant and hotel): `rate`, the share of the domain's goals with a
  `book`; `available`, the share of those without a `fail_book` (the first booking finds room);
  `on_fail`, how often each booking slot is the one a `fail_book` changes.

Goals that name an entity (MultiWOZ's `info.name`: 24% of restaurant goals) are drawn by their
other constraints here: the scenario has no name slot.

Run: python benchmarks/cambridge_data.py [--corpus ../shared/data/multiwoz/val_search_dialogues.json]
[--write-kbs] (writes scenarios/hotel_kb.csv and scenarios/attraction_kb.csv)
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "multiwoz"
DOMAINS = ("restaurant", "hotel", "attraction")
BOOKED = ("restaurant", "hotel")  # the domains whose goals book in the scenario
#: the scenario's slots per domain: informable, then requestable (MultiWOZ's names)
SLOTS = {
    "restaurant": (("area", "food", "pricerange"), ("address", "phone", "postcode")),
    "hotel": (
        ("area", "pricerange", "stars", "type", "parking", "internet"),
        ("address", "phone", "postcode"),
    ),
    "attraction": (("area", "type"), ("address", "phone", "postcode", "entrance fee")),
}
KB_COLUMNS = {
    "hotel": (
        "name",
        "area",
        "pricerange",
        "stars",
        "type",
        "parking",
        "internet",
        "address",
        "phone",
        "postcode",
    ),
    "attraction": ("name", "area", "type", "entrance fee", "address", "phone", "postcode"),
}


def first_mentions(dialogue: dict) -> tuple[str, ...]:
    """The dialogue's goal domains in the order the customer first names them."""
    order: list[str] = []
    for turn in dialogue["turns"]:
        if turn["speaker"] != "user":
            continue
        for act in turn.get("dialog_act") or {}:
            domain = act.split("-")[0].lower()
            if domain in dialogue["domains"] and domain not in order:
                order.append(domain)
    order += [d for d in dialogue["domains"] if d not in order]
    return tuple(order)


def fit(corpus: dict) -> dict:
    """The goal model's parameters, estimated from ``corpus`` (MultiWOZ JSON, by dialogue id)."""
    mix: Counter = Counter()
    n_goals: Counter = Counter()
    constrained: dict[str, Counter] = {d: Counter() for d in DOMAINS}
    requested: dict[str, Counter] = {d: Counter() for d in DOMAINS}
    same = both = 0
    booking: dict[str, Counter] = {d: Counter() for d in BOOKED}
    for dialogue in corpus.values():
        order = first_mentions(dialogue)
        mix[order] += 1
        goal = dialogue["goal"]
        for d in order:
            n_goals[d] += 1
            constrained[d].update(s for s in goal[d].get("info", {}) if s in SLOTS[d][0])
            requested[d].update(s for s in goal[d].get("reqt", []) if s in SLOTS[d][1])
            if d in BOOKED and goal[d].get("book"):
                booking[d]["book"] += 1
                fail = goal[d].get("fail_book") or {}
                booking[d]["fail"] += bool(fail)
                booking[d].update(f"change {k}" for k in fail)
        areas = [goal[d]["info"]["area"] for d in order if "area" in goal[d].get("info", {})]
        for earlier, later in itertools.pairwise(areas):
            both += 1
            same += earlier == later
    return {
        "mix": [{"domains": list(k), "weight": v} for k, v in mix.most_common()],
        "carry": [{"slot": "area", "prob": round(same / both, 3)}] if both else [],
        "carry_counts": (same, both),
        "constraints": {
            d: {s: round(constrained[d][s] / n_goals[d], 3) for s in SLOTS[d][0]} for d in DOMAINS
        },
        "requests": {
            d: {s.replace(" ", "_"): round(requested[d][s] / n_goals[d], 3) for s in SLOTS[d][1]}
            for d in DOMAINS
        },
        "goals_per_domain": dict(n_goals),
        "book": {
            d: {
                "rate": round(c["book"] / n_goals[d], 3),
                "available": round(1 - c["fail"] / c["book"], 3),
                "on_fail": {k[7:]: v for k, v in c.items() if k.startswith("change ")},
                "counts": f"{c['book']} of {n_goals[d]} book, {c['fail']} with fail_book",
            }
            for d, c in booking.items()
        },
    }


def write_kbs() -> None:
    for domain, columns in KB_COLUMNS.items():
        rows = json.loads((DATA / f"{domain}_db.json").read_text())
        out = ROOT / "scenarios" / f"{domain}_kb.csv"
        with out.open("w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([c.replace(" ", "_") for c in columns])
            for row in sorted(rows, key=lambda r: r["name"]):
                # MultiWOZ writes an unknown entrance fee as "?": left empty here (not listed)
                writer.writerow([row.get(c, "") if row.get(c) != "?" else "" for c in columns])
        print(f"wrote {out.relative_to(ROOT)}: {len(rows)} rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=str(DATA / "val_search_dialogues.json"))
    parser.add_argument("--write-kbs", action="store_true")
    args = parser.parse_args()
    if args.write_kbs:
        write_kbs()
    model = fit(json.loads(Path(args.corpus).read_text()))
    print(f"goals per domain: {model['goals_per_domain']}")
    print("goals.mix (domains in the order first named, count):")
    for m in model["mix"]:
        print(f"  {m['domains']}: {m['weight']}")
    same, both = model["carry_counts"]
    print(f"goals.carry area: {same}/{both} later areas equal the earlier one")
    for d in DOMAINS:
        print(f"{d}: constraints {model['constraints'][d]}, requests {model['requests'][d]}")
    for d, book in model["book"].items():
        print(f"{d}: book {book}")


if __name__ == "__main__":
    main()
