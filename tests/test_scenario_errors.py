"""Bad scenario files: one message naming file, line and field; exit code 2; no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dialog_rl.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOOD = (ROOT / "scenarios" / "shopping.yaml").read_text()
KB = (ROOT / "scenarios" / "shopping_kb.csv").read_text()


def _write(tmp_path: Path, text: str, kb: str = KB) -> Path:
    (tmp_path / "shopping_kb.csv").write_text(kb)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


CASES = [
    # (id, scenario text, (kb text or None), expected field, expected message part, needle for line)
    (
        "duplicate key",
        _replace("  change_mind: 0.06", "  change_mind: 0.06\n  change_mind: 0.5"),
        None,
        "goals.change_mind",
        "given twice (first on line",
        "change_mind: 0.5",
    ),
    (
        "duplicate key in a list item",
        _replace("  - name: reserved\n", "  - name: reserved\n    name: quiet\n"),
        None,
        "personas[0].name",
        "YAML would keep only this one",
        "name: quiet",
    ),
    (
        "wrong type",
        _replace("  max_turns: 25", "  max_turns: lots"),
        None,
        "reward.max_turns",
        "valid integer",
        "max_turns: lots",
    ),
    (
        "unknown key",
        _replace("  change_mind: 0.06", "  change_mind: 0.06\n  chnage_mind: 0.1"),
        None,
        "goals.chnage_mind",
        "unknown key",
        "chnage_mind",
    ),
    (
        "undeclared slot",
        _replace("  constraints: {category: 1.0,", "  constraints: {size: 0.5, category: 1.0,"),
        None,
        "goals.constraints.size",
        "not a declared informable slot",
        "constraints: {size",
    ),
    (
        "empty value list",
        _replace("      values: [novo, aurum, kestrel, lumio, zephyr]", "      values: []"),
        None,
        "slots.informable[1].values",
        "at least 1 item",
        "values: []",
    ),
    (
        "template names unknown slot",
        _replace('"It costs {price}."', '"It costs {prize}."'),
        None,
        "actions[10].templates[0]",
        "{prize}",
        "It costs {prize}",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_names_file_line_and_field(tmp_path, capsys, case):
    _, text, kb, field, message, needle = case
    path = _write(tmp_path, text, kb or KB)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert f"{path}:{_line_of(text, needle)}:" in err
    assert field in err
    assert message in err


def test_kb_row_with_unknown_slot_names_the_csv_line(tmp_path, capsys):
    lines = KB.splitlines()
    lines[0] += ",weight"
    lines[1:] = [line + ",1kg" for line in lines[1:]]
    path = _write(tmp_path, GOOD, "\n".join(lines) + "\n")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'shopping_kb.csv'}:2:" in err
    assert "row 1.weight" in err and "not a declared slot" in err


def test_inline_kb_row_with_unknown_slot_names_the_yaml_line(tmp_path, capsys):
    text = (ROOT / "scenarios" / "order_support.yaml").read_text()
    bad = text.replace("item: kettle,", "colour: red, item: kettle,", 1)
    assert bad != text
    path = tmp_path / "orders.yaml"
    path.write_text(bad)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{_line_of(bad, 'colour: red')}:" in err
    assert ".colour" in err and "not a declared slot" in err


def test_yaml_syntax_error_names_the_line(tmp_path, capsys):
    text = _replace("  tasks: {purchase: 0.6}", "  tasks: {purchase: 0.6")
    path = _write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "YAML syntax error" in err
    line = int(err.split(f"{path}:")[1].split(":")[0])
    assert abs(line - _line_of(text, "tasks: {purchase")) <= 2


def test_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    assert main(["validate", str(path)]) == 2
    assert f"{path}: file not found" in capsys.readouterr().err


def test_missing_kb_file_names_the_kb_key(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD)
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{_line_of(GOOD, 'file: shopping_kb.csv')}: kb.file: file not found" in err


@pytest.mark.parametrize("text", ["- just\n- a list\n", "42\n", ""])
def test_file_that_is_not_a_mapping(tmp_path, capsys, text):
    path = _write(tmp_path, text)
    assert main(["validate", str(path)]) == 2
    assert f"{path}:1: a scenario must be a YAML mapping" in capsys.readouterr().err


def test_alias_bomb_is_refused_quickly(tmp_path, capsys):
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    assert main(["validate", str(path)]) == 2
    assert "YAML aliases" in capsys.readouterr().err


def test_cli_error_has_no_traceback_and_exit_code_2(tmp_path):
    path = _write(tmp_path, _replace("  max_turns: 25", "  max_turns: lots"))
    proc = subprocess.run(
        [sys.executable, "-m", "dialog_rl.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("dialog-rl: error: ")


def test_shipped_scenarios_validate(capsys):
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert main(["validate", str(path)]) == 0
        assert "OK" in capsys.readouterr().out
