"""Analyses of recorded runs: the lab's neural metrics, statistics across seeds, figures and the report."""
