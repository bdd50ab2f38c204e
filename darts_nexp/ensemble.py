"""`python -m darts_nexp.ensemble`, the same as `darts-nexp ensemble` (darts_nexp/cli/ensemble.py)."""
from .cli.ensemble import main

if __name__ == "__main__":
    main()
