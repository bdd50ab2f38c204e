"""`python -m darts_nexp.ensemble RUN_DIR RUN_DIR ... --out DIR`: combine the test scores of trained runs (see
darts_nexp/cli/ensemble.py)."""
from .cli.ensemble import main

if __name__ == "__main__":
    main()
