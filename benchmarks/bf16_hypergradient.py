"""How close the bf16 alpha gradient stays to the float32 one, per order and seed (docs/search.md, bf16 in the search).

    python benchmarks/bf16_hypergradient.py [--seeds 0 1 2]

A small supernet (C=4, 3 cells, 2 nodes, batch 16 of 16x16) on random data; bf16 autocast on the CPU stands in for
the search's CUDA autocast. For the second order it also shows the variant whose finite-difference passes run in bf16
too (what darts-nexp did before those passes were kept in float32), and the cosine of the second-order correction
term (second-order gradient minus first-order gradient) alone.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from darts_nexp.bilevel import Architect
from darts_nexp.supernet import SearchNetwork


class AllBf16(Architect):
    """The architect with every pass under autocast, the finite-difference ones included."""

    def _loss_and_grad(self, batch, wrt, low_precision: bool = True):
        return super()._loss_and_grad(batch, wrt, low_precision=True)


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def flat(grads) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = SearchNetwork(num_classes=2, in_chans=1, init_channels=4, layers=3, nodes=2, stem="cifar",
                              stem_multiplier=2)
        train = torch.randn(16, 1, 16, 16), torch.randint(0, 2, (16,))
        val = torch.randn(16, 1, 16, 16), torch.randint(0, 2, (16,))
        opt = torch.optim.SGD(model.weights(), lr=0.05, momentum=0.9, weight_decay=3e-4)
        g = {}
        for name, architect in (("fp32", Architect), ("bf16", Architect), ("all-bf16", AllBf16)):
            for order in ("first", "second"):
                kwargs = {} if name == "fp32" else {"autocast": bf16}
                g[name, order] = flat(architect(model, order, **kwargs).gradient(train, val, 0.05, opt)[1])
        for name, order in (("bf16", "first"), ("bf16", "second"), ("all-bf16", "second")):
            a, b = g["fp32", order], g[name, order]
            correction = ""
            if order == "second":
                fp32 = g["fp32", "second"] - g["fp32", "first"]
                low = g[name, "second"] - g[name, "first"]
                correction = f", correction term cosine {F.cosine_similarity(fp32, low, dim=0).item():.3f}"
            print(f"seed {seed} {order:6s} {name:8s}: cosine {F.cosine_similarity(a, b, dim=0).item():.3f}, "
                  f"norm ratio {(b.norm() / a.norm()).item():.3f}{correction}", flush=True)


if __name__ == "__main__":
    main()
