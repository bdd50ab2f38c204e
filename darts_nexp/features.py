"""`python -m darts_nexp.features RUN_DIR --classifier lda,rf,lr,svm`: classic classifiers on a trained network's
deep features (see darts_nexp/cli/features.py)."""
from .cli.features import main

if __name__ == "__main__":
    main()
