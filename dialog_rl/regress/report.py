"""Reports of a gate's result: plain text for the terminal, Markdown for a pull request, JUnit XML
for CI (the common Ant/Jenkins dialect: ``testsuites > testsuite > testcase > failure``)."""

from __future__ import annotations

import math
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from dialog_rl.regress.gate import GateResult, Look, MetricDiff

LABELS = {
    "success": "success",
    "reward": "reward",
    "turns": "turns",
    "hangup": "hang-ups",
    "value": "lifetime value",
    "retention": "retention",
    "visits": "visits",
}
SPENDING_NAMES = {"obf": "O'Brien-Fleming-like", "pocock": "Pocock-like"}


def _num(x: float, pct: bool, signed: bool = False) -> str:
    if not math.isfinite(x):
        return "n/a"
    if pct:
        return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}%"
    return f"{x:+.2f}" if signed else f"{x:.2f}"


def _ci(m: MetricDiff) -> str:
    lo, hi = m.ci95
    unit = " pts" if m.pct else ""
    return f"{_num(m.diff, m.pct, True)}{unit} [{_num(lo, m.pct, True)}, {_num(hi, m.pct, True)}]"


def _mark(m: MetricDiff) -> str:
    lo, hi = m.ci95
    if m.significantly_worse:
        return "worse"
    better = lo > 0 if m.higher_is_better else hi < 0
    return "better" if better else "~"


def _ratio(m: MetricDiff) -> str:
    r = m.variance_ratio
    return "exact" if math.isinf(r) else f"x{r:.1f}"


def headline(result: GateResult) -> str:
    """One sentence: the verdict and why."""
    cfg = result.config
    m = result.primary
    label = LABELS[cfg.metric]
    margin = f"{100 * cfg.margin:g} points" if m.pct else f"{cfg.margin:g}"
    change = f"{label} {_ci(m)}"
    if result.verdict == "worse":
        return f"WORSE: {change}; the candidate is significantly worse than the baseline"
    if result.verdict == "better":
        return f"BETTER: {change}; the candidate is significantly better than the baseline"
    if result.verdict == "no worse":
        return f"NO WORSE within {margin}: {change}; a regression of {margin} is ruled out"
    return (
        f"INCONCLUSIVE: {change}; not significantly worse, but a regression of {margin} is "
        "not ruled out either"
    )


def _look_line(k: int, lk: Look, pct: bool) -> tuple[str, ...]:
    scale = 100.0 if pct else 1.0
    decision = {
        "pass": "pass (lower bound > -margin)",
        "fail": "fail (upper bound < 0)",
        "continue": "continue",
        "inconclusive": "end: neither bound decides",
    }[lk.decision]
    return (
        str(k + 1),
        str(lk.episodes),
        f"{scale * lk.mean:+.2f}",
        f"{scale * lk.lower:+.2f}" if math.isfinite(lk.lower) else "n/a",
        f"{scale * lk.upper:+.2f}" if math.isfinite(lk.upper) else "n/a",
        decision,
    )


def _design(result: GateResult) -> str:
    cfg = result.config
    unit = " points" if result.primary.pct else ""
    scale = 100 if result.primary.pct else 1
    direction = "higher" if result.primary.higher_is_better else "lower"
    return (
        f"{LABELS[cfg.metric]} ({direction} is better), margin {scale * cfg.margin:g}{unit}, "
        f"false-alarm rate alpha {cfg.alpha:g}, {len(result.looks)} of up to "
        f"{_planned_looks(result)} looks, {SPENDING_NAMES[cfg.spending]} error spending"
    )


def _planned_looks(result: GateResult) -> int:
    from dialog_rl.regress.gate import look_schedule

    return len(look_schedule(result.config.episodes, result.config.looks))


def _summary_lines(result: GateResult) -> list[str]:
    cfg = result.config
    noise = "scenario default" if cfg.noise is None else f"{cfg.noise:g}"
    lines = [
        f"scenario {result.scenario_name} ({cfg.scenario}), noise {noise}, seed {cfg.seed}",
        f"baseline  {cfg.baseline}",
        f"candidate {cfg.candidate}",
        (
            f"pairing   {cfg.pairing}: both policies meet the same customers ("
            + (
                "persona, goals, each visit's seed and return draw)"
                if cfg.lifetime
                else "goals, personas, patience, noise draws)"
            )
            if cfg.pairing != "none"
            else "pairing   none: the candidate meets other customers (unpaired comparison)"
        )
        + ("; independent exploration streams" if cfg.independent_exploration else ""),
    ]
    early = f", stopped early at look {len(result.looks)}" if result.stopped_early else ""
    what = "customers" if cfg.lifetime else "episodes "
    lines.append(
        f"{what} {result.episodes} paired of {cfg.episodes} planned{early}; "
        f"{result.identical} played out identically; {result.elapsed:.1f} s"
    )
    if cfg.lifetime:
        lines.append(
            "lifetimes each customer's visits until they stop coming back or the horizon ends "
            "(success: of their conversations)"
        )
    return lines


def text_report(result: GateResult) -> str:
    """The terminal report."""
    out = ["dialog-rl regress", *("  " + x for x in _summary_lines(result)), ""]
    out.append(("PASS  " if result.passed else "FAIL  ") + headline(result))
    out.append("")
    rows = [("metric", "baseline", "candidate", "difference [paired 95% CI]", "", "pairing")]
    for m in result.metrics:
        rows.append(
            (
                LABELS[m.name],
                _num(m.baseline, m.pct),
                _num(m.candidate, m.pct),
                _ci(m),
                _mark(m),
                _ratio(m),
            )
        )
    out += _table(rows)
    out.append("  (pairing: how many times fewer episodes than two independent samples need)")
    out.append("")
    out.append(f"decision on {_design(result)}:")
    rows = [("look", "episodes", "diff", "lower", "upper", "decision")]
    rows += [_look_line(k, lk, result.primary.pct) for k, lk in enumerate(result.looks)]
    out += _table(rows)
    if result.verdict == "inconclusive":
        out.append(
            f"  power: a regression of the margin would be caught with about "
            f"{100 * result.power:.0f}% probability in {result.config.episodes} episodes; "
            f"~{result.episodes_for_power} episodes give 80%"
        )
    out.append("")
    out += ["health: " + line for line in result.health.lines()]
    for note in result.notes:
        out.append(f"note: {note}")
    return "\n".join(out) + "\n"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def markdown_report(result: GateResult) -> str:
    """The report as GitHub-flavoured Markdown (for a pull-request comment or job summary)."""
    icon = "✅" if result.passed else "❌"
    out = [f"## {icon} dialog-rl regression gate: {result.verdict}", "", headline(result), ""]
    out += [f"- {line}" for line in _summary_lines(result)]
    out += [
        "",
        "| metric | baseline | candidate | difference [paired 95% CI] | | pairing |",
        "|---|---|---|---|---|---|",
    ]
    for m in result.metrics:
        out.append(
            f"| {LABELS[m.name]} | {_num(m.baseline, m.pct)} | {_num(m.candidate, m.pct)} | "
            f"{_ci(m)} | {_mark(m)} | {_ratio(m)} |"
        )
    out += ["", f"Decision on {_design(result)}:", ""]
    out += ["| look | episodes | diff | lower | upper | decision |", "|---|---|---|---|---|---|"]
    for k, lk in enumerate(result.looks):
        out.append("| " + " | ".join(_look_line(k, lk, result.primary.pct)) + " |")
    out += ["", "**Scenario health**", ""]
    out += [f"- {line}" for line in result.health.lines()]
    if result.notes:
        out += ["", "**Notes**", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(out) + "\n"


def junit_xml(result: GateResult) -> bytes:
    """JUnit XML: one suite, one test case per check (health, the verdict, each other metric)."""
    cfg = result.config
    errors = result.health.errors
    cases = [
        (
            "scenario health",
            "; ".join(f.message for f in errors) if errors else None,
            "\n".join(result.health.lines()),
        ),
        (
            f"{LABELS[cfg.metric]}: {cfg.candidate} no worse than {cfg.baseline} "
            f"(margin {cfg.margin:g}, alpha {cfg.alpha:g})",
            None if result.passed else headline(result),
            text_report(result),
        ),
    ]
    for m in result.metrics:
        if m.name != cfg.metric:
            cases.append(
                (f"{LABELS[m.name]}: paired difference", None, f"{LABELS[m.name]} {_ci(m)}")
            )
    props = {
        "scenario": cfg.scenario,
        "baseline": cfg.baseline,
        "candidate": cfg.candidate,
        "seed": str(cfg.seed),
        "episodes": str(result.episodes),
        "verdict": result.verdict,
        "pairing": cfg.pairing,
    }
    return junit_document(f"dialog-rl regress {result.scenario_name}", cases, props, result.elapsed)


def junit_document(
    suite_name: str,
    cases: list[tuple[str, str | None, str]],
    properties: dict[str, str],
    elapsed: float,
) -> bytes:
    """A JUnit XML document of one suite; each case is ``(name, failure message or None, output)``.

    A failing case carries the output in its ``failure`` element, a passing one in
    ``system-out``, so CI shows the whole report exactly where a person looks.
    """
    classname = "dialog_rl.regress." + "".join(c if c.isalnum() else "_" for c in suite_name)
    elements = []
    for name, failure, output in cases:
        tc = ET.Element("testcase", {"name": name, "classname": classname, "time": "0"})
        if failure is not None:
            ET.SubElement(tc, "failure", {"message": failure, "type": "regression"}).text = output
        else:
            ET.SubElement(tc, "system-out").text = output
        elements.append(tc)
    failures = sum(1 for _, f, _ in cases if f is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": "0"}
    stamp = datetime.now(timezone.utc).replace(microsecond=0, tzinfo=None).isoformat()
    suites = ET.Element("testsuites", {"name": suite_name, **counts, "time": f"{elapsed:.3f}"})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": suite_name,
            **counts,
            "skipped": "0",
            "time": f"{elapsed:.3f}",
            "timestamp": stamp,
            "hostname": socket.gethostname() or "localhost",
        },
    )
    props = ET.SubElement(suite, "properties")
    for k, v in properties.items():
        ET.SubElement(props, "property", {"name": k, "value": v})
    suite.extend(elements)
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
