"""One release: prepared, deployed, diffed, rolled back, health-checked, its canary, its lock and its rollout."""
