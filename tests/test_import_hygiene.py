"""The headless core never imports textual; `import dialog_rl` and `--help` never import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEADLESS = [
    "dialog_rl",
    "dialog_rl.cli",
    "dialog_rl.scenario",
    "dialog_rl.env",
    "dialog_rl.policies",
    "dialog_rl.rollout.runner",
    "dialog_rl.rollout.logs",
    "simulators.customer",
]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("module", HEADLESS)
def test_headless_modules_import_neither_textual_nor_torch(module):
    mods = _modules_after(f"import {module}")
    assert "textual" not in mods
    assert "torch" not in mods


def test_help_does_not_import_torch_or_numpy():
    mods = _modules_after(
        "import sys\nfrom dialog_rl.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    )
    assert "torch" not in mods
    assert "numpy" not in mods


def test_simulators_do_not_import_policies_env_or_tui():
    mods = _modules_after("import simulators.customer, simulators.noise, simulators.customer_nlg")
    assert not {
        m for m in mods if m.startswith(("dialog_rl.policies", "dialog_rl.env", "dialog_rl.tui"))
    }
