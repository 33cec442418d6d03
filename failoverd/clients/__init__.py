"""The only modules that talk to an SDK or the OS: Kubernetes, AWS, DNS, subprocesses."""
