"""The DARTS search space, defined once: operations, genotypes and the network skeleton."""
from .genotype import Genotype, derive_genotype
from .ops import OPS, POOLING, PRIMITIVES, create_op
from .skeleton import STEMS, CellSpec, CellStack, plan_cells, preprocess_inputs, reduction_layers

__all__ = ["Genotype", "derive_genotype", "OPS", "POOLING", "PRIMITIVES", "create_op", "STEMS", "CellSpec",
           "CellStack", "plan_cells", "preprocess_inputs", "reduction_layers"]
