"""Steps with glibc's default malloc against the commands' setting (runtime.keep_freed_memory): wall time, system
time, minor page faults and peak memory per step.

glibc maps large blocks fresh from the kernel and returns them when freed, so a step can fault in its activations'
pages anew every time; the commands have glibc keep freed blocks of up to 32 MiB for reuse instead. A malloc
setting holds for a whole process, so every measurement is a child process of its own, the two settings
alternated round by round; medians of --steps steps after one warm-up step.

Steps, channels-last, 2 threads, float32 on the CPU:
- weight, first: search_step.py's steps of the supernet `make demo` searches (--net demo: C=4, 3 cells, batch 16
  of 1x64x64; --net benchmark: C=8, 5 cells, 3x64x64);
- train: a training step of the demo's network (DARTS_V2, C=10, 6 cells, CIFAR stem, auxiliary head weighted 0.4,
  batch 32 of 1x64x64, AdamW): same_math.py's demo_training_step, as its section 5 takes it.

    python benchmarks/page_faults.py [--steps 9] [--rounds 3] [--cases weight first train] [--net demo]
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from same_math import demo_training_step
from search_step import setup

from darts_nexp.runtime import keep_freed_memory, peak_memory_mb

CASES = ("weight", "first", "train")
SETTINGS = {"glibc default": False, "kept (the commands')": True}


def child(case: str, keep: bool, steps: int, net: str, threads: int) -> dict:
    """One setting, one case, in this process: per-step medians of wall and system time, and minor faults."""
    applied = keep_freed_memory() if keep else False
    if case == "train":
        torch.set_num_threads(threads)
        step = demo_training_step()
    else:
        supernet_step = setup("cpu", threads, True, net)

        def step():
            supernet_step(case)
    step()
    walls, systems, faults = [], [], []
    for _ in range(steps):
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        step()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
        walls.append(wall)
        systems.append(after.ru_stime - before.ru_stime)
        faults.append(after.ru_minflt - before.ru_minflt)
    return {"applied": applied, "wall_s": statistics.median(walls), "system_s": statistics.median(systems),
            "faults": statistics.median(faults), "peak_mb": peak_memory_mb(torch.device("cpu"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=CASES)
    parser.add_argument("--net", choices=("demo", "benchmark"), default="demo", help="the supernet of weight, first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "KEEP"), help="(internal) measure one case")
    args = parser.parse_args()
    if args.child:
        case, keep = args.child
        print(json.dumps(child(case, keep == "1", args.steps, args.net, args.threads)))
        return
    results = {(case, name): [] for case in args.cases for name in SETTINGS}
    for r in range(args.rounds):
        for case in args.cases:
            order = list(SETTINGS.items()) if r % 2 == 0 else list(SETTINGS.items())[::-1]
            for name, keep in order:
                out = subprocess.run([sys.executable, __file__, "--child", case, "1" if keep else "0", "--steps",
                                      str(args.steps), "--net", args.net, "--threads", str(args.threads)],
                                     check=True, capture_output=True, text=True).stdout
                result = json.loads(out.strip().splitlines()[-1])
                if keep and not result["applied"]:
                    sys.exit("keep_freed_memory() did not apply here (not glibc, or the environment sets malloc)")
                results[case, name].append(result)
                print(f"round {r + 1} {case:6s} {name:22s} {result['wall_s']:.3f} s, system {result['system_s']:.3f}"
                      f" s, {result['faults']:.0f} faults, peak {result['peak_mb']:.0f} MB", flush=True)
    print("\n| step | setting | wall, per round | system time | minor faults | peak MB |\n|---|---|---|---|---|---|")
    for (case, name), rows in results.items():
        walls = ", ".join(f"{row['wall_s']:.3f}" for row in rows)
        print(f"| {case} | {name} | {walls} s | {statistics.median(row['system_s'] for row in rows):.3f} s | "
              f"{statistics.median(row['faults'] for row in rows):,.0f} | "
              f"{statistics.median(row['peak_mb'] for row in rows):,.0f} |")
    for case in args.cases:
        default, kept = (results[case, name] for name in SETTINGS)
        ratios = [k["wall_s"] / d["wall_s"] for d, k in zip(default, kept)]
        print(f"{case}: kept / default, round by round: {', '.join(f'{x:.2f}' for x in ratios)}")


if __name__ == "__main__":
    main()
