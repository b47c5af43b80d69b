"""Scoring rows of observations with a network, for acting: the one path every act goes through.

``forward_rows`` scores a batch in blocks of ``FORWARD_BLOCK`` rows (short blocks padded to
``FORWARD_MIN_ROWS``), so a row gets the same outputs alone or in a batch of any size. A plain MLP
(``deep.MLP`` of linear layers, ReLU and tanh) runs layer by layer into activation buffers kept
for the network: ``torch.addmm`` (``F.linear``'s op) and in-place activations, the very bits of
the module's forward without allocating every block's activations.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import torch
from torch import nn

#: rows per forward pass when acting: bounds the activations' memory on big batches
FORWARD_BLOCK = 1024
#: fewest rows a forward pass sees when acting. BLAS takes other code paths (gemv, small-M
#: kernels) for one to three rows, whose sums round differently in the last bit; at four rows
#: and up a row's outputs do not depend on the rows beside it, so padding small batches makes
#: ``act`` (one row) and ``act_batch`` (many) agree bit for bit.
FORWARD_MIN_ROWS = 8


def forward_rows(network: nn.Module, obs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``network`` on every row of ``obs`` [n, obs_dim] for acting: float32 [n, out].

    Every caller that acts goes through here, so a row gets the same outputs whether it is
    scored alone or in a batch of any size (blocks of ``FORWARD_BLOCK``, short blocks padded
    with zero rows to ``FORWARD_MIN_ROWS``). ``out`` (float32 [n, out], C-contiguous) receives
    the result instead of a new array.

    An ``MLP`` of linear layers, ReLU and tanh runs layer by layer into buffers kept for the
    network (``torch.addmm`` into them, the activation in place): the ops ``F.linear`` and
    ``torch.relu`` run, so the same bits, without allocating the activations of every block.
    """
    x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
    n = len(x)
    plain = getattr(network, "plain_layers", None)
    layers = plain() if plain is not None else None
    if layers is None:
        return _forward_modules(network, x, out)
    width = layers[-1][0].shape[0]
    result = np.empty((n, width), dtype=np.float32) if out is None else out
    if result.shape != (n, width) or result.dtype != np.float32:
        raise ValueError(
            f"out has shape {result.shape} {result.dtype}, expected ({n}, {width}) float32"
        )
    y = torch.from_numpy(result)
    hidden = _buffers(network, layers)
    with torch.inference_mode():
        for start in range(0, n, FORWARD_BLOCK):
            block = x[start : start + FORWARD_BLOCK]
            rows = len(block)
            if rows < FORWARD_MIN_ROWS:
                padded = torch.zeros(FORWARD_MIN_ROWS, x.shape[1], dtype=x.dtype)
                padded[:rows] = block
                short = torch.empty(FORWARD_MIN_ROWS, width)
                _forward_block(layers, hidden, padded, short)
                y[start:] = short[:rows]
            else:
                _forward_block(layers, hidden, block, y[start : start + rows])
    return result


def _forward_block(layers, hidden: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> None:
    """The plain MLP ``layers`` on block ``x`` into ``y``, activations in ``hidden``."""
    rows = len(x)
    last = len(layers) - 1
    h = x
    for i, (weight, bias, activation) in enumerate(layers):
        dest = y if i == last else hidden[i][:rows]
        torch.addmm(bias, h, weight.t(), out=dest)  # F.linear's op for 2-D input with a bias
        if activation is not None:
            activation(dest)
        h = dest


#: each thread's activation buffers by network (a thread's own: two threads may act at once)
_HIDDEN = threading.local()


def _buffers(network: nn.Module, layers: list) -> list[torch.Tensor]:
    """The network's activation buffers ([FORWARD_BLOCK, width] per hidden layer), this
    thread's, kept while the network lives."""
    widths = [w.shape[0] for w, _, _ in layers[:-1]]
    kept = getattr(_HIDDEN, "buffers", None)
    if kept is None:
        kept = _HIDDEN.buffers = weakref.WeakKeyDictionary()
    bufs = kept.get(network)
    if bufs is None or [b.shape[1] for b in bufs] != widths:
        bufs = [torch.empty(FORWARD_BLOCK, w) for w in widths]
        kept[network] = bufs
    return bufs


def _forward_modules(network: nn.Module, x: torch.Tensor, out: np.ndarray | None) -> np.ndarray:
    """``forward_rows`` for any network: its own forward on each block."""
    n = len(x)
    parts: list[torch.Tensor] = []
    with torch.inference_mode():
        if FORWARD_MIN_ROWS <= n <= FORWARD_BLOCK:  # one block as it is: no slicing, no cat
            result = network(x).numpy()
        else:
            for start in range(0, max(n, 1), FORWARD_BLOCK):
                block = x[start : start + FORWARD_BLOCK]
                rows = len(block)
                if rows < FORWARD_MIN_ROWS:
                    pad = torch.zeros(FORWARD_MIN_ROWS - rows, x.shape[1], dtype=x.dtype)
                    block = torch.cat([block, pad])
                parts.append(network(block)[:rows])
            result = torch.cat(parts).numpy()
    if out is not None:
        out[...] = result
        return out
    return result
