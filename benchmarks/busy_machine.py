"""Speed on a busy machine: a training step and a search step, alone and beside one competing busy process.

Each measurement runs in a fresh interpreter, because OpenMP reads its settings once, when torch loads it:
unset (OpenMP's default: spin a while, then sleep), PASSIVE (idle threads sleep at once), ACTIVE (they spin), and
spin:N (GNU OpenMP's GOMP_SPINCOUNT=N: spin N rounds, then sleep; the default spins 300,000). Every setting not
named is cleared, darts-nexp's own default included. The busy process is a pure-Python loop, the kind of neighbour
a shared CI machine or a second job brings.

    python benchmarks/busy_machine.py [--steps 3] [--threads 2] [--policies unset PASSIVE ACTIVE spin:10000]

Prints one line per (policy, load, step) with the median seconds per step, then busy / quiet ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STEPS = ("train", "search")
POLICIES = ("unset", "PASSIVE", "ACTIVE")
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT")


def parse_policy(text: str) -> str:
    if text in POLICIES or (text.startswith("spin:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r}: expected one of {', '.join(POLICIES)} or spin:N")


def environment(setting: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in OPENMP_SETTINGS}
    if setting.startswith("spin:"):
        env["GOMP_SPINCOUNT"] = setting[5:]
    elif setting != "unset":
        env["OMP_WAIT_POLICY"] = setting
    return env


def measure(kind: str, steps: int, threads: int) -> list[float]:
    """Seconds of `steps` steps of `kind` after one warm-up step (runs inside the fresh interpreter)."""
    import torch
    import torch.nn.functional as F

    from darts_nexp.bilevel import Architect
    from darts_nexp.bilevel.search_loop import weight_step
    from darts_nexp.final import FinalNetwork
    from darts_nexp.space import Genotype
    from darts_nexp.supernet import SearchNetwork

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "train":  # the demo's final network: CIFAR stem, 6 cells, C=10, batch 32 of 64x64
        model = FinalNetwork(Genotype.load(os.path.join(os.path.dirname(__file__), "..", "genotypes",
                                                        "darts_v2.yaml")), init_channels=10, layers=6, stem="cifar")
        opt = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9)

        def step():
            x, y = torch.randn(32, 1, 64, 64), torch.randint(0, 2, (32,))
            opt.zero_grad()
            logits, aux = model.forward_train(x)
            (F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)).backward()
            opt.step()
    else:  # a first-order search step of the search_step benchmark's supernet: C=8, 5 cells, batch 16 of 64x64
        model = SearchNetwork(init_channels=8, layers=5)
        opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9)
        architect = Architect(model, "first")

        def step():
            batch = torch.randn(16, 1, 64, 64), torch.randint(0, 2, (16,))
            architect.step(batch, batch, 0.025, opt)
            weight_step(model, batch, opt, 5.0)

    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        step()
        if i:
            times.append(time.perf_counter() - start)
    return times


def run_fresh(kind: str, setting: str, busy: bool, steps: int, threads: int) -> list[float]:
    env = environment(setting)
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        out = subprocess.run([sys.executable, __file__, "--measure", kind, "--steps", str(steps), "--threads",
                              str(threads)], env=env, check=True, capture_output=True, text=True).stdout
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--policies", nargs="+", type=parse_policy, default=list(POLICIES),
                        help="unset, PASSIVE, ACTIVE or spin:N (GOMP_SPINCOUNT=N)")
    parser.add_argument("--measure", choices=STEPS, help="(internal) time one kind of step in this interpreter")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.steps, args.threads)))
        return
    medians = {}
    for policy in args.policies:
        for kind in STEPS:
            for busy in (False, True):
                times = run_fresh(kind, policy, busy, args.steps, args.threads)
                medians[policy, kind, busy] = statistics.median(times)
                load = "busy " if busy else "quiet"
                print(f"{policy:10s} {kind:6s} {load}: median {medians[policy, kind, busy]:.2f} "
                      f"s/step (all: {' '.join(f'{t:.2f}' for t in times)})", flush=True)
    for policy in args.policies:
        for kind in STEPS:
            ratio = medians[policy, kind, True] / medians[policy, kind, False]
            print(f"{policy:10s} {kind:6s} busy / quiet: {ratio:.2f}x")


if __name__ == "__main__":
    main()
