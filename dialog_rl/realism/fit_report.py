"""The fit of ``dialog_rl.realism.calibrate`` in words: the report it prints, and the overlay
scenario file it writes (each key with its basis as a comment)."""

from __future__ import annotations

from dialog_rl.realism.calibrate import ML, Fit

__all__ = ["ci_shown", "format_fit", "overlay_text", "shown"]


def shown(x: object) -> str:
    if isinstance(x, tuple | list):
        if len(x) == 2 and all(isinstance(v, int) for v in x):
            return f"[{x[0]}, {x[1]}]"
        return "[" + ", ".join(f"{v:.2f}" for v in x) + "]"
    if isinstance(x, float):
        return f"{x:.3f}"
    return str(x)


def ci_shown(ci: tuple | None) -> str:
    if ci is None:
        return "-"
    if isinstance(ci[0], tuple):
        return " ".join(f"[{a:.2f},{b:.2f}]" for a, b in ci)
    if ci[0] is None:
        return "-"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def format_fit(result: Fit) -> str:
    """The fit report: each parameter, the scenario's value, the fit, its interval and basis
    (a distribution on lines of its own)."""
    lines = [
        f"  {'parameter':<34}{'scenario':>10}{'fitted':>10}  {'95% CI':<18}{'basis':>7}  estimator"
    ]
    for e in result.estimates:
        n = f"{e.events}/{e.n}" if e.events is not None and e.n else (str(e.n) if e.n else "")
        if isinstance(e.value, tuple) and not (
            len(e.value) == 2 and all(isinstance(v, int) for v in e.value)
        ):
            lines.append(f"  {e.key:<34}{'':>10}{'':>10}  {'':<18}{n:>7}  {e.method}")
            before = e.before if isinstance(e.before, tuple) else ()
            for k, v in enumerate(e.value):
                was = f"{before[k]:.3f}" if k < len(before) else "-"
                ci = ci_shown(e.ci95[k]) if e.ci95 and k < len(e.ci95) else "-"
                lines.append(f"  {f'  {k + 1}':<34}{was:>10}{v:>10.3f}  {ci}")
            continue
        lines.append(
            f"  {e.key:<34}{shown(e.before):>10}{shown(e.value):>10}  "
            f"{ci_shown(e.ci95):<18}{n:>7}  {e.method}"
        )
    weak = [e.key for e in result.estimates if e.method == ML and 0 < e.n < 10]
    if weak:
        lines.append(f"  fewer than 10 occasions (a wide interval): {', '.join(weak)}")
    return "\n".join(lines)


def overlay_text(result: Fit, extends: str, name: str, header: list[str]) -> str:
    """The overlay file: ``extends``, ``name``, and the fitted keys, each with its basis as a
    comment; ``header`` lines go first as comments."""
    notes = {e.key: e for e in result.estimates}
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [f"extends: {extends}", f"name: {name}", ""]
    o = result.overlay

    def note(key: str) -> str:
        e = notes.get(key)
        if e is None:
            return ""
        basis = f"{e.events}/{e.n}" if e.events is not None and e.n else f"n={e.n}"
        return f"  # {basis}, 95% CI {ci_shown(e.ci95)}; {e.method}"

    lines.append("goals:")
    for part in ("constraints", "requests"):
        lines.append(f"  {part}:")
        for k, v in o["goals"][part].items():
            lines.append(f"    {k}: {v}{note(f'goals.{part}.{k}')}")
    lines.append(f"  satisfiable: {o['goals']['satisfiable']}{note('goals.satisfiable')}")
    lines.append("  on_no_match:")
    for k, v in o["goals"]["on_no_match"].items():
        lines.append(f"    {k}: {v}{note(f'goals.on_no_match.{k}')}")
    if "book" in o["goals"]:
        lines.append("  book:")
        for k, v in o["goals"]["book"].items():
            if isinstance(v, dict):
                lines.append(f"    {k}:")
                lines += [f"      {s}: {w}{note(f'goals.book.{k}.{s}')}" for s, w in v.items()]
            else:
                lines.append(f"    {k}: {v}{note(f'goals.book.{k}')}")
    lines.append("")
    coop = notes.get("personas.cooperativeness")
    if coop is not None:
        lines.append(f"# cooperativeness: mean{note('personas.cooperativeness')}")
    lines.append("personas:")
    for p in o["personas"]:
        lines.append(f"  - name: {p['name']}")
        for k in ("weight", "patience", "cooperativeness", "verbosity", "multi_slot"):
            v = p[k]
            text = f"[{v[0]}, {v[1]}]" if isinstance(v, list | tuple) else str(v)
            extra = note(f"personas.{p['name']}.patience") if k == "patience" else ""
            lines.append(f"    {k}: {text}{extra}")
    lines.append("")
    b = o["behaviour"]
    lines.append("behaviour:")
    for k, v in b.items():
        if k == "closing":
            lines.append("  closing:")
            for c, w in v.items():
                lines.append(f"    {c}: {w}{note(f'behaviour.closing.{c}')}")
        elif k == "slots_per_turn":
            shown = ", ".join(str(w) for w in v)
            lines.append(f"  {k}: [{shown}]{note('behaviour.slots_per_turn')}")
        else:
            lines.append(f"  {k}: {v}{note(f'behaviour.{k}')}")
    return "\n".join(lines) + "\n"
