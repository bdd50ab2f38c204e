"""`python search.py ...`, the same as `darts-nexp search ...`."""
from darts_nexp.cli.search import main

if __name__ == "__main__":
    main()
