"""The DARTS search space, defined once: operations, genotypes and the network skeleton."""
from .genotype import Genotype, derive_genotype
from .ops import OPS, POOLING, PRIMITIVES, create_op
from .skeleton import (MIN_CELL_INPUT, STEMS, CellSpec, CellStack, auto_stem, aux_layer, first_cell_size, edge_inputs, edge_names, edge_stride, num_edges, plan_cells,
                       preprocess_inputs, reduction_layers)

__all__ = ["MIN_CELL_INPUT", "auto_stem", "first_cell_size", "Genotype", "derive_genotype", "OPS", "POOLING", "PRIMITIVES", "create_op", "STEMS", "CellSpec",
           "CellStack", "aux_layer", "edge_inputs", "edge_names", "edge_stride", "num_edges", "plan_cells",
           "preprocess_inputs", "reduction_layers"]
