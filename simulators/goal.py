"""Hidden user goals, sampled from a scenario's goal model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.scenario import Domain


@dataclass
class Goal:
    """What one customer wants. Only the simulator ever sees it."""

    constraints: list[int]
    """Per informable slot: the wanted value index, or -1 when the customer has no preference."""
    requests: list[int]
    """Requestable slots the customer will ask about."""
    task: int
    """Task to get done (index into the domain's tasks), or -1 for information only."""
    entity: int
    """KB entity the constraints were drawn from, or -1 if they were drawn at random."""

    def describe(self, domain: Domain) -> dict:
        """The goal in words, for transcripts and the TUI."""
        return {
            "constraints": {
                domain.inf_names[s]: domain.value_name(s, v)
                for s, v in enumerate(self.constraints)
                if v >= 0 and s != domain.task_slot
            },
            "requests": [domain.req_names[r] for r in self.requests],
            "task": domain.task_names[self.task] if self.task >= 0 else None,
        }


def sample_goal(
    domain: Domain, rng: np.random.Generator, fixed: dict[int, int] | None = None
) -> Goal:
    """Draw a goal: constraints (usually from a real entity), requests and a task.

    ``fixed`` pins some constraints (slot -> value), as a returning customer keeps their own
    email; the goal's entity is then drawn among the entities with those values.
    """
    n_inf = domain.n_inf
    probs = domain.constraint_prob
    chosen = [s for s in domain.kb_slots if rng.random() < probs[s]]
    candidates = [s for s in domain.kb_slots if probs[s] > 0 and s not in chosen]
    while len(chosen) < domain.min_constraints and candidates:
        chosen.append(candidates.pop(int(rng.integers(len(candidates)))))
    if fixed:
        chosen += [s for s in fixed if s not in chosen]
    constraints = [-1] * n_inf
    entity = -1
    if rng.random() < domain.satisfiable:
        if fixed:
            pool = np.flatnonzero(
                np.all([domain.kb_values[:, s] == v for s, v in fixed.items()], axis=0)
            )
            pool = pool if len(pool) else np.arange(domain.n_entities)
            entity = int(pool[int(rng.integers(len(pool)))])
        else:
            entity = int(rng.integers(domain.n_entities))
        row = domain.kb_values[entity]
        for s in chosen:
            constraints[s] = int(row[s])  # -1 when the entity has no value there
    else:
        for s in chosen:
            constraints[s] = int(rng.integers(len(domain.inf_values[s])))
    for s, v in (fixed or {}).items():
        constraints[s] = v
    requests = [r for r, p in enumerate(domain.request_prob) if rng.random() < p]
    task = -1
    if domain.task_names:
        u = rng.random()
        acc = 0.0
        for t, p in enumerate(domain.task_prob):
            acc += p
            if u < acc:
                task = t
                break
        constraints[domain.task_slot] = task
    return Goal(constraints, requests, task, entity)
