"""``dialog-rl validate``: check a scenario file and print what it contains."""

from __future__ import annotations

import argparse

from dialog_rl.cli.options import KB_ROOT, SCENARIO


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="check a scenario file and print what it contains", add_help=False
    )
    p.add_argument("scenario", help=SCENARIO.help)
    p.add_argument(
        "-h", "--help", action=_HelpWithFormat, help="show this help and the scenario file format"
    )
    KB_ROOT.add(p)
    p.set_defaults(handler=run)


class _HelpWithFormat(argparse.Action):
    """``validate --help``: the usual help, then every key of a scenario file (built only when
    asked for: it imports the schema)."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from dialog_rl.scenario.reference import format_reference

        parser.print_help()
        print()
        print(format_reference(), end="")
        parser.exit()


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from dialog_rl.domain import compile_scenario
    from dialog_rl.env.featurizer import observation_spec
    from dialog_rl.scenario import load_scenario

    loaded = load_scenario(args.scenario, args.kb_root)
    d = compile_scenario(loaded)
    sc = loaded.scenario
    print(f"{args.scenario}: OK — scenario {d.name!r} (sha256 {d.content_hash[:12]})")
    if sc.description:
        print(f"  {sc.description}")
    if d.bases:
        print(f"  an overlay of: {' <- '.join(d.bases)}")
    print(f"  informable slots ({d.n_inf}):")
    for s, name in enumerate(d.inf_names):
        values = d.inf_values[s]
        shown = ", ".join(values[:6]) + (", ..." if len(values) > 6 else "")
        booking = " (booking)" if s in d.booking.slots else ""
        print(f"    {name:<14} {len(values):>4} values: {shown}{booking}")
    print(f"  requestable slots ({d.n_req}): {', '.join(d.req_names) or '-'}")
    print(f"  knowledge base: {d.n_entities} entities")
    print(f"  tasks: {', '.join(d.task_names) or '-'}")
    bk = d.booking
    for k, name in enumerate(d.domains.names):
        if bk.rate[k] > 0:
            where = f" ({name})" if d.domains.n > 1 else ""
            print(
                f"  booking{where}: {bk.rate[k]:.0%} of customers book; their first choice has "
                f"room {bk.available[k]:.0%} of the time, a changed one {bk.available_after[k]:.0%}"
            )
    print(f"  actions ({d.n_actions}): {', '.join(d.act_names)}")
    mix = ", ".join(f"{p.name} {w:.0%}" for p, w in zip(d.personas, d.persona_weights))
    print(f"  personas: {mix}")
    print(
        f"  noise: error rate {d.error_rate:.0%}; reward: success {d.r_success:+g}, "
        f"failure {d.r_failure:+g}, turn {d.r_turn:+g}, handover {d.r_handover:+g}; "
        f"turn limit {d.max_turns}"
    )
    if sc.behaviour != type(sc.behaviour)():
        fields = sc.behaviour.model_dump(exclude_defaults=True)
        closing = fields.pop("closing", {})
        shown = [f"{k} {v}" for k, v in fields.items()]
        shown += [f"closing.{k} {v}" for k, v in closing.items()]
        print(f"  customer behaviour: {', '.join(shown)}")
    if sc.lifetime is not None:
        _print_lifetime(sc.lifetime)
    print(f"  observation: {observation_spec(d).size} features")
    return 0


def _print_lifetime(lt) -> None:
    def weights(model) -> str:
        return ", ".join(f"{k} {v:+g}" for k, v in model.model_dump(exclude_none=True).items())

    print(
        f"  returning customers: up to {lt.max_visits} visits in {lt.horizon_days} days; "
        f"satisfaction {weights(lt.satisfaction)}"
    )
    for name, own in lt.persona_satisfaction.items():
        print(f"    {name}: {weights(own)}")
