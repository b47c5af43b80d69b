"""The learning curve as TensorBoard events, so ``tensorboard --logdir`` shows a training run.

Written by hand in TensorBoard's record format (a TFRecord file of ``Event`` protocol buffers with
one scalar per curve column), so training needs neither TensorBoard nor protobuf installed. The
whole curve is rewritten at every evaluation under one file name, atomically: a resumed run or
one killed mid-write leaves one complete file holding each row once, never duplicates.

Record: ``uint64 length, uint32 masked_crc32c(length), data, uint32 masked_crc32c(data)``.
``Event``: wall_time (1, double), step (2, int64), file_version (3, string), summary (5);
``Summary.value`` (1): tag (1, string), simple_value (2, float).
"""

from __future__ import annotations

import math
import struct
import time
from pathlib import Path

from dialog_rl.train.callbacks import Callback
from dialog_rl.train.curve import write_atomic

#: the one events file a run writes (TensorBoard reads any file whose name contains "tfevents")
EVENTS_FILE = "events.out.tfevents.0.dialog-rl"
#: the curve column used as the x axis (training dialogues, or customers on lifetime runs)
STEP_COLUMN = "episode"


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord files."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 as protobuf encodes it (two's complement)
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int, body: bytes) -> bytes:
    return b"\x09" + struct.pack("<d", wall_time) + b"\x10" + _varint(step) + body


def _scalar_event(wall_time: float, step: int, tag: str, value: float) -> bytes:
    value_msg = _field(1, tag.encode()) + b"\x15" + struct.pack("<f", value)
    return _event(wall_time, step, _field(5, _field(1, value_msg)))


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked(crc32c(length)))
        + data
        + struct.pack("<I", _masked(crc32c(data)))
    )


def curve_events(rows: list[dict], wall_times: list[float]) -> bytes:
    """The bytes of an events file holding every numeric column of every curve row."""
    start = wall_times[0] if wall_times else 0.0
    out = [_record(_event(start, 0, _field(3, b"brain.Event:2")))]
    for row, wall in zip(rows, wall_times):
        step = int(row[STEP_COLUMN])
        for tag in sorted(row):
            value = row[tag]
            if tag == STEP_COLUMN or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isnan(value):
                continue
            out.append(_record(_scalar_event(wall, step, tag, float(value))))
    return b"".join(out)


def write_curve_events(directory: Path, rows: list[dict], wall_times: list[float]) -> Path:
    """Write (or replace) ``directory/EVENTS_FILE`` with the curve so far; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / EVENTS_FILE
    write_atomic(path, curve_events(rows, wall_times))
    return path


def read_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value), ...]}`` from an events file, checking every record's checksums.

    A small reader for the scalars this module writes (and TensorBoard's own writers write), so
    tests and scripts can read events without TensorBoard.
    """
    data = Path(path).read_bytes()
    out: dict[str, list[tuple[int, float]]] = {}
    pos = 0
    while pos < len(data):
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if _masked(crc32c(header)) != length_crc:
            raise ValueError(f"{path}: bad length checksum at byte {pos}")
        body = data[pos + 12 : pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        if _masked(crc32c(body)) != body_crc:
            raise ValueError(f"{path}: bad record checksum at byte {pos}")
        pos += 16 + length
        step, values = _parse_event(body)
        for tag, value in values:
            out.setdefault(tag, []).append((step, value))
    return out


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def _fields(buf: bytes):
    """(field number, wire type, value) of each field of a protocol buffer message."""
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _parse_event(buf: bytes) -> tuple[int, list[tuple[str, float]]]:
    step, values = 0, []
    for number, _, value in _fields(buf):
        if number == 2:
            step = value - (1 << 64) if value >> 63 else value
        elif number == 5:
            for vnum, _, vmsg in _fields(value):
                if vnum != 1:
                    continue
                tag, scalar = "", None
                for f, _, v in _fields(vmsg):
                    if f == 1:
                        tag = v.decode()
                    elif f == 2:
                        (scalar,) = struct.unpack("<f", v)
                if scalar is not None:
                    values.append((tag, scalar))
    return step, values


class TensorBoardLog(Callback):
    """Writes the learning curve to ``directory`` as TensorBoard events at every evaluation."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.wall_times: list[float] = []

    def on_evaluation(self, row: dict) -> None:
        rows = self.loop.curve
        now = time.time()
        # rows restored by --resume get the time this process first saw them
        self.wall_times += [now] * (len(rows) - len(self.wall_times))
        write_curve_events(self.directory, rows, self.wall_times)
