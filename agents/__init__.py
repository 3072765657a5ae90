"""dopareach agents: a dopamine-gated cortical policy network and its learning rule."""
