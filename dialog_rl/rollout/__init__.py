"""Rollouts: play conversations on a backend, write episode logs and metrics, run directories."""
