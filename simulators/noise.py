"""The act-level noise channel, one conversation row at a time (compiled with numba).

Each act the customer says is corrupted at the scenario's semantic error rate (PyDial's
0/15/30%), confusing the act type, slot or value in the scenario's proportions, and gets a
confidence from one Beta for intact acts and another for corrupted ones, so confidence is
informative but not a giveaway. Hang-ups and good-byes pass intact: the line going dead is not a
matter of interpretation. Draws are keyed by ``(turn, act position)``, or, when two runs are
paired, by ``(act, how many times it was said before)``: "the second time the customer says
food=italian, the line crackles the same way" in both.
"""

from __future__ import annotations

import math

import numpy as np

from dialog_rl.acts import BYE, HANGUP, INFORM, REQUEST
from dialog_rl.counter_rng import CHANNEL, CONFIDENCE, below, beta, mix64, uniform
from dialog_rl.jit import njit
from simulators.customer_state import ACT_KEYED, Customers, Tables

_ACT_SALT = np.uint64(0xD1B54A32D192ED03)


@njit(cache=True)
def hear(T: Tables, C: Customers, i: int, pairing: int) -> None:
    """Pass row ``i``'s ``C.out`` through the noise channel into ``C.heard``/``C.heard_conf``."""
    rate = T.error_rate
    n = C.out_n[i]
    C.heard_n[i] = n
    for p in range(n):
        kind, slot, value = C.out[i, p, 0], C.out[i, p, 1], C.out[i, p, 2]
        if pairing == ACT_KEYED:
            # "the second time the customer says food=italian, the line crackles the same way"
            code = (kind * 64 + slot + 1) * 4096 + value + 1
            count = 0
            for j in range(C.said_n[i]):
                if C.said_codes[i, j] == code:
                    count += 1
            if C.said_n[i] < C.said_codes.shape[1]:
                C.said_codes[i, C.said_n[i]] = code
                C.said_n[i] += 1
            seed = mix64(C.seed[i] ^ (np.uint64(code) * _ACT_SALT))
            a, b, b_conf = count, 0, 0
        else:
            seed, a, b, b_conf = C.seed[i], C.turn[i], p * 16, p << 22
        intact = kind in (HANGUP, BYE) or rate == 0.0
        if not intact:
            intact = uniform(seed, CHANNEL, a, b) >= rate
        if not intact:
            kind, slot, value = _corrupt(T, kind, slot, value, seed, a, b + 1, C.cur[i])
        C.heard[i, p, 0], C.heard[i, p, 1], C.heard[i, p, 2] = kind, slot, value
        ab = T.conf[1] if intact else T.conf[0]
        c = beta(ab[0], ab[1], seed, CONFIDENCE, a, b_conf)
        if T.conf_calibrated:
            c = 1.0 if kind in (HANGUP, BYE) or rate == 0.0 else posterior(T, c, rate)
        C.heard_conf[i, p] = c


@njit(cache=True)
def posterior(T: Tables, c: float, rate: float) -> float:
    """P(the act came through intact | its score ``c``): Bayes with the two Betas' densities
    and the error rate."""
    if rate >= 1.0:
        return 0.0
    c = min(max(c, 1e-12), 1.0 - 1e-12)
    log_right = math.log(1.0 - rate) + _log_beta_pdf(c, T.conf[1, 0], T.conf[1, 1])
    log_wrong = math.log(rate) + _log_beta_pdf(c, T.conf[0, 0], T.conf[0, 1])
    return 1.0 / (1.0 + math.exp(log_wrong - log_right))


@njit(cache=True, inline="always")
def _log_beta_pdf(c: float, a: float, b: float) -> float:
    norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    return norm + (a - 1.0) * math.log(c) + (b - 1.0) * math.log(1.0 - c)


@njit(cache=True)
def _corrupt(
    T: Tables, kind: int, slot: int, value: int, seed: np.uint64, a: int, b: int, d: int
) -> tuple[int, int, int]:
    """Confuse an act's slot, value or type, in the scenario's proportions, within the domain of
    its slot (``d``: the customer's domain, for acts without one)."""
    if kind == INFORM:
        d = T.slot_dom[slot]
    elif kind == REQUEST:
        d = T.req_dom[slot]
    s0, n_inf = T.dom_inf[d, 0], T.dom_inf[d, 1] - T.dom_inf[d, 0]
    r0, n_req = T.dom_req[d, 0], T.dom_req[d, 1] - T.dom_req[d, 0]
    u = uniform(seed, CHANNEL, a, b)
    if T.p_act <= u < T.p_act + T.p_slot:
        if kind == INFORM and n_inf > 1:
            s = below(n_inf - 1, seed, CHANNEL, a, b + 1)
            s = s0 + (s + 1 if s >= slot - s0 else s)
            return INFORM, s, below(T.n_vals[s] + 1, seed, CHANNEL, a, b + 2)
        if kind == REQUEST and n_req > 1:
            r = below(n_req - 1, seed, CHANNEL, a, b + 1)
            return REQUEST, r0 + (r + 1 if r >= slot - r0 else r), -1
    elif u >= T.p_act + T.p_slot and kind == INFORM and T.n_vals[slot] + 1 > 1:
        v = below(T.n_vals[slot], seed, CHANNEL, a, b + 1)
        return INFORM, slot, v + 1 if v >= value else v
    # an act of another type, with a random slot and value where it needs them
    new = T.choices[kind, below(T.n_choices[kind], seed, CHANNEL, a, b + 3)]
    if new == REQUEST and n_req == 0:  # a domain without questions: another type
        new = T.choices[kind, 0] if T.choices[kind, 0] != REQUEST else T.choices[kind, 1]
    if new == INFORM:
        s = s0 + below(n_inf, seed, CHANNEL, a, b + 4)
        return INFORM, s, below(T.n_vals[s] + 1, seed, CHANNEL, a, b + 5)
    if new == REQUEST:
        return REQUEST, r0 + below(n_req, seed, CHANNEL, a, b + 4), -1
    return new, -1, -1
