"""Variants of the same math, side by side in one process: which of them pays on this machine?

1. The fused mixed op (supernet/mixed_op.py, `fuse`) runs sep_conv_3x3's, sep_conv_5x5's and dil_conv_3x3's first
   depthwise convolutions as one grouped 5x5 convolution: one kernel call in place of three, at 75 multiply-adds per
   output pixel and channel in place of 9 + 25 + 9 = 43. Forward and backward of one edge, plain and fused, at each
   edge shape of search_step.py's supernet (C=8, 5 layers, CIFAR stem, batch 16, 64x64): (C, size, stride) =
   (8, 64, 1), (16, 64, 2), (16, 32, 1), (32, 32, 2), (32, 16, 1).
2. A weight step of that supernet: plain, fused, and in the channels-last memory format (network and batch).
3. A training step of the final network of the protocol and the demo (DARTS_V2, C=8, 5 cells, CIFAR stem, batch
   32 of 1x64x64, AdamW): plain and channels-last.
With --compile, 2 and 3 also run compiled (torch.compile, inductor, as `--compile true` does in the commands).
4. Two kernels the search space routes around on the CPU (space/ops.py), forward and backward, batch 16:
   BatchNorm of a channels-last tensor with C channels at 64x64, by nn.BatchNorm2d in the default format, by
   nn.BatchNorm2d channels-last, and by the space's BatchNorm2d (the default format for counts that fill no
   vector); and a dil_conv's depthwise convolution on a reduction edge (stride 2, dilation 2), nn.Conv2d in
   either format against the space's DilatedConv2d (undilated, on the strided grid) channels-last.
5. The BatchNorm rule of 4. in whole steps, channels-last, each on one model with the rule switched on and off call
   by call: a weight step of the demo's supernet (search_step.py --net demo) and a training step of the demo's
   network (DARTS_V2, C=10, 6 cells, CIFAR stem, auxiliary head weighted 0.4, batch 32 of 1x64x64, AdamW).
6. An edge's ops batched stage by stage (StackedMixedOp, defined here only), channels-last, forward and backward
   at each edge shape of the demo's supernet: the four first depthwise convolutions' outputs concatenated for one
   grouped pointwise convolution and one BatchNorm call over all their channels (BatchNorm's statistics are per
   channel, so the math is the same), then the same for the two sep_convs' second halves and for the two pooling
   ops' BatchNorms. Fewer and larger calls, against the copies the concatenations make.

Each timed call of every variant in turn, rep by rep; medians. Every variant of 2 and 3 starts from the same weights,
and its first forward and backward pass, on one batch for all, is timed on its own (for the compiled one it
includes compiling) and compared with the plain one's: the cosine of the weights' gradient, and for the supernet of
the alphas' (the first order's architecture gradient). Same math means a cosine within rounding of 1.

    python benchmarks/same_math.py [--reps 20] [--steps 5] [--threads 2] [--compile] [--no-edges]
                                   [--steps-of supernet final] [--no-kernels] [--no-bn-rule] [--no-stacked]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from darts_nexp.runtime import compile_in_place

DARTS_V2 = Path(__file__).resolve().parents[1] / "genotypes" / "darts_v2.yaml"

EDGES = ((8, 64, 1), (16, 64, 2), (16, 32, 1), (32, 32, 2), (32, 16, 1))


def interleaved(runs: dict, reps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each callable in `runs`, called in turn rep by rep."""
    times = {name: [] for name in runs}
    for i in range(warmup + reps):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def edge_runs(C: int, size: int, stride: int, batch: int = 16) -> dict:
    from darts_nexp.space import PRIMITIVES
    from darts_nexp.supernet import MixedOp

    torch.manual_seed(0)
    ops = {"plain": MixedOp(C, stride), "fused": MixedOp(C, stride)}
    ops["fused"].load_state_dict(ops["plain"].state_dict())
    ops["fused"].fuse = True
    x = torch.randn(batch, C, size, size, requires_grad=True)
    weights = torch.randn(len(PRIMITIVES)).softmax(0)

    def run(op):
        def fn():
            op(x, weights).sum().backward()
        return fn
    return {name: run(op) for name, op in ops.items()}


DEMO_EDGES = ((4, 64, 1), (8, 64, 2), (8, 32, 1), (16, 32, 2), (16, 16, 1))


def _stacked_batch_norm(z: torch.Tensor, bns: list, scale: torch.Tensor) -> torch.Tensor:
    """One BatchNorm call over the channels of several ops' BatchNorms, each op's channels weighted by its entry
    of `scale`; their running statistics are updated as their own calls would update them (what the space's
    BatchNorm2d does with `scale` for one op, here for several at once)."""
    first = bns[0]
    if first.training:
        for bn in bns:
            bn.num_batches_tracked.add_(1)
    mean, var = torch.cat([bn.running_mean for bn in bns]), torch.cat([bn.running_var for bn in bns])
    y = F.batch_norm(z, mean, var, scale.repeat_interleave(first.num_features), None, first.training,
                     first.momentum, first.eps)
    if first.training:
        C = first.num_features
        torch._foreach_copy_([bn.running_mean for bn in bns] + [bn.running_var for bn in bns],
                             [*mean.split(C), *var.split(C)])
    return y


def stacked_mixed_op(channels: int, stride: int):
    """6.: a MixedOp whose ops run stage by stage as one call each (no partial channels, every op active)."""
    from darts_nexp.supernet import MixedOp

    class StackedMixedOp(MixedOp):
        def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
            C = x.shape[1]
            max_pool, avg_pool, skip, sep3, sep5, dil3, dil5 = self.ops
            w = weights[self.index]  # in the order of self.names
            relu_x = torch.relu(x)
            firsts = [sep3[0], sep5[0], dil3, dil5]  # each ReLU, depthwise, pointwise, BatchNorm
            z = torch.cat([f[1](relu_x) for f in firsts], 1)
            z = F.conv2d(z, torch.cat([f[2].weight for f in firsts]), groups=4)
            # the sep_convs' first BatchNorms are not their last: weight 1
            z = _stacked_batch_norm(z, [f[3] for f in firsts], torch.cat([w.new_ones(2), w[5:7]]))
            parts = z.split(C, 1)
            seconds = [sep3[1], sep5[1]]
            z2 = torch.cat([s[1](torch.relu(part)) for s, part in zip(seconds, parts)], 1)
            z2 = F.conv2d(z2, torch.cat([s[2].weight for s in seconds]), groups=2)
            z2 = _stacked_batch_norm(z2, [s[3] for s in seconds], w[3:5])
            pools = _stacked_batch_norm(torch.cat([max_pool[0](x), avg_pool[0](x)], 1),
                                        [max_pool[1], avg_pool[1]], w[0:2])
            out = w[2] * skip(x)  # a stride-2 skip's BatchNorm stays a call of its own: nothing to stack it with
            for part in (*pools.split(C, 1), *z2.split(C, 1), *parts[2:]):
                out = out + part
            return out

    return StackedMixedOp(channels, stride)


def stacked_edge_runs(C: int, size: int, stride: int, batch: int = 16) -> dict:
    """6.: plain and stacked, channels-last, after checking that they compute the same."""
    from darts_nexp.space import PRIMITIVES
    from darts_nexp.supernet import MixedOp

    torch.manual_seed(0)
    ops = {"plain": MixedOp(C, stride), "stacked": stacked_mixed_op(C, stride)}
    ops["stacked"].load_state_dict(ops["plain"].state_dict())
    x = torch.randn(batch, C, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()
    weights = torch.randn(len(PRIMITIVES)).softmax(0).requires_grad_()
    outs = {name: op.to(memory_format=torch.channels_last)(x, weights) for name, op in ops.items()}
    g = torch.randn_like(outs["plain"])  # channels-last, as the output
    grads = {name: torch.autograd.grad(out, (x, weights), g) for name, out in outs.items()}
    torch.testing.assert_close(outs["stacked"], outs["plain"])
    torch.testing.assert_close(grads["stacked"], grads["plain"], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ops["stacked"].state_dict(), ops["plain"].state_dict())

    def run(op):
        def fn():
            op(x, weights).backward(g)
        return fn
    return {name: run(op) for name, op in ops.items()}


BN_CHANNELS = (4, 6, 8, 10, 12, 16, 20, 24, 32)
DIL_CONVS = ((8, 64, 3), (8, 64, 5), (16, 32, 3), (16, 32, 5))  # (C, input size, kernel) of the demo's reductions


def _forward_backward(module: torch.nn.Module, x: torch.Tensor):
    g = module(x).detach().normal_()

    def fn():
        module(x).backward(g)
    return fn


def kernel_runs(what: str, C: int, size: int, kernel: int = 3) -> dict:
    """Variants of one BatchNorm ("bn") or strided dilated depthwise convolution ("dil") on a batch of 16."""
    from darts_nexp.space.ops import BatchNorm2d, DilatedConv2d

    torch.manual_seed(0)
    x = torch.randn(16, C, size, size)
    cl = x.contiguous(memory_format=torch.channels_last).requires_grad_()
    x.requires_grad_()
    if what == "bn":
        return {"default format": _forward_backward(torch.nn.BatchNorm2d(C), x),
                "channels-last": _forward_backward(torch.nn.BatchNorm2d(C), cl),
                "ours": _forward_backward(BatchNorm2d(C), cl)}
    args = (C, C, kernel, 2, 2 * (kernel // 2))
    convs = [cls(*args, dilation=2, groups=C, bias=False) for cls in (torch.nn.Conv2d, torch.nn.Conv2d, DilatedConv2d)]
    return {"default format": _forward_backward(convs[0], x),
            "channels-last": _forward_backward(convs[1].to(memory_format=torch.channels_last), cl),
            "ours": _forward_backward(convs[2].to(memory_format=torch.channels_last), cl)}


def demo_training_step():
    """One training step of the demo's network (DARTS_V2, C=10, 6 cells, CIFAR stem, auxiliary head weighted 0.4,
    batch 32 of 1x64x64, AdamW), channels-last; every call trains the same model on the same batch."""
    from darts_nexp.final import FinalNetwork
    from darts_nexp.space import Genotype

    torch.manual_seed(0)
    model = FinalNetwork(Genotype.load(DARTS_V2), init_channels=10, layers=6, stem="cifar")
    model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    x = torch.randn(32, 1, 64, 64).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (32,))

    def train_step():
        opt.zero_grad(set_to_none=True)
        logits, aux = model.forward_train(x)
        (F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)).backward()
        opt.step()
    return train_step


def bn_rule_runs() -> dict[str, dict]:
    """5.: {step: {"rule on" / "rule off": one step}}; each step's two variants train the same model."""
    import darts_nexp.space.ops as ops
    from search_step import setup

    supernet_step = setup("cpu", torch.get_num_threads(), True, "demo")
    train_step = demo_training_step()

    def under(limit: int, step):
        def fn():
            saved, ops._SLOW_CHANNELS_LAST_BN = ops._SLOW_CHANNELS_LAST_BN, limit  # 0: no count is routed
            try:
                step()
            finally:
                ops._SLOW_CHANNELS_LAST_BN = saved
        return fn
    steps = {"weight step of the demo's supernet": lambda: supernet_step("weight"),
             "training step of the demo's network": train_step}
    return {what: {"rule on": under(ops._SLOW_CHANNELS_LAST_BN, step), "rule off": under(0, step)}
            for what, step in steps.items()}


def layout(model: torch.nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """x in the memory format of variant `name`, the model moved to it (and compiled, for "compiled")."""
    if name == "compiled":
        compile_in_place(model)
    if name == "channels-last":
        model.to(memory_format=torch.channels_last)
        return x.contiguous(memory_format=torch.channels_last)
    return x


def supernet_runs(variants: tuple[str, ...], batch: int = 16) -> dict:
    """name -> (one weight step, the model it trains)."""
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.supernet import SearchNetwork

    runs = {}
    for name in variants:
        torch.manual_seed(0)
        model = SearchNetwork(num_classes=2, in_chans=3, init_channels=8, layers=5, stem="cifar")
        model.fuse_convolutions(name == "fused")
        opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
        data = layout(model, torch.randn(batch, 3, 64, 64), name), torch.randint(0, 2, (batch,))
        runs[name] = (lambda model=model, opt=opt, data=data: weight_step(model, data, opt, grad_clip=5.0)), model
    return runs


def final_runs(variants: tuple[str, ...], batch: int = 32) -> dict:
    """name -> (one training step, the model it trains)."""
    from darts_nexp.final import FinalNetwork
    from darts_nexp.space import Genotype

    genotype = Genotype.load(DARTS_V2)
    runs = {}
    for name in variants:
        torch.manual_seed(0)
        model = FinalNetwork(genotype, init_channels=8, layers=5, stem="cifar", stem_multiplier=2, auxiliary=False)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
        x, y = layout(model, torch.randn(batch, 1, 64, 64), name), torch.randint(0, 2, (batch,))

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()
        runs[name] = step, model
    return runs


def first_gradients(models: dict) -> tuple[dict[str, float], dict[str, str]]:
    """Each model's first forward and backward pass, on one batch for all: its time (for a compiled model, that
    includes compiling), and how its gradients agree with the plain model's, at the same starting weights."""
    torch.manual_seed(1)
    x, y = torch.randn(16, models["plain"].model_args["in_chans"], 64, 64), torch.randint(0, 2, (16,))
    times, grads = {}, {}
    for name, model in models.items():
        start = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        times[name] = time.perf_counter() - start
        alphas = model.alphas() if hasattr(model, "alphas") else []  # a supernet's; a final network has none
        weights = [p for p in model.parameters() if all(p is not a for a in alphas)]
        grads[name] = {kind: torch.cat([p.grad.flatten() for p in group])
                       for kind, group in (("weight", weights), ("alpha", alphas)) if group}
        model.zero_grad(set_to_none=True)

    def cosine(a, b):  # in float64: a float32 cosine of a long vector can round to above 1
        return F.cosine_similarity(a.double(), b.double(), dim=0).item()

    agreement = {name: ", ".join(f"{kind}-gradient cosine {cosine(g, grads['plain'][kind]):.6f}"
                                 for kind, g in found.items()) for name, found in grads.items()}
    return times, agreement


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also the steps compiled by torch.compile (inductor)")
    parser.add_argument("--edges", action=argparse.BooleanOptionalAction, default=True, help="time the edges (1.)")
    parser.add_argument("--kernels", action=argparse.BooleanOptionalAction, default=True,
                        help="time the kernels (4.)")
    parser.add_argument("--bn-rule", action=argparse.BooleanOptionalAction, default=True,
                        help="time the BatchNorm rule in whole steps (5.)")
    parser.add_argument("--stacked", action=argparse.BooleanOptionalAction, default=True,
                        help="time the edges batched stage by stage (6.)")
    parser.add_argument("--steps-of", nargs="*", choices=("supernet", "final"), default=("supernet", "final"),
                        help="whose steps to time (2. and 3.); with no names, none")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    for C, size, stride in EDGES if args.edges else ():
        t = interleaved(edge_runs(C, size, stride), args.reps)
        print(f"edge C={C:>2} {size}x{size} stride {stride} (forward + backward, batch 16): plain "
              f"{1e3 * t['plain']:7.2f} ms, fused {1e3 * t['fused']:7.2f} ms, fused/plain {t['fused'] / t['plain']:.2f}")
    for C, size, stride in DEMO_EDGES if args.stacked else ():
        t = interleaved(stacked_edge_runs(C, size, stride), args.reps)
        print(f"edge C={C:>2} {size}x{size} stride {stride}, channels-last (forward + backward, batch 16): plain "
              f"{1e3 * t['plain']:7.2f} ms, stacked {1e3 * t['stacked']:7.2f} ms, "
              f"stacked/plain {t['stacked'] / t['plain']:.2f}")
    for what, name, shapes in (("bn", "BatchNorm", [(C, 64) for C in BN_CHANNELS] if args.kernels else []),
                               ("dil", "strided dil_conv", DIL_CONVS if args.kernels else [])):
        for C, size, *kernel in shapes:
            t = interleaved(kernel_runs(what, C, size, *kernel), args.reps)
            label = f"{name} C={C:>2} {size}x{size}" + (f" {kernel[0]}x{kernel[0]}" if kernel else "")
            print(f"{label} (forward + backward): " + ", ".join(f"{v} {1e3 * t[v]:6.2f} ms" for v in t)
                  + f", ours/channels-last {t['ours'] / t['channels-last']:.2f}")
    for what, runs in (bn_rule_runs() if args.bn_rule else {}).items():
        t = interleaved(runs, args.steps)
        print(f"{what}, channels-last: BatchNorm rule on {t['rule on']:.3f} s, off {t['rule off']:.3f} s, "
              f"on/off {t['rule on'] / t['rule off']:.2f}")
    compiled = ("compiled",) if args.compile else ()
    steps_of = {"supernet": ("weight step of the supernet", supernet_runs, ("plain", "fused", "channels-last")),
                "final": ("training step of the final network", final_runs, ("plain", "channels-last"))}
    for what, make_runs, variants in (steps_of[name] for name in args.steps_of):
        runs = make_runs(variants + compiled)
        first, agreement = first_gradients({name: model for name, (_, model) in runs.items()})
        t = interleaved({name: fn for name, (fn, _) in runs.items()}, args.steps)
        print(f"{what}: " + ", ".join(f"{name} {t[name]:.3f} s ({t[name] / t['plain']:.2f} of plain)" for name in t))
        for name in t:
            print(f"  {name}: first forward and backward {first[name]:.1f} s; {agreement[name]}")


if __name__ == "__main__":
    main()
