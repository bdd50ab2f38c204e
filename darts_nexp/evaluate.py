"""`python -m darts_nexp.evaluate`, the same as `darts-nexp evaluate` (darts_nexp/cli/evaluate.py)."""
from .cli.evaluate import main

if __name__ == "__main__":
    main()
