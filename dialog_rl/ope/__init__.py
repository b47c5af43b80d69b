"""Off-policy evaluation: a target policy's value from conversations logged under another policy.

Modules: ``trajectory`` (IS, WIS, PDIS, WPDIS, DR, WDR), ``magic`` (MAGIC), ``fqe`` (fitted Q
evaluation, the only one that imports torch, lazily), ``stationary`` (the state-distribution
ratio of Liu et al. 2018), ``bandit`` (per-decision IPS, SNIPS, DM, DR, Switch-DR), ``bootstrap``
(episode-level percentile intervals), ``diagnostics`` (effective sample size, support),
``logged`` (Parquet logs to episode arrays), ``report`` (everything at once) and ``command``
(``dialog-rl ope``). Importing this package imports nothing heavy.
"""
