"""What a launcher (torchrun) told this process through its environment, read without loading torch: the command
wrapper needs the rank before any command runs, `darts-nexp --help` included."""
from __future__ import annotations

import os


def launched() -> bool:
    """Whether torchrun (or another launcher that sets WORLD_SIZE) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_rank() -> int:
    """This process's rank as the launcher set it (RANK), known before the ranks meet; 0 without torchrun."""
    return int(os.environ.get("RANK", "0")) if launched() else 0
