"""The bi-level optimisation of DARTS: architecture steps on one half of the data, weight steps on the other."""
from .architect import Architect
from .search_loop import search_epoch

__all__ = ["Architect", "search_epoch"]
