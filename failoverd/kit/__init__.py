"""Small pieces every layer uses: the clock, errors, logs, metrics, hashing, registries."""
