"""`python -m darts_nexp.explain RUN_DIR`: Grad-CAM, its localisation score and t-SNE of a trained run (see
darts_nexp/cli/explain.py)."""
from .cli.explain import main

if __name__ == "__main__":
    main()
