"""What the commands run: the life of a run (lifecycle.py) and one module per command, each a typed config and a
`run(cfg)` that a program may call as the command line does."""
