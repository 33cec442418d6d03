"""The entry points: the daemon (composition root), its API and status page, the CLI, the demo."""
