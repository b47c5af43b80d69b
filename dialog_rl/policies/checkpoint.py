"""Checkpoints: a learner's tensors in safetensors plus JSON metadata, checked before use.

A checkpoint is a directory holding two files:

- ``policy.safetensors``: the arrays of ``Learner.state()`` (weights, optimiser moments, replay
  buffer, generator states), read with ``safetensors.numpy`` (no torch, no pickle);
- ``policy.json``: algorithm, hyperparameters, seed, scenario name and hash, observation and
  action spec, what the policy was trained on (``trained_on``: single ``conversations`` or
  customer ``lifetimes``), package version, the learner's JSON state, the training loop's state
  when saved by ``dialog_rl.train``, the tensor file's size and sha256, and ``content_hash``: the
  sha256 of the tensor file's bytes followed by the canonical JSON of every other metadata field.

The directory is written under a temporary name and renamed into place, so a reader (or a run
killed mid-write) never sees half a checkpoint. Loading refuses, with ``CheckpointError``, a
checkpoint whose bytes do not match its hashes (corrupted, truncated, tampered with), one made for
another scenario or observation spec, or a path that is not a checkpoint at all. ``load_policy``
alone accepts a spec that differs only by the customer-history features (``life.*``) of the
lifetime environment: the policy then sees the features it was trained on (``remap``). The hashes catch
accidents and naive edits, not a forger who recomputes them; even then nothing is unpickled: the
tensor file is parsed by safetensors, which only reads a JSON header and raw numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Learner, Policy, PolicyError

TENSORS = "policy.safetensors"
META = "policy.json"
FORMAT = "dialog-rl-checkpoint"
FORMAT_VERSION = 1
TRAINED_ON = ("conversations", "lifetimes")
#: metadata larger than this is not a checkpoint of ours (a learning curve is a few KB)
MAX_META_BYTES = 64 << 20
#: the largest tensor file read (checked on stat, before reading)
MAX_TENSOR_BYTES = 1 << 30


class CheckpointError(PolicyError):
    """A checkpoint that cannot be used: reported in one line by the CLI, exit code 2."""


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: its arrays and metadata."""

    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict


def canonical_json(obj: dict) -> bytes:
    """The bytes hashed for ``content_hash``: sorted keys, no whitespace, ASCII."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def content_hash(tensor_bytes: bytes, meta: dict) -> str:
    body = {k: v for k, v in meta.items() if k != "content_hash"}
    h = hashlib.sha256(tensor_bytes)
    h.update(b"\n")
    h.update(canonical_json(body))
    return h.hexdigest()


# -- saving ------------------------------------------------------------------------------------


def save_checkpoint(
    directory: str | Path,
    learner: Learner,
    domain: Domain,
    spec: ObservationSpec,
    *,
    seed: int,
    training: dict | None = None,
    trained_on: str = "conversations",
) -> Path:
    """Write ``learner``'s state as a checkpoint directory, atomically (replacing one there).

    ``trained_on`` says whether the learner learned from single ``conversations`` or from
    customer ``lifetimes`` (whose observation has the ``life.*`` history features too).
    """
    from safetensors.numpy import save

    import dialog_rl

    if trained_on not in TRAINED_ON:
        raise ValueError(f"trained_on must be one of {TRAINED_ON}, got {trained_on!r}")
    directory = Path(directory)
    arrays, learner_meta = learner.state()
    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    tensor_bytes = save(tensors) if tensors else save({})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "algorithm": learner.algo,
        "hyperparameters": learner.config(),
        "seed": int(seed),
        "scenario": {"name": domain.name, "hash": domain.content_hash},
        "observation_spec": spec.to_dict(),
        "trained_on": trained_on,
        "dialog_rl_version": dialog_rl.__version__,
        "learner_state": learner_meta,
        "training": training,
        "tensors": {
            "file": TENSORS,
            "bytes": len(tensor_bytes),
            "sha256": hashlib.sha256(tensor_bytes).hexdigest(),
        },
    }
    meta["content_hash"] = content_hash(tensor_bytes, meta)
    text = json.dumps(meta, indent=1, sort_keys=True, ensure_ascii=True) + "\n"

    tmp = directory.parent / f".{directory.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write_synced(tmp / TENSORS, tensor_bytes)
        _write_synced(tmp / META, text.encode())
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a full disk leaves no half-written checkpoint
        raise
    if directory.exists():
        old = directory.parent / f".{directory.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, directory)
    _sync_dir(directory.parent)
    return directory


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


# -- loading -----------------------------------------------------------------------------------


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint directory a user's path names: itself, or a run directory's ``final``."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint or run directory")
    if p.is_file():
        if p.name in (META, TENSORS):
            return p.parent
        raise CheckpointError(
            f"{p}: not a dialog-rl checkpoint: expected a run directory made by `dialog-rl train`"
            f" or a checkpoint directory holding {META} and {TENSORS}"
        )
    if (p / META).exists() or (p / TENSORS).exists():
        return p
    if (p / "final").is_dir():
        return p / "final"
    ckpts = sorted((p / "checkpoints").glob("ep-*")) if (p / "checkpoints").is_dir() else []
    if ckpts:
        raise CheckpointError(
            f"{p}: training has not finished (no final policy); resume it with "
            f"`dialog-rl train ... --out {p} --resume` or use a checkpoint such as {ckpts[-1]}"
        )
    raise CheckpointError(
        f"{p}: not a dialog-rl run or checkpoint directory (no {META}, no final/ checkpoint)"
    )


def read_checkpoint(
    path: str | Path, domain: Domain | None = None, spec: ObservationSpec | None = None
) -> Checkpoint:
    """Read and verify a checkpoint; with ``domain``/``spec``, also check it was made for them."""
    d = resolve_checkpoint(path)
    meta_path, tensor_path = d / META, d / TENSORS
    meta = _read_meta(meta_path)
    expected = meta["tensors"]
    if not tensor_path.is_file():
        raise CheckpointError(f"{tensor_path}: missing (the checkpoint is incomplete)")
    size = tensor_path.stat().st_size
    if size > MAX_TENSOR_BYTES:  # before reading: a forged hash cannot make it read 100 GB
        raise CheckpointError(
            f"{tensor_path}: {size:,} bytes; checkpoints over {MAX_TENSOR_BYTES:,} bytes are "
            "refused (a DQN with its default replay buffer is about 50 MB)"
        )
    if size != expected["bytes"]:
        what = "truncated" if size < expected["bytes"] else "corrupted"
        raise CheckpointError(
            f"{tensor_path}: {size} bytes, {META} says {expected['bytes']}: the file is {what}"
        )
    tensor_bytes = tensor_path.read_bytes()
    if hashlib.sha256(tensor_bytes).hexdigest() != expected["sha256"]:
        raise CheckpointError(
            f"{tensor_path}: sha256 does not match {META}: the file is corrupted or was modified"
        )
    if content_hash(tensor_bytes, meta) != meta["content_hash"]:
        raise CheckpointError(
            f"{meta_path}: content hash mismatch: the metadata was modified after the checkpoint "
            "was written (tampered or corrupted)"
        )
    if domain is not None:
        sc = meta["scenario"]
        if sc.get("hash") != domain.content_hash:
            raise CheckpointError(
                f"{d}: made for scenario {sc.get('name')!r} (hash {str(sc.get('hash'))[:12]}), "
                f"not for {domain.name!r} (hash {domain.content_hash[:12]}); train a policy on "
                "this scenario"
            )
    if spec is not None and meta["observation_spec"] != spec.to_dict():
        raise CheckpointError(
            f"{d}: observation or action spec differs from this environment's "
            f"({len(meta['observation_spec'].get('features', []))} features, "
            f"{len(meta['observation_spec'].get('actions', []))} actions saved; "
            f"{spec.size} features, {len(spec.action_names)} actions now)"
        )
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(tensor_bytes)
    except (SafetensorError, ValueError, OSError) as err:
        raise CheckpointError(f"{tensor_path}: not a valid safetensors file ({err})") from None
    for name, array in arrays.items():  # a policy of NaN weights would act at random, silently
        if array.dtype.kind in "fc" and not np.isfinite(array).all():
            raise CheckpointError(f"{tensor_path}: tensor {name!r} holds NaN or inf values")
    return Checkpoint(d, arrays, meta)


def _read_meta(meta_path: Path) -> dict:
    if not meta_path.is_file():
        raise CheckpointError(f"{meta_path}: missing (the checkpoint is incomplete)")
    if meta_path.stat().st_size > MAX_META_BYTES:
        raise CheckpointError(f"{meta_path}: too large to be checkpoint metadata")
    raw = meta_path.read_bytes()
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CheckpointError(
            f"{meta_path}: not UTF-8 JSON (corrupted, or not a checkpoint)"
        ) from None
    except json.JSONDecodeError as err:
        raise CheckpointError(
            f"{meta_path}:{err.lineno}: not valid JSON ({err.msg}): truncated or corrupted"
        ) from None
    except RecursionError:
        raise CheckpointError(f"{meta_path}: JSON nested too deeply to be metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{meta_path}: not a dialog-rl checkpoint (no format {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path}: checkpoint format version {meta.get('format_version')!r}; this "
            f"dialog-rl reads version {FORMAT_VERSION}"
        )
    checks = {
        "algorithm": str,
        "hyperparameters": dict,
        "seed": int,
        "scenario": dict,
        "observation_spec": dict,
        "learner_state": dict,
        "tensors": dict,
        "content_hash": str,
    }
    for key, kind in checks.items():
        if not isinstance(meta.get(key), kind):
            raise CheckpointError(
                f"{meta_path}: field {key!r} is missing or not a {kind.__name__} (tampered or "
                "corrupted)"
            )
    t = meta["tensors"]
    if not (isinstance(t.get("bytes"), int) and isinstance(t.get("sha256"), str)):
        raise CheckpointError(f"{meta_path}: field 'tensors' lacks bytes/sha256 (tampered)")
    return meta


def _rebuild(ckpt: Checkpoint, domain: Domain, spec: ObservationSpec) -> Learner:
    from dialog_rl.policies import make_learner

    meta = ckpt.meta
    try:
        learner = make_learner(
            meta["algorithm"], domain, spec, meta["seed"], **meta["hyperparameters"]
        )
    except PolicyError as err:
        raise CheckpointError(f"{ckpt.path}: cannot rebuild the learner: {err}") from None
    try:
        learner.load_state(ckpt.arrays, meta["learner_state"])
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{ckpt.path}: the saved state does not fit: {err}") from None
    return learner


def saved_spec(ckpt: Checkpoint) -> ObservationSpec:
    """The observation spec a checkpoint's policy was trained with."""
    spec = ckpt.meta["observation_spec"]
    features, actions = spec.get("features"), spec.get("actions")
    if not (
        isinstance(features, list)
        and isinstance(actions, list)
        and all(isinstance(x, str) for x in features + actions)
    ):
        raise CheckpointError(
            f"{ckpt.path / META}: field 'observation_spec' is not lists of names (tampered)"
        )
    return ObservationSpec(tuple(features), tuple(actions))


def trained_on(ckpt: Checkpoint) -> str:
    """``conversations`` or ``lifetimes`` (checkpoints older than the field: conversations)."""
    return str(ckpt.meta.get("trained_on", "conversations"))


def load_policy(path: str | Path, domain: Domain, spec: ObservationSpec) -> Policy:
    """The trained policy in a run directory (its final checkpoint) or a checkpoint directory.

    A policy trained on single conversations runs on the lifetime environment (it ignores the
    ``life.*`` history features), and one trained on lifetimes runs on single conversations
    (each customer is then on a first visit); any other difference of spec is refused.
    """
    from dialog_rl.policies.remap import RemappedPolicy, feature_map

    ckpt = read_checkpoint(path, domain)
    saved = saved_spec(ckpt)
    if saved == spec:
        return _rebuild(ckpt, domain, spec)
    try:
        index = feature_map(saved, spec)
    except ValueError as err:
        raise CheckpointError(
            f"{ckpt.path}: observation or action spec differs from this environment's "
            f"({saved.size} features, {len(saved.action_names)} actions saved; "
            f"{spec.size} features, {len(spec.action_names)} actions now): {err}"
        ) from None
    return RemappedPolicy(_rebuild(ckpt, domain, saved), index)
