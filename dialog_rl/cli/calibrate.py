"""``dialog-rl calibrate``: fit a scenario's customer model to annotated real dialogues and write
the fit as an overlay scenario (``extends:`` the scenario, with the fitted keys)."""

from __future__ import annotations

import argparse

from dialog_rl.cli.corpus import corpus_dialogues
from dialog_rl.cli.errors import UsageError
from dialog_rl.cli.options import (
    BOOTSTRAP,
    CORPUS,
    CORPUS_DOMAIN,
    JSON,
    KB_ROOT,
    OUT,
    SCENARIO,
    SEED,
)

KIND = "calibrate"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit the customer model to annotated real dialogues; write it as an overlay",
        description="Fit a one-domain scenario's customer model (goal rates, booking, what customers do "
        "when nothing matches, corrections, don't-care, pieces per turn, alternatives, yes to "
        "offers, greetings, closings, cooperativeness, a patience bound) to annotated dialogues "
        "in MultiWOZ's JSON format, by maximum likelihood or moment matching (which, and why, "
        "is in dialog_rl/realism/calibrate.py), and write the fit as a scenario file that "
        "extends the scenario. Prints the fit report: each parameter with the scenario's value, "
        "the fit, a 95%% bootstrap interval over dialogues and the occasions it rests on.",
    )
    SCENARIO.add(p, required=True)
    CORPUS.add(p, required=True)
    CORPUS_DOMAIN.add(p, shown_default="the scenario's name, or that of the scenario it extends")
    OUT.add(p, required=True, detail="the overlay scenario (YAML) to write")
    JSON.add(p)
    BOOTSTRAP.add(p, default=200, detail="over whole dialogues, for the intervals")
    SEED.add(p, default=0, detail="the bootstrap")
    KB_ROOT.add(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    import hashlib
    import shlex
    from pathlib import Path

    from dialog_rl.domain import compile_scenario
    from dialog_rl.outputs import check_replaceable_file, marker, write_file
    from dialog_rl.realism.calibrate import fit, observe_all
    from dialog_rl.realism.fit_report import format_fit, overlay_text
    from dialog_rl.scenario import load_scenario

    out = Path(args.out)
    check_replaceable_file(out, KIND, "--out")  # before the work
    if args.json:
        check_replaceable_file(args.json, KIND, "--json")
    loaded = load_scenario(args.scenario, args.kb_root)
    domain = compile_scenario(loaded)
    if domain.domains.n > 1:
        raise UsageError(
            f"--scenario {args.scenario}: calibrate fits one-domain scenarios; "
            f"{domain.name!r} has {domain.domains.n} domains"
        )
    corpus, name, dialogues = corpus_dialogues(args, domain)
    result = fit(
        loaded.scenario,
        domain,
        observe_all(domain, dialogues, name),
        bootstrap=args.bootstrap,
        seed=args.seed,
    )
    digest = hashlib.sha256(Path(args.corpus).read_bytes()).hexdigest()
    print(
        f"calibrate: scenario {domain.name} against {len(dialogues)} dialogues about {name} in "
        f"{args.corpus} ({len(corpus) - len(dialogues)} about other domains too, left out; "
        f"sha256 {digest[:12]}); intervals from {args.bootstrap} bootstrap resamples"
    )
    print(format_fit(result))
    extends, overlay_name = _names(loaded.path, out, domain.name)
    header = [
        marker(KIND),
        f"The {domain.name} scenario's customer model fitted to {len(dialogues)} annotated "
        f"dialogues about {name}",
        f"({Path(args.corpus).name}, sha256 {digest[:16]}) by:",
        f"  dialog-rl {shlex.join(argv)}",
        "Each key's comment gives its basis: events/occasions, 95% bootstrap interval over",
        "dialogues, estimator (dialog_rl/realism/calibrate.py says which and why). Every key not",
        f"here is {extends}'s. `dialog-rl validate --help` explains each key.",
    ]
    text = overlay_text(result, extends, overlay_name, header)
    write_file(out, text.encode(), KIND, "--out")
    print(f"  wrote {out}")
    if args.json:
        _write_json(args, result, domain, name, digest)
    return 0


def _names(base, out, scenario: str) -> tuple[str, str]:
    """What the overlay ``extends`` (the base's file name beside it, a shipped scenario's name,
    or else a path relative to it) and its own name (its file's stem)."""
    import os
    import re

    from dialog_rl.scenario import shipped_scenarios

    shipped = shipped_scenarios()
    folder = out.parent
    if os.path.realpath(base.parent) == os.path.realpath(folder):
        extends = base.name
    elif base.stem in shipped and os.path.realpath(shipped[base.stem]) == os.path.realpath(base):
        extends = base.stem
    else:
        extends = os.path.relpath(base, folder)
    stem = re.sub(r"[^A-Za-z0-9_]", "_", out.name.removesuffix(".yaml").removesuffix(".yml"))
    return extends, stem if re.match(r"^[A-Za-z_]", stem) else f"{scenario}_calibrated"


def _write_json(args, result, domain, name: str, digest: str) -> None:
    import json

    from dialog_rl.outputs import stamp, write_file

    doc = {
        "scenario": domain.name,
        "scenario_hash": domain.content_hash,
        "corpus": str(args.corpus),
        "corpus_sha256": digest,
        "domain": name,
        "dialogues": result.dialogues,
        "bootstrap": args.bootstrap,
        "seed": args.seed,
        "estimates": [
            {
                "key": e.key,
                "value": e.value,
                "scenario": e.before,
                "ci95": e.ci95,
                "occasions": e.n,
                "events": e.events,
                "method": e.method,
            }
            for e in result.estimates
        ],
        "overlay": result.overlay,
    } | stamp(KIND)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    write_file(args.json, text.encode(), KIND, "--json")
    print(f"  wrote {args.json}")
