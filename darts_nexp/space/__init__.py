"""The DARTS search space, defined once: operations, genotypes and the network skeleton."""
from .genotype import Genotype, derive_genotype, genotype_file
from .ops import OPS, POOLING, PRIMITIVES, create_op
from .skeleton import (MIN_CELL_INPUT, STEMS, CellSpec, CellStack, auto_stem, aux_layer, edge_inputs, edge_names,
                       edge_stride, first_cell_size, num_edges, plan_cells, preprocess_inputs, reduction_layers)

__all__ = ["Genotype", "derive_genotype", "genotype_file", "OPS", "POOLING", "PRIMITIVES", "create_op",
           "MIN_CELL_INPUT", "STEMS", "CellSpec", "CellStack", "auto_stem", "aux_layer", "edge_inputs", "edge_names",
           "edge_stride", "first_cell_size", "num_edges", "plan_cells", "preprocess_inputs", "reduction_layers"]
