"""The README's two commands are what CI runs and what a new user pastes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_a_run_command_and_a_test_command_with_the_torch_pin():
    run, test = _commands()
    assert "dialog-rl simulate" in run and "pytest" in test
    assert "torch==2.13.0" in run and "torch==2.13.0" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = _commands()
    assert test in (ROOT / ".ci" / "run").read_text()


def test_ci_also_runs_the_tests_the_readme_command_leaves_out():
    _, test = _commands()
    assert '-m "not slow"' in test
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q -n auto --dist loadgroup -m slow" in ci.split(test, 1)[1]
