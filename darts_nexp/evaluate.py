"""`python -m darts_nexp.evaluate RUN_DIR_OR_CHECKPOINT --data-dir FOLDER`: score a folder of images (see
darts_nexp/cli/evaluate.py)."""
from .cli.evaluate import main

if __name__ == "__main__":
    main()
