"""One service at run time: the round loop that applies the machine's decisions."""
