"""The commands: each module parses its command line into a typed config and calls the engine (darts-nexp COMMAND)."""
