"""Input checks shared by the estimators: shapes, propensities and probabilities.

Every estimator's public method runs these before any arithmetic, so a bad array is refused with a
message that names the array and the first offending decision instead of a silently wrong number.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.ope.errors import OPEInputError

__all__ = ["OPEInputError", "check_action_dist", "check_array", "check_pscore"]


def _where(index: tuple[int, ...]) -> str:
    if len(index) == 2:
        return f"episode {index[0]}, decision {index[1]}"
    return f"row {index[0]}"


def check_array(name: str, array: object, ndim: int, dtype_kind: str = "fbiu") -> np.ndarray:
    """``array`` as a numpy array of ``ndim`` dimensions with a numeric dtype."""
    if array is None:
        raise OPEInputError(f"{name} is missing")
    arr = np.asarray(array)
    if arr.ndim != ndim:
        raise OPEInputError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in dtype_kind:
        raise OPEInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def check_same_shape(**arrays: np.ndarray | None) -> None:
    """All given (non-None) arrays have the same shape."""
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise OPEInputError(f"arrays must have the same shape: {listed}")


def check_pscore(
    pscore: object, valid: np.ndarray | None = None, name: str = "pscore"
) -> np.ndarray:
    """The logging policy's probabilities of the logged actions: present, finite, in (0, 1].

    Args:
        pscore: float [N] or [n_episodes, horizon].
        valid: bool, same shape; entries outside it (padding) are not checked.
    """
    if pscore is None:
        raise OPEInputError(
            f"{name} is missing: without the logging policy's propensities these logs "
            "cannot be used for off-policy evaluation"
        )
    p = np.asarray(pscore, dtype=np.float64)
    live = np.ones(p.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    bad = live & np.isnan(p)
    if bad.any():
        raise OPEInputError(f"{name} has missing values (NaN) at {_where(_first(bad))}")
    bad = live & (p <= 0)
    if bad.any():
        i = _first(bad)
        raise OPEInputError(
            f"{name} must be > 0, got {p[i]:g} at {_where(i)}: the logger cannot have taken "
            "an action it gave probability 0"
        )
    bad = live & ~(p <= 1.0 + 1e-9)
    if bad.any():
        i = _first(bad)
        raise OPEInputError(f"{name} must be <= 1, got {p[i]:g} at {_where(i)}")
    return p


def check_probabilities(probs: object, name: str, valid: np.ndarray | None = None) -> np.ndarray:
    """Target-policy probabilities: finite and in [0, 1]."""
    p = np.asarray(probs, dtype=np.float64)
    live = np.ones(p.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if live.shape != p.shape:
        live = np.broadcast_to(live.reshape(live.shape + (1,) * (p.ndim - live.ndim)), p.shape)
    bad = live & ~((p >= 0) & (p <= 1.0 + 1e-9))
    if bad.any():
        i = _first(bad)
        raise OPEInputError(f"{name} must be probabilities in [0, 1], got {p[i]:g} at index {i}")
    return p


def check_action_dist(action_dist: object, valid: np.ndarray | None = None) -> np.ndarray:
    """A target policy's distribution per decision: [..., n_actions], rows summing to 1."""
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim < 2:
        raise OPEInputError(f"action_dist must be [..., n_actions], got shape {dist.shape}")
    check_probabilities(dist, "action_dist", valid)
    sums = dist.sum(-1)
    live = np.ones(sums.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    bad = live & (np.abs(sums - 1.0) > 1e-6)
    if bad.any():
        i = _first(bad)
        raise OPEInputError(f"action_dist must sum to 1 over actions, got {sums[i]:g} at {i}")
    return dist


def check_valid(valid: object, shape: tuple[int, ...]) -> np.ndarray:
    """The [n_episodes, horizon] mask of real decisions; each episode's come first."""
    if valid is None:
        return np.ones(shape, dtype=bool)
    v = np.asarray(valid, dtype=bool)
    if v.shape != shape:
        raise OPEInputError(f"valid must have shape {shape}, got {v.shape}")
    if v.shape[1] > 1 and (v[:, 1:] & ~v[:, :-1]).any():
        raise OPEInputError("valid must mark a prefix of each episode (no gaps)")
    if not v[:, 0].all():
        raise OPEInputError("every episode needs at least one decision (valid[:, 0] all True)")
    return v


def check_gamma(gamma: float) -> None:
    if not 0.0 < gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {gamma}")


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(x) for x in np.argwhere(bad)[0])
