"""Day-two operations: status, logs, a shell, notifications, chart upgrades, retiring, scaffolding, checks, leaks, orphans."""
