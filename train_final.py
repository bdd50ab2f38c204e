"""`python train_final.py ...`, the same as `darts-nexp train ...`."""
from darts_nexp.cli.train import main

if __name__ == "__main__":
    main()
