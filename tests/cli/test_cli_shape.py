"""The command line stays a package of small modules: one per subcommand, short functions.

And no module of dialog_rl grows past 450 lines without saying why in its first line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "dialog_rl" / "cli"
MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 450


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_cli_functions_are_short(path):
    long = {
        f.name: f.end_lineno - f.lineno + 1
        for f in _functions(path)
        if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_every_subcommand_has_its_module():
    from dialog_rl.cli import entry

    names = {m.__name__.rsplit(".", 1)[1] for m in entry.SUBCOMMANDS}
    parser = entry.build_parser()
    (sub,) = [a for a in parser._actions if a.choices and "simulate" in a.choices]
    assert set(sub.choices) == names


def test_long_modules_say_why_in_their_first_line():
    unexplained = []
    for path in sorted((ROOT / "dialog_rl").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_FILE_LINES and not lines[0].startswith("# "):
            unexplained.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert not unexplained, f"over {MAX_FILE_LINES} lines with no reason comment: {unexplained}"


def test_a_reader_that_goes_away_stops_the_command_quietly():
    """`dialog-rl validate restaurant | head -1`: no traceback, the shell's exit code for it."""
    import subprocess
    import sys

    p = subprocess.Popen(
        [sys.executable, "-m", "dialog_rl.cli", "validate", "restaurant"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    p.stdout.close()
    err = p.stderr.read()
    p.wait()
    assert p.returncode == 141 and b"Traceback" not in err
