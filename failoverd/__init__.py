"""failoverd: a disaster-recovery failover daemon for a primary and a standby cluster."""

__version__ = "0.1.0"
