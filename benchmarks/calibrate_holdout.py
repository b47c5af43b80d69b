"""The calibrated customer model held against dialogues it was not fitted to.

Usage: python benchmarks/calibrate_holdout.py [--data DIR] [--bootstrap 200]

``dialog-rl calibrate`` fits the booking restaurant scenario's customer model to the 50
restaurant-only dialogues of MultiWOZ's validation set (``restaurant_val_dialogues.json``). The
restaurant-only dialogues of ``val_search_dialogues.json`` are those same 50 and one more, so
they check nothing; its held-out restaurant customers are in the 137 dialogues that take a
restaurant and a hotel or an attraction. This script fits the same parameters, the same way, to
the restaurant part of those dialogues (the restaurant labels, the goal's restaurant part;
greetings and closings are the dialogue's) and prints both fits side by side: a held-out
estimate outside the calibration interval is a parameter the 50 dialogues do not pin down, or
one that differs when the customer also wants a hotel.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dialog_rl.domain import compile_scenario
from dialog_rl.realism.calibrate import fit, observe_all
from dialog_rl.realism.corpus import dialogues_about, load_corpus
from dialog_rl.realism.fit_report import ci_shown, shown
from dialog_rl.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = next(
    (
        p / "shared" / "data" / "multiwoz"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "data" / "multiwoz").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "multiwoz",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args()
    loaded = load_scenario("restaurant_booking")
    domain = compile_scenario(loaded)
    train = dialogues_about(load_corpus(args.data / "restaurant_val_dialogues.json"), "restaurant")
    search = load_corpus(args.data / "val_search_dialogues.json")
    seen = {d.id for d in train}
    alone = [d for d in dialogues_about(search, "restaurant") if d.id not in seen]
    held = [d for d in search.values() if "restaurant" in d.domains and d.id not in seen]
    print(
        f"calibration: {len(train)} restaurant-only dialogues (restaurant_val_dialogues.json); "
        f"val_search_dialogues.json: {len(dialogues_about(search, 'restaurant'))} restaurant-only "
        f"dialogues, of which {len(alone)} not in the calibration set; held out here: the "
        f"{len(held)} dialogues with a restaurant and another domain"
    )
    a = fit(loaded.scenario, domain, observe_all(domain, train, "restaurant"), args.bootstrap)
    b = fit(loaded.scenario, domain, observe_all(domain, held, "restaurant"), args.bootstrap)
    print(f"  {'parameter':<34}{'calibration [95% CI]':>32}{'held out [95% CI]':>32}  inside")
    inside = total = 0
    for e in a.estimates:
        h = b.get(e.key)
        if isinstance(e.value, tuple) and not isinstance(e.value[0], int):
            rows = [
                (f"{e.key}[{k + 1}]", v, e.ci95[k] if e.ci95 else None, hv)
                for k, (v, hv) in enumerate(zip(e.value, h.value + (0.0,) * len(e.value)))
            ]
        else:
            rows = [(e.key, e.value, e.ci95, h.value)]
        for key, value, ci, held_value in rows:
            ok = ""
            if ci is not None and not isinstance(value, tuple):
                ok = "yes" if ci[0] - 1e-9 <= held_value <= ci[1] + 1e-9 else "NO"
                inside += ok == "yes"
                total += 1
            left = f"{shown(value)} {ci_shown(ci)}"
            print(f"  {key:<34}{left:>32}{shown(held_value):>32}  {ok}")
        if h.n and not isinstance(h.value, tuple):
            print(f"  {'':<34}{'':>32}{f'(held out {ci_shown(h.ci95)}, n={h.n})':>32}")
    print(f"  held-out estimates inside the calibration interval: {inside} of {total}")


if __name__ == "__main__":
    main()
