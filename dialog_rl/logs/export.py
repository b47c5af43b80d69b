"""``dialog-rl logs export``: a dialog-rl log as the inputs of Open Bandit Pipeline or SCOPE-RL.

Both are written as ``.npz`` files of plain arrays (``numpy.load(path)``, no pickle), one key per
key of the library's dict, plus ``made_by`` (``"dialog-rl logs-export"``: what a later export
may replace); ``load_export`` turns one back into the library's dict (without ``made_by``).

- ``obp``: OBP's ``bandit_feedback`` (one round per decision, the per-decision bandit view):
  ``n_rounds, n_actions, action, reward, pscore, position, context`` plus ``action_dist``
  [n_rounds, n_actions, 1] (the target's distribution, for ``estimate_policy_value(...,
  action_dist=...)``) and ``conversation`` (the episode of each round, for grouped resampling).
- ``scope-rl``: SCOPE-RL's ``logged_dataset``. SCOPE-RL wants trajectories of one length
  (``step_per_trajectory``), so each conversation is padded to the longest: after its end, steps
  repeat its last state with action 0, reward 0, ``pscore`` 1 and ``done`` 1, and
  ``evaluation_policy_action_dist`` puts probability 1 on action 0 there, so every padded step
  has importance ratio 1 and adds nothing: trajectory-wise and per-decision estimates equal
  dialog-rl's on the unpadded conversations.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dialog_rl.outputs import STAMP_KEY

#: the stamp kind: every export carries ``made_by = "dialog-rl logs-export"`` (a 0-d array), and
#: ``--out`` replaces only a file that does
KIND = "logs-export"
#: keys SCOPE-RL's logged_dataset has that are None for a discrete-action dataset
_NONE_KEYS = ("action_dim", "action_keys", "state_keys")


def obp_feedback(logged, target_dist: np.ndarray) -> dict:
    """OBP's ``bandit_feedback`` dict of ``logged`` (a ``LoggedDialogues``) for a target."""
    v = logged.valid
    n = int(v.sum())
    return {
        "n_rounds": n,
        "n_actions": logged.n_actions,
        "action": logged.action[v].astype(np.int64),
        "position": np.zeros(n, dtype=np.int64),
        "reward": logged.reward[v].astype(np.float64),
        "pscore": logged.pscore[v].astype(np.float64),
        "context": logged.obs[v].astype(np.float64),
        "action_dist": target_dist[v][:, :, None].astype(np.float64),
        "conversation": np.nonzero(v)[0].astype(np.int64),
    }


def scope_rl_dataset(logged, target_dist: np.ndarray, behavior_policy: str) -> dict:
    """SCOPE-RL's ``logged_dataset`` (and the target's action distribution) of ``logged``."""
    v = logged.valid
    n, h = v.shape
    last = v.sum(1) - 1
    # padded steps repeat the conversation's last state
    idx = np.minimum(np.arange(h)[None, :], last[:, None])
    state = np.take_along_axis(logged.obs, idx[:, :, None], 1)
    action = np.where(v, logged.action, 0)
    reward = np.where(v, logged.reward, 0.0)
    pscore = np.where(v, logged.pscore, 1.0)
    done = (np.arange(h)[None, :] >= last[:, None]).astype(np.float64)
    terminal = done * logged.terminated[:, None]
    pad_dist = np.zeros_like(target_dist)
    pad_dist[..., 0] = 1.0
    dist = np.where(v[..., None], target_dist, pad_dist)
    return {
        "size": n * h,
        "n_trajectories": n,
        "step_per_trajectory": h,
        "action_type": "discrete",
        "n_actions": logged.n_actions,
        "action_dim": None,
        "action_keys": None,
        "action_meaning": None,
        "state_dim": int(logged.obs.shape[2]),
        "state_keys": None,
        "state": state.reshape(n * h, -1).astype(np.float64),
        "action": action.reshape(-1).astype(np.int64),
        "reward": reward.reshape(-1).astype(np.float64),
        "done": done.reshape(-1),
        "terminal": terminal.reshape(-1).astype(np.float64),
        "info": None,
        "pscore": pscore.reshape(-1).astype(np.float64),
        "behavior_policy": behavior_policy,
        "dataset_id": 0,
        "evaluation_policy_action_dist": dist.reshape(n * h, -1).astype(np.float64),
    }


def write_export(path: str | Path, data: dict, flag: str = "--out") -> Path:
    """Write a dict of arrays and scalars as ``.npz`` (None values are left out), stamped with a
    ``made_by`` array; an existing file is replaced only if it is such an export.

    Raises ``OutputError`` (nothing written) for anything else at ``path``: a user's file, a
    directory, a symlink. Written under a temporary name beside it, fsynced and renamed.
    """
    from dialog_rl.outputs import check_replaceable_file, npz_stamp
    from dialog_rl.rollout.logs import temporary_name

    check_replaceable_file(path, KIND, flag)
    path = Path(path)
    tmp = temporary_name(path)
    arrays = {k: np.asarray(v) for k, v in data.items() if v is not None}
    arrays.update(npz_stamp(KIND))
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_export(path: str | Path) -> dict:
    """An exported ``.npz`` as the library's dict: 0-d arrays as Python scalars, Nones restored,
    dialog-rl's ``made_by`` stamp left out."""
    with np.load(path, allow_pickle=False) as z:
        out = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files if k != STAMP_KEY}
    if "step_per_trajectory" in out:
        for key in (*_NONE_KEYS, "action_meaning", "info"):
            out.setdefault(key, None)
    return out
