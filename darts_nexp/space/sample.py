"""Random cells from the DARTS search space: the baseline that every searched genotype has to beat.

Each genotype is drawn the way the random-search baselines draw theirs (Li & Talwalkar, 2019, "Random Search and
Reproducibility for Neural Architecture Search"; Yang et al., 2020, "NAS evaluation is frustratingly hard"): for
every intermediate node, two distinct inputs uniformly among the earlier nodes and, on each of the two edges, one
operation uniformly among all but `none`; the normal and the reduction cell are drawn independently and both
output every intermediate node.
"""
from __future__ import annotations

import numpy as np

from .genotype import Edge, Genotype
from .ops import PRIMITIVES

# A genotype never holds `none` (DARTS drops it when deriving), so a sampler that drew it would leave the space.
OPERATIONS = tuple(p for p in PRIMITIVES if p != "none")


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of file `index`: seeded from (seed, index), so no file depends on how many are drawn."""
    return np.random.default_rng([seed, index])


def sample_cell(rng: np.random.Generator, nodes: int = 4) -> tuple[Edge, ...]:
    edges: list[Edge] = []
    for node in range(2, 2 + nodes):
        inputs = rng.choice(node, size=2, replace=False)
        ops = rng.integers(len(OPERATIONS), size=2)
        # Plain ints: Genotype.validate rejects numpy integers and yaml.safe_dump cannot write them.
        edges += [(OPERATIONS[int(op)], int(src)) for op, src in zip(ops, inputs)]
    return tuple(edges)


def sample_genotype(rng: np.random.Generator, nodes: int = 4, name: str = "", meta: dict | None = None) -> Genotype:
    normal = sample_cell(rng, nodes)
    reduce = sample_cell(rng, nodes)
    concat = tuple(range(2, 2 + nodes))
    return Genotype(normal, concat, reduce, concat, name=name, meta=dict(meta or {}))


if __name__ == "__main__":  # python -m darts_nexp.space.sample, as darts-nexp sample
    from ..cli.sample import main

    main()
