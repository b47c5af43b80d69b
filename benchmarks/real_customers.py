"""Simulated customers against real ones: the text NLU on real MultiWOZ turns, and
`dialog-rl compare` on the restaurant scenario.

Usage: python benchmarks/real_customers.py [--data PATH] [--episodes 1000] [--noise 0.15] [--seed 0]

Part A reads the user turns of real MultiWOZ restaurant dialogues (validation split) with the
restaurant scenario's RuleNLU and scores act types and slot values against the annotation, mapped
onto the scenario's terms by ``dialog_rl.realism.labels`` (Restaurant-Inform Area/Food/Price ->
inform area/food/pricerange, Restaurant-Request Addr/Phone/Post -> request address/phone/postcode,
general-thank/bye/greet -> thank/bye/hello). Turns are scored only when some annotated act maps
onto the scenario. Counted apart: unannotated turns; turns whose acts are only about slots the
scenario lacks (booking: day, time, people, reference number; a restaurant's name); turns whose
only constraint is a value the scenario does not have (e.g. "belgian" food).

Part A is run twice: on the restaurant scenario, and on the restaurant scenario with booking
(``scenarios/restaurant_booking.yaml``: day, time, people), so that the turns that book are
scored too and the NLU's value readers ("7:30pm", "for 4", "on Tuesday") count.

Part B is ``dialog-rl compare --scenario restaurant --corpus PATH`` (``dialog_rl.realism``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dialog_rl.domain import Domain, load_domain
from dialog_rl.realism.compare import compare, format_comparison, real_side, simulated_side
from dialog_rl.realism.corpus import CorpusError, Dialogue, dialogues_about, load_corpus
from dialog_rl.realism.labels import Labels
from dialog_rl.realism.real_turns import RealNLUScore, real_nlu_score, turns_about
from simulators.nlu import RuleNLU

ROOT = Path(__file__).resolve().parent.parent
#: the shared data sits beside the checkout (or beside the folder of worktrees)
DEFAULT_DATA = next(
    (
        p / "shared" / "data" / "multiwoz" / "restaurant_val_dialogues.json"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "data" / "multiwoz").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "multiwoz" / "restaurant_val_dialogues.json",
)
SCENARIO = ROOT / "scenarios" / "restaurant.yaml"
BOOKING_SCENARIO = ROOT / "scenarios" / "restaurant_booking.yaml"
CATEGORIES = ("scored", "booking / name only", "value not in scenario", "unannotated")


def real_accuracy(d: Domain, dialogues: list[Dialogue], domain: str) -> RealNLUScore:
    """The NLU on the user turns about ``domain`` alone, in any of the dialogues (in a
    multi-domain corpus, the restaurant turns of a dialogue that also books a hotel count)."""
    return real_nlu_score(RuleNLU(d), Labels(d, domain), turns_about(dialogues, domain))


def print_accuracy(title: str, r: RealNLUScore, dialogues: int) -> None:
    s = r.score
    print(f"{title} ({r.turns} turns in {dialogues} dialogues)")
    for cat in CATEGORIES:
        print(f"   {cat:<24} {r.categories.get(cat, 0):>4} turns")
    print()
    print(f"   {'metric (scored turns)':<52} {'value':>7}")
    rows = [
        ("act-type accuracy, strict (exact set of types)", s.act_type_accuracy),
        ("act-type accuracy, lenient (inform/request/closing)", r.lenient_type_accuracy),
        ("slot-value precision", s.slot_precision),
        ("slot-value recall", s.slot_recall),
        ("slot-value F1", s.slot_f1),
        ("exact turn (all acts, strict)", s.exact_turn),
    ]
    for name, value in rows:
        print(f"   {name:<52} {value:>7.3f}")
    for name, value in s.type_f1.items():
        print(f"   {'F1 of act type ' + name:<52} {value:>7.3f}")
    print(
        f"   {'out-of-scope turns with a spurious slot act':<52} "
        f"{r.out_of_scope_alarms / max(r.out_of_scope, 1):>7.3f}  "
        f"({r.out_of_scope_alarms}/{r.out_of_scope})"
    )
    print(
        f"   {'mean confidence of right / wrong parsed acts':<52} "
        f"{s.conf_right:>7.3f} / {s.conf_wrong:.3f}"
    )
    print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="MultiWOZ dialogues (JSON)")
    parser.add_argument("--scenario", default=str(SCENARIO), help="restaurant scenario file")
    parser.add_argument(
        "--booking-scenario", default=str(BOOKING_SCENARIO), help="the same, with booking slots"
    )
    parser.add_argument("--domain", default="restaurant", help="the corpus's domain")
    parser.add_argument("--episodes", type=int, default=1000, help="simulated dialogues")
    parser.add_argument("--noise", type=float, default=0.15, help="text noise of the simulation")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        corpus = load_corpus(args.data)
    except CorpusError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    dialogues = dialogues_about(corpus, args.domain)
    d = load_domain(args.scenario)
    print(
        "A. RuleNLU on the real MultiWOZ user turns about "
        f"{args.domain} of {args.data} (strict: every type the NLU reads, including hello/"
        "affirm/negate, which MultiWOZ leaves unannotated on user turns; lenient compares "
        "inform, request and closing: thank or bye, which MultiWOZ labels interchangeably)"
    )
    print()
    everything = list(corpus.values())
    print_accuracy(f"   scenario {d.name}", real_accuracy(d, everything, args.domain), len(corpus))
    booking = load_domain(args.booking_scenario)
    print_accuracy(
        f"   scenario {booking.name} (day, time, people)",
        real_accuracy(booking, everything, args.domain),
        len(corpus),
    )

    print(
        f"B. dialog-rl compare --scenario {args.scenario} --corpus {args.data} "
        f"--episodes {args.episodes} --noise {args.noise} --seed {args.seed}"
    )
    real = real_side(d, dialogues, args.domain)
    simulated, outcomes = simulated_side(d, args.episodes, args.seed, args.noise)
    print(f"   simulated outcomes: {outcomes}")
    print(format_comparison(compare(real, simulated, seed=args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
