"""Failover and failback plans: the journaled runner, its steps, and their life cycle."""
