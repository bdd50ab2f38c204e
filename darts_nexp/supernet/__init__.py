"""The DARTS supernet: every edge of every cell mixes all operations, weighted by softmax(alpha)."""
from .cells import SearchCell
from .mixed_op import MixedOp
from .network import SearchNetwork

__all__ = ["MixedOp", "SearchCell", "SearchNetwork"]
