"""Command-line entry points: each parses a typed config and calls its `run(cfg)`."""
