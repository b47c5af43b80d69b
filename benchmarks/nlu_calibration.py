"""How much the text NLU's confidences mean: calibration on generated utterances, and ranking of
right above wrong acts on real MultiWOZ turns.

Usage: python benchmarks/nlu_calibration.py [--fit] [--episodes 500] [--noise 0.15] [--seed 0]
                                             [--data DIR]

``--fit`` first refits the map the NLU ships with (``simulators/nlu_confidence.json``): a
logistic model over the evidence of each parsed act, then an isotonic correction, on generated
customer turns of every shipped scenario at word noise 0, 0.15, 0.3 and 0.45 (400
conversations each, seeds from 1000 on: ``simulators.nlu_eval.fit_confidence_map``; the shipped
map was fitted on the three one-domain ones, before cambridge, and is calibrated on it too, so it
was not refitted). Right means
the act (type, slot, value) is among the turn's true acts. No real dialogue is used to fit it.

Then, at ``--noise`` (default 0.15), for each scenario and for the uncalibrated scores and the
shipped map: the expected calibration error (10 equal-width bins over [0, 1], each weighted by
its share of the parsed acts) on two held-out sources of generated turns, ``erratic`` (customers
facing a scripted erratic agent, seed ``--seed``) and ``rule`` (the turns of text-channel
conversations with the rule policy); a reliability diagram of both, pooled over the scenarios,
in ``benchmarks/results/nlu_reliability.png``.

Last, on real user turns about restaurants (``restaurant_val_dialogues.json`` and the restaurant
turns of ``val_search_dialogues.json`` in ``--data``), read with the restaurant scenario: the AUC
of confidence ranking right above wrong acts, right and wrong by MultiWOZ's labels, for the act
types MultiWOZ labels: inform and request, and with thank and bye (either closing label makes a
closing right, as MultiWOZ labels them interchangeably). Hello, yes and no are not judged: MultiWOZ
leaves them unlabelled on user turns.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dialog_rl.acts import INFORM, REQUEST
from dialog_rl.domain import Domain, load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import make_policy
from dialog_rl.realism.corpus import load_corpus
from dialog_rl.realism.labels import Labels
from dialog_rl.realism.real_turns import confidence_on_real_turns, turns_about
from dialog_rl.rollout.runner import policy_rng
from dialog_rl.seeding import episode_seed
from simulators.confidence_map import (
    DEFAULT_PATH,
    ConfidenceMap,
    expected_calibration_error,
    ranking_auc,
    reliability,
)
from simulators.nlu import RuleNLU
from simulators.nlu_eval import conversation_turns, fit_confidence_map, read_turns

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = next(
    (
        p / "shared" / "data" / "multiwoz"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "data" / "multiwoz").is_dir()
    ),
    ROOT.parent / "shared" / "data" / "multiwoz",
)
FIT_NOISE = (0.0, 0.15, 0.3, 0.45)
FIT_EPISODES = 400
FIT_SEED = 1000


def erratic_acts(nlu: RuleNLU, d: Domain, episodes: int, noise: float, seed: int) -> tuple:
    """(confidence, right) of every act parsed in generated turns (``nlu_accuracy``'s turns, with
    its domain hints)."""
    turns = conversation_turns(d, episodes, seed)
    conf, right = [], []
    for (true_acts, _, _), acts in zip(turns, read_turns(d, turns, noise, seed, nlu.parse)):
        truth = {tuple(a) for a in true_acts}
        for t, s, v, c in acts:
            conf.append(c)
            right.append((t, s, v) in truth)
    return np.array(conf), np.array(right, dtype=bool)


def rule_acts(nlu: RuleNLU, d: Domain, episodes: int, noise: float, seed: int) -> tuple:
    """(confidence, right) of every act the text channel carries in rule-policy conversations."""
    env = DialogueEnv(d, noise=noise, channel="text")
    env.nlu = nlu
    policy = make_policy("rule", d, env.spec_obs)
    conf, right = [], []

    def add(info: dict) -> None:
        truth = {tuple(a) for a in info["user_acts"]}
        for t, s, v, c in info["observed_acts"]:
            conf.append(c)
            right.append((t, s, v) in truth)

    for i in range(episodes):
        s = episode_seed(seed, i)
        obs, info = env.reset(seed=s)
        rng = policy_rng(s)
        add(info)
        while True:
            decision = policy.act(obs, info["action_mask"], explore=False, rng=rng)
            obs, _, terminated, truncated, info = env.step(decision.action)
            add(info)
            if terminated or truncated:
                break
    return np.array(conf), np.array(right, dtype=bool)


def plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    ax, hist = axes
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    for (name, (conf, right)), marker in zip(curves.items(), "osD^vx"):
        _, acc, mean, count = reliability(conf, right)
        used = count > 0
        ece = expected_calibration_error(conf, right)
        style = "--" if name.startswith("real") else "-"
        ax.plot(mean[used], acc[used], style, marker=marker, label=f"{name} (ECE {ece:.3f})")
        hist.hist(conf, bins=np.linspace(0, 1, 11), histtype="step", lw=1.5, ls=style, label=name)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence (mean in bin)", ylabel="share right")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    hist.set(xlabel="confidence", ylabel="parsed acts", yscale="log")
    hist.set_title("how many acts in each bin", fontsize=10)
    hist.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help=f"refit {DEFAULT_PATH.name} first")
    parser.add_argument("--episodes", type=int, default=500, help="conversations per scenario")
    parser.add_argument("--noise", type=float, default=0.15, help="word noise of the check")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out turns")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder of the MultiWOZ files")
    args = parser.parse_args(argv)
    domains = [load_domain(str(p)) for p in sorted((ROOT / "scenarios").glob("*.yaml"))]
    if args.fit:
        fitted = fit_confidence_map(domains, FIT_EPISODES, FIT_NOISE, FIT_SEED)
        fitted.fitted_on["command"] = "python benchmarks/nlu_calibration.py --fit"
        DEFAULT_PATH.write_text(fitted.to_json() + "\n", encoding="utf-8")
        print(f"fitted {DEFAULT_PATH.relative_to(ROOT)} on {fitted.fitted_on['acts']} acts")
    shipped = ConfidenceMap.load()
    print(
        f"Calibration of the NLU's confidences at word noise {args.noise} ({args.episodes} "
        f"conversations per scenario and source, seed {args.seed}; the map was fitted on "
        f"{shipped.fitted_on.get('acts', '?')} acts of other conversations, seed "
        f"{shipped.fitted_on.get('seed', '?')} on)"
    )
    head = f"{'scenario':<23}{'source':<9}{'acts':>7}{'wrong':>7}"
    head += f"{'ECE raw':>10}{'ECE map':>10}{'AUC raw':>10}{'AUC map':>10}"
    print(head)
    print("-" * len(head))
    pooled: dict[str, list] = {}
    for d in domains:
        for source, collect in (("erratic", erratic_acts), ("rule", rule_acts)):
            cells = []
            for name, nlu in (("raw", RuleNLU(d, confidence=None)), ("map", RuleNLU(d))):
                conf, right = collect(nlu, d, args.episodes, args.noise, args.seed)
                pooled.setdefault(f"{source}, {name}", []).append((conf, right))
                cells.append((conf, right))
            (conf, right) = cells[1]
            print(
                f"{d.name:<23}{source:<9}{len(right):>7}{int((~right).sum()):>7}"
                + "".join(f"{expected_calibration_error(*c):>10.4f}" for c in cells)
                + "".join(f"{ranking_auc(*c):>10.3f}" for c in cells)
            )
    curves = {k: tuple(np.concatenate(x) for x in zip(*v)) for k, v in pooled.items()}
    print()
    for name, (conf, right) in curves.items():
        print(
            f"pooled, {name:<13} ECE {expected_calibration_error(conf, right):.4f}   "
            f"mean confidence {conf.mean():.3f}, share right {right.mean():.3f}"
        )

    print()
    print(
        "Real MultiWOZ user turns about restaurants, restaurant scenario: AUC of confidence "
        "ranking right above wrong acts (right by MultiWOZ's labels), mean confidence of right "
        "and wrong acts, ECE"
    )
    d = next(x for x in domains if x.name == "restaurant")
    labels = Labels(d, "restaurant")
    head = f"{'corpus':<32}{'acts':<18}{'n':>5}{'wrong':>7}"
    head += f"{'AUC raw':>9}{'AUC map':>9}{'right/wrong raw':>17}{'right/wrong map':>17}"
    head += f"{'ECE raw':>9}{'ECE map':>9}"
    print(head)
    print("-" * len(head))
    for file in ("restaurant_val_dialogues.json", "val_search_dialogues.json"):
        path = Path(args.data) / file
        if not path.exists():
            print(f"{file:<32}missing: {path}")
            continue
        turns = turns_about(load_corpus(path).values(), "restaurant")
        both = [
            confidence_on_real_turns(nlu, labels, turns)
            for nlu in (RuleNLU(d, confidence=None), RuleNLU(d))
        ]
        for which, keep in (
            ("inform, request", lambda t: (t == INFORM) | (t == REQUEST)),
            ("+ thank, bye", lambda t: np.ones(len(t), dtype=bool)),
        ):
            cells = []
            for conf, right, types in both:
                k = keep(types)
                cells.append((conf[k], right[k]))
            n, wrong = len(cells[0][1]), int((~cells[0][1]).sum())
            print(
                f"{file:<32}{which:<18}{n:>5}{wrong:>7}"
                + "".join(f"{ranking_auc(*c):>9.3f}" for c in cells)
                + "".join(f"{c[0][c[1]].mean():>10.3f} / {c[0][~c[1]].mean():.3f}" for c in cells)
                + "".join(f"{expected_calibration_error(*c):>9.3f}" for c in cells)
            )
            if file.startswith("val_search") and which.startswith("+"):
                curves["real restaurant turns, raw"] = cells[0]
                curves["real restaurant turns, map"] = cells[1]

    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "nlu_reliability.png"
    plot(
        curves,
        png,
        f"generated turns, {len(domains)} scenarios, {args.noise:.0%} word noise;\n"
        "real: MultiWOZ restaurant turns (right by their labels)",
    )
    print(f"wrote {png.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
