"""The final network: the discrete cells of a genotype, trained from scratch (Liu et al., 2018, section 3.3)."""
from .cells import Cell, check_buildable, drop_path
from .complexity import multiply_adds, param_count
from .network import AuxiliaryHead, FinalNetwork

__all__ = ["AuxiliaryHead", "Cell", "FinalNetwork", "check_buildable", "drop_path", "multiply_adds",
           "param_count"]
