"""`python -m darts_nexp.features`, the same as `darts-nexp features` (darts_nexp/cli/features.py)."""
from .cli.features import main

if __name__ == "__main__":
    main()
