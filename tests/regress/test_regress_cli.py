"""`dialog-rl regress`: exit codes, reports (JUnit XML that validates, Markdown), usage errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml
from lxml import etree

from dialog_rl.cli import main

SCENARIO = "scenarios/restaurant.yaml"
XSD = Path(__file__).with_name("junit.xsd")


def regress(*args: str) -> int:
    return main(["regress", "--scenario", SCENARIO, "--no-progress", *args])


def validate_junit(path: Path) -> JUnitXml:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.parse(str(path))
    schema.assertValid(doc)  # raises with the offending line if invalid
    return JUnitXml.fromfile(str(path))


def test_degraded_candidate_exits_1_and_writes_valid_junit_and_markdown(tmp_path, capsys):
    junit, md, js = tmp_path / "gate.xml", tmp_path / "gate.md", tmp_path / "gate.json"
    code = regress(
        "--baseline", "rule", "--candidate", "rule:early-handover", "--episodes", "1000",
        "--noise", "0.15",
        "--health-episodes", "50", "--junit", str(junit), "--markdown", str(md),
        "--json", str(js),
    )  # fmt: skip
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL  WORSE: success" in out
    xml = validate_junit(junit)
    cases = [case for suite in xml for case in suite]
    failed = [c for c in cases if any(isinstance(r, Failure) for r in c.result)]
    assert len(failed) == 1 and "no worse than rule" in failed[0].name
    assert "WORSE" in failed[0].result[0].message
    text = md.read_text()
    assert text.startswith("## ❌ dialog-rl regression gate: worse")
    assert "| success |" in text and "| look | episodes |" in text
    assert json.loads(js.read_text())["verdict"] == "worse"


def test_same_policy_exits_0_with_a_passing_junit(tmp_path):
    junit = tmp_path / "gate.xml"
    code = regress(
        "--baseline", "rule", "--candidate", "rule", "--episodes", "200",
        "--junit", str(junit),
    )  # fmt: skip
    assert code == 0
    xml = validate_junit(junit)
    suite = next(iter(xml))
    assert suite.failures == 0 and suite.tests == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--baseline", "rule"], "needs --candidate"),
        (["--baseline", "rule", "--candidate", "rule:wat"], "unknown variant 'wat'"),
        (["--baseline", "rule", "--candidate", "rule", "--alpha", "0.9"], "--alpha"),
        (["--baseline", "rule", "--candidate", "rule", "--margin", "-1"], "--margin"),
        (["--baseline", "rule", "--candidate", "rule", "--junit", "no/such/dir/x.xml"], "does not exist"),
        (["--baseline", "rule", "--candidate", "rule", "--logs", "nowhere"], "no such file"),
        (["--baseline", "rule", "--candidate", "rule", "--logs", "x", "--episodes", "9"], "for simulation only"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_one_line(capsys, args, message):
    assert regress(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("dialog-rl: error:") and message in err
    assert "Traceback" not in err


def test_missing_scenario_is_a_usage_error(capsys):
    assert (
        main(["regress", "--baseline", "rule", "--candidate", "rule", "--scenario", "x.yaml"]) == 2
    )
    assert "x.yaml" in capsys.readouterr().err


def test_nothing_is_written_when_the_arguments_are_wrong(tmp_path):
    md = tmp_path / "gate.md"
    assert regress("--baseline", "rule", "--candidate", "rule:wat", "--markdown", str(md)) == 2
    assert not md.exists() and not list(tmp_path.iterdir())


ORDERS = "scenarios/order_support.yaml"


def test_lifetime_gate_fails_a_candidate_that_loses_lifetime_value(tmp_path, capsys):
    junit = tmp_path / "gate.xml"
    args = ["regress", "--scenario", ORDERS, "--lifetime", "--no-progress", "--margin", "2"]
    args += ["--baseline", "rule", "--candidate", "rule:early-handover", "--episodes", "400"]
    assert main([*args, "--health-episodes", "20", "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  WORSE: lifetime value" in out and "pairing   episode:" in out
    assert "customers" in out and all(m in out for m in ("retention", "visits", "success"))
    validate_junit(junit)


def test_lifetime_gate_pairs_whole_customers():
    from dialog_rl.regress.gate import GateConfig, run_gate

    config = GateConfig(ORDERS, "rule", "rule", episodes=120, health_episodes=0, lifetime=True,
                        metric="value")  # fmt: skip
    assert config.pairing == "episode"  # the default of a lifetime gate
    result = run_gate(config)
    # the same policy meets the same customers: every lifetime plays out identically
    assert result.identical == result.episodes > 0 and result.primary.diff == 0.0
    assert [m.name for m in result.metrics] == ["value", "retention", "visits", "success"]
    with pytest.raises(ValueError, match="pairs whole customers"):
        replace(config, pairing="act")
    with pytest.raises(ValueError, match="lifetime gate's must be one of"):
        replace(config, metric="reward")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "value"], "a lifetime metric: add --lifetime"),
        (["--lifetime", "--metric", "reward"], "a lifetime gate decides on value"),
        (["--lifetime", "--pairing", "act"], "pairs customers (episode or none)"),
        (["--lifetime", "--logs", "x"], "--logs is for conversations only"),
        (["--lifetime", "--scenario", "scenarios/restaurant.yaml"], "no `lifetime` section"),
    ],
)
def test_lifetime_gate_usage_errors_exit_2_with_one_line(capsys, args, message):
    base = ["regress", "--scenario", ORDERS, "--baseline", "rule", "--candidate", "rule"]
    assert main([*base, "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
