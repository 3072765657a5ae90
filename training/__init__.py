"""Training runs, baselines and ablations of dopareach."""
