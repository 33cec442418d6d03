"""High availability in an arbiter cluster: the Lease (elector) and who acts when (arbiter)."""
