"""The layer contracts in pyproject.toml hold, and ``lint-imports`` fails on a reversed import.

Each case copies the package (``dialog_rl`` and ``simulators``) into a temporary directory, adds
an import that runs against DESIGN.md (in a new module or an existing one), and runs the real
``lint-imports`` on the real contracts there: a non-zero exit naming the broken contract, where
the untouched copy passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS = "Layers of DESIGN.md"
TEXTUAL = "The headless core never imports textual"
TORCH = "Nothing below dialog_rl.policies imports torch"


def _copy_package(dest: Path) -> Path:
    for package in ("dialog_rl", "simulators"):
        shutil.copytree(
            ROOT / package,
            dest / package,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on ``tree``'s pyproject.toml, with ``tree`` first on the import path."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())",
            "--no-cache",
            "--no-logo",
            "pyproject.toml",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_contracts_hold_on_this_tree(tmp_path):
    result = _lint_imports(_copy_package(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    for contract in (LAYERS, TEXTUAL, TORCH):
        assert contract in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "contract"),
    [
        # DESIGN.md: simulators never import env, policies or tui
        ("simulators/reversed.py", "import dialog_rl.env.tracker\n", LAYERS),
        # an import inside a function counts as much as one at the top
        (
            "dialog_rl/scenario/reversed.py",
            "def late():\n    from dialog_rl.rollout import runner\n\n    return runner\n",
            LAYERS,
        ),
        ("dialog_rl/policies/reversed.py", "from dialog_rl.train import loop\n", LAYERS),
        # the shared modules under every layer import none (added to an existing one)
        ("dialog_rl/seeding.py", "import dialog_rl.rollout.runner\n", LAYERS),
        ("dialog_rl/rollout/reversed.py", "import textual.app\n", TEXTUAL),
        ("dialog_rl/env/reversed.py", "import torch\n", TORCH),
        ("simulators/reversed.py", "from torch import nn\n", TORCH),
    ],
)
def test_lint_imports_fails_on_a_reversed_import(tmp_path, module, source, contract):
    tree = _copy_package(tmp_path)
    path = tree / module
    path.write_text((path.read_text() if path.exists() else "") + source)
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert f"{contract}" in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken
