"""`python -m darts_nexp.data summary DIR`, as `darts-nexp data summary DIR`."""
from ..cli.data import main

main()
