"""`python -m darts_nexp.explain`, the same as `darts-nexp explain` (darts_nexp/cli/explain.py)."""
from .cli.explain import main

if __name__ == "__main__":
    main()
