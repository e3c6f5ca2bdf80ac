"""Memory planning: released model sizes, working-memory estimates, offload plans, per-component precision."""
