"""`dialog-rl ope`: the table, the truth column, JSON output, determinism and exit codes."""

from __future__ import annotations

import json

import pytest

from dialog_rl.cli import main

SCENARIO = "scenarios/restaurant.yaml"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ope_cli") / "logs"
    args = ["simulate", "--scenario", SCENARIO, "--policy", "rule", "--epsilon", "0.3"]
    assert (
        main([*args, "--episodes", "200", "--seed", "2", "--no-progress", "--out", str(out)]) == 0
    )
    return out


def test_ope_prints_every_estimator_with_truth_and_diagnostics(logs, tmp_path, capsys):
    js = tmp_path / "ope.json"
    args = ["ope", "--logs", str(logs), "--policy", "rule", "--truth", "--episodes-truth", "300"]
    assert main([*args, "--bootstrap", "50", "--json", str(js)]) == 0
    out = capsys.readouterr().out
    for name in (
        "IS",
        "WIS",
        "PDIS",
        "WPDIS",
        "DR",
        "WDR *",
        "MAGIC",
        "FQE",
        "SR",
        "IPS",
        "SNIPS",
        "Switch-DR",
    ):
        assert f"\n  {name} " in out, name
    assert "truth " in out and "rel.err" in out
    assert "effective sample size" in out
    assert "exact: logger recomputed" in out
    data = json.loads(js.read_text())
    assert set(data["trajectory"]) >= {"IS", "WDR", "SR", "FQE"}
    assert data["truth"]["ci"][0] < data["truth"]["value"] < data["truth"]["ci"][1]
    assert data["recommended"] == "WDR"


def test_same_seed_prints_the_same_table(logs, capsys):
    args = ["ope", "--logs", str(logs), "--policy", "random", "--no-fqe", "--bootstrap", "30"]
    assert main([*args, "--seed", "5"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--seed", "5"]) == 0
    assert capsys.readouterr().out == first
    assert main([*args, "--seed", "6"]) == 0
    assert capsys.readouterr().out != first


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--policy", "rule"], "required: --logs"),
        (["--logs", "x", "--policy", "rule", "--bootstrap", "0"], "expected a number >= 1"),
        (["--logs", "{logs}", "--policy", "no-such-policy"], "unknown policy"),
        (["--logs", "{logs}", "--policy", "rule", "--gamma", "1.5"], "--gamma: expected a"),
        (["--logs", "{logs}", "--policy", "rule", "--gamma", "0"], "--gamma must be in"),
    ],
    ids=["no logs", "bootstrap 0", "unknown policy", "bad gamma", "gamma 0"],
)
def test_usage_errors_exit_2(logs, capsys, argv, match):
    argv = [a.replace("{logs}", str(logs)) for a in argv]
    try:
        code = main(["ope", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert match in capsys.readouterr().err


def test_ope_modules_import_torch_only_when_fqe_runs():
    import subprocess
    import sys

    code = (
        "import sys, dialog_rl.ope.report, dialog_rl.ope.command, dialog_rl.ope.stationary\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", ["simulate", "train", "ope", "regress", "validate", "tui"])
def test_help_texts_print_percent_signs_once(command, capsys):
    # argparse %-formats help strings but not descriptions: "%%" there is printed as is
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "usage: dialog-rl" in text and "%%" not in text
