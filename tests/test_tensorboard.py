"""`train --tensorboard DIR` writes the learning curve as TensorBoard events, read back here."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from dialog_rl.train.tensorboard import (
    EVENTS_FILE,
    TensorBoardLog,
    crc32c,
    curve_events,
    read_scalars,
)


def test_crc32c_matches_the_castagnoli_check_value():
    assert crc32c(b"123456789") == 0xE3069283


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tb")
    cmd = [
        sys.executable,
        "-m",
        "dialog_rl.cli",
        "train",
        "--scenario",
        "restaurant",
        "--algo",
        "egreedy",
        "--dialogues",
        "200",
        "--eval-every",
        "100",
        "--eval-episodes",
        "30",
        "--out",
        str(tmp / "run"),
        "--tensorboard",
        str(tmp / "tb"),
        "--no-progress",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with open(tmp / "run" / "curve.csv") as fh:
        rows = list(csv.DictReader(fh))
    return tmp, rows


def test_every_curve_column_is_an_event_series_with_the_csv_values(run):
    tmp, rows = run
    scalars = read_scalars(tmp / "tb" / EVENTS_FILE)
    columns = [c for c in rows[0] if c != "episode"]
    assert sorted(scalars) == sorted(
        c for c in columns if any(r[c] not in ("", "nan") for r in rows)
    )
    for tag, series in scalars.items():
        expected = [(int(r["episode"]), float(r[tag])) for r in rows if r[tag] not in ("", "nan")]
        assert [s for s, _ in series] == [s for s, _ in expected], tag
        assert [v for _, v in series] == pytest.approx(
            [v for _, v in expected], rel=1e-5, abs=1e-6
        ), tag


def test_tensorboards_own_reader_sees_the_same_curves(run):
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator",
        reason="tensorboard is not installed (pip install tensorboard)",
    )
    tmp, rows = run
    ea = accumulator.EventAccumulator(str(tmp / "tb"))
    ea.Reload()
    success = [(e.step, e.value) for e in ea.Scalars("dialog/success")]
    assert success == [
        (int(r["episode"]), pytest.approx(float(r["dialog/success"]), rel=1e-5, abs=1e-6))
        for r in rows
    ]


class _Loop:
    def __init__(self) -> None:
        self.curve: list[dict] = []


def test_rewriting_at_each_evaluation_keeps_each_row_once(tmp_path):
    log = TensorBoardLog(tmp_path)
    log.init_callback(_Loop())
    for episode in (0, 10, 20):
        row = {"episode": episode, "turns": episode * 3, "dialog/success": episode / 100}
        log.loop.curve.append(row)
        log.on_evaluation(row)
    assert list(tmp_path.iterdir()) == [tmp_path / EVENTS_FILE]
    assert read_scalars(tmp_path / EVENTS_FILE)["turns"] == [(0, 0.0), (10, 30.0), (20, 60.0)]


def test_a_damaged_events_file_is_detected(tmp_path):
    data = bytearray(curve_events([{"episode": 1, "x": 1.0}], [0.0]))
    data[-6] ^= 0xFF
    path = Path(tmp_path / EVENTS_FILE)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        read_scalars(path)


def test_a_file_in_place_of_the_directory_is_refused_before_training(tmp_path):
    (tmp_path / "tb").write_text("")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dialog_rl.cli",
            "train",
            "--scenario",
            "restaurant",
            "--algo",
            "egreedy",
            "--out",
            str(tmp_path / "run"),
            "--tensorboard",
            str(tmp_path / "tb"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().endswith("exists and is not a directory")
    assert not (tmp_path / "run").exists()
