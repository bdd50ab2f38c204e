"""Do the networks' convolutions survive the channels-last memory format on this CPU? Run it after a torch upgrade.

torch 2.14.1's CPU weight gradient of a channels-last stride-2 1x1 convolution with 2 to 15 input channels (under
8 with AVX2) writes outside its buffer and kills the process; FactorizedReduce now slices before a stride-1
convolution instead (space/ops.py). That crash hid in one shape of the demo's supernet, so this sweep runs every
network shape the commands build by default, and the corners around them, channels-last: a few forward and backward
passes each, in a child process under glibc's heap checks (MALLOC_CHECK_=3), once for each instruction set named by
--isa (oneDNN's ONEDNN_MAX_CPU_ISA; "default" is the best this CPU has). It prints one line per child and names
every child that died, with its signal; it exits 1 if any did.

    python benchmarks/channels_last_check.py [--isa default AVX2] [--steps 3] [--only supernet|final]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

GENOTYPES = Path(__file__).resolve().parents[1] / "genotypes"

# (kind, network keywords, input channels and size): the demo's and the benchmarks' networks, the real image size,
# and channel counts on both sides of the vector widths (8 and 16 floats) where oneDNN picks its kernels.
SUPERNETS = [dict(in_chans=1, init_channels=C, layers=3, stem="cifar", stem_multiplier=2, size=size)
             for C in (4, 6, 8, 16) for size in ((64, 64), (67, 69))]
SUPERNETS += [dict(in_chans=3, init_channels=8, layers=5, stem="cifar", stem_multiplier=3, size=(64, 64)),
              dict(in_chans=1, init_channels=16, layers=5, stem="cifar", partial_channels=4, size=(64, 64)),
              dict(in_chans=1, init_channels=8, layers=5, stem="imagenet", size=(267, 275))]
FINALS = [dict(genotype=g, in_chans=1, init_channels=C, layers=6, stem="cifar", stem_multiplier=2, size=(64, 64))
          for g in ("darts_v1", "darts_v2", "random-0", "random-1", "random-2") for C in (8, 10, 16)]
FINALS += [dict(genotype="darts_v2", in_chans=1, init_channels=16, layers=8, stem="imagenet", size=(267, 275))]


def build(kind: str, spec: dict) -> torch.nn.Module:
    spec = dict(spec)
    spec.pop("size")
    if kind == "supernet":
        from darts_nexp.supernet import SearchNetwork
        return SearchNetwork(num_classes=2, **spec)
    from darts_nexp.final import FinalNetwork
    from darts_nexp.space import Genotype
    from darts_nexp.space.sample import sample_genotype, sample_rng

    name = spec.pop("genotype")
    genotype = (sample_genotype(sample_rng(0, int(name.split("-")[1]))) if name.startswith("random-")
                else Genotype.load(GENOTYPES / f"{name}.yaml"))
    return FinalNetwork(genotype, num_classes=2, auxiliary=True, **spec)


def child(kind: str, spec: dict, steps: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = build(kind, spec).to(memory_format=torch.channels_last).train()
    for _ in range(steps):
        x = torch.randn(8, spec["in_chans"], *spec["size"]).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        out = model.forward_train(x)[0] if kind == "final" else model(x)
        F.cross_entropy(out, torch.randint(0, 2, (8,))).backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--isa", nargs="+", default=["default", "AVX2"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--only", choices=("supernet", "final"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, spec = json.loads(args.child)
        return child(kind, spec, args.steps)

    cases = [("supernet", s) for s in SUPERNETS] + [("final", s) for s in FINALS]
    cases = [c for c in cases if args.only in (None, c[0])]
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{len(cases)} networks x {len(args.isa)} instruction sets, {args.steps} steps each")
    died = []
    for isa in args.isa:
        env = dict(os.environ, MALLOC_CHECK_="3")
        if isa != "default":
            env["ONEDNN_MAX_CPU_ISA"] = isa
        for kind, spec in cases:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", json.dumps([kind, spec])],
                                  env=env, capture_output=True, text=True)
            if proc.returncode == 0:
                verdict = "ok"
            else:
                why = signal.Signals(-proc.returncode).name if proc.returncode < 0 else f"exit {proc.returncode}"
                tail = proc.stderr.strip().splitlines()[-1:] or [""]
                verdict = f"DIED ({why}) {tail[0]}"
                died.append((isa, kind, spec))
            print(f"{isa:12s} {kind:8s} {json.dumps(spec)}: {verdict} ({time.perf_counter() - start:.1f} s)", flush=True)
    print(f"{len(died)} of {len(cases) * len(args.isa)} died" + "".join(f"\n  {d}" for d in died))
    sys.exit(1 if died else 0)


if __name__ == "__main__":
    main()
