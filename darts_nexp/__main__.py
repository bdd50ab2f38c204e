"""`python -m darts_nexp COMMAND ...`, the same as `darts-nexp COMMAND ...`."""
from .cli.main import main

main()
