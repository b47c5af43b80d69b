"""The README's "Guarantees" table cites tests that exist: a renamed or deleted test fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cited() -> list[tuple[str, str]]:
    """(file, test name) for every test the Guarantees table cites; ``::name`` alone means
    the file cited last."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Guarantees\n", 1)[1].split("\n## ", 1)[0]
    out, current = [], None
    for file, name in re.findall(r"`(tests/[\w/]+\.py)?::(\w+)`", section):
        current = file or current
        assert current is not None, f"::{name} cited before any file"
        out.append((current, name))
    return out


def test_every_cited_test_exists():
    cited = _cited()
    assert len(cited) >= 30
    for file, name in cited:
        path = ROOT / file
        assert path.exists(), file
        assert re.search(rf"^(async )?def {name}\(", path.read_text(), re.M), f"{file}::{name}"


def test_pending_rows_are_filled_once_their_test_file_exists():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Guarantees\n", 1)[1].split("\n## ", 1)[0]
    for file in re.findall(r"\(pending: `(tests/[\w/]+\.py)`\)", section):
        assert not (ROOT / file).exists(), f"{file} exists: cite its tests in the README"
