"""Can a supernet of this size learn in this budget? Its weights alone trained as search.py would train them.

    python benchmarks/supernet_learning.py --config configs/demo.yaml [--steps 150] [--every 25] [search.py flags]

Takes search.py's settings (the `search:` section of --config, then the flags), builds the same data halves,
supernet and weight optimiser, and trains the weights on the weight half with the alphas left uniform, as a warm-up
epoch does. Every --every steps it prints the validation AUC on the architecture half (what search.py reports at
the end of an epoch) and the seconds spent training so far. A supernet that stays near 0.5 here cannot steer its
alphas either: the cell a search exports from it is a random draw (docs/search.md, "Budgets").
"""
from __future__ import annotations

import time

from darts_nexp.bilevel.search_loop import weight_step
from darts_nexp.cli.inputs import resolve_input
from darts_nexp.cli.search import SearchConfig, build
from darts_nexp.config import parse_command
from darts_nexp.data import Batches, search_splits
from darts_nexp.errors import cli_entry
from darts_nexp.loops import predict
from darts_nexp.metrics import auc
from darts_nexp.runtime import start_runtime


def options(parser) -> None:
    parser.add_argument("--steps", type=int, default=150, help="weight steps in all")
    parser.add_argument("--every", type=int, default=25, help="score the architecture half every this many steps")


@cli_entry
def main(argv=None) -> list[tuple[int, float, float]]:
    cfg, ns = parse_command(SearchConfig, argv, __doc__.splitlines()[0], "search", resumable=False, extra=options)
    print(resolve_input(cfg))
    cfg.validate()
    device = start_runtime(cfg.device, cfg.threads)
    weight_half, arch_half = search_splits(cfg.data, cfg.seed)
    model, weight_opt, _, _ = build(cfg, device)
    batches = Batches(weight_half, cfg.batch_size, device, shuffle=True, seed=cfg.seed, augment=cfg.data.augment)
    val = Batches(arch_half, cfg.batch_size, device, shuffle=False, seed=cfg.seed)
    print(f"{cfg.optimizer} lr {cfg.lr:g}, batch {cfg.batch_size}, C={cfg.init_channels}, {cfg.layers} cells, "
          f"partial channels {cfg.partial_channels}: {len(batches)} steps per epoch", flush=True)
    step, epoch, trained, rows = 0, 0, 0.0, []
    model.train()  # predict() below restores it after scoring
    start = time.time()
    while step < ns.steps:
        batches.set_epoch(epoch)
        for batch in batches:
            loss, _ = weight_step(model, batch, weight_opt, cfg.grad_clip)
            step += 1
            if step % ns.every == 0 or step == ns.steps:
                trained += time.time() - start
                _, scores, labels = predict(model, val, epoch + 1)
                rows.append((step, auc(labels, scores), trained))
                print(f"step {step} (epoch {epoch + 1}): batch loss {loss:.3f}, validation AUC {rows[-1][1]:.3f}, "
                      f"{trained:.0f} s of training", flush=True)
                start = time.time()
            if step == ns.steps:
                break
        epoch += 1
    return rows


if __name__ == "__main__":
    main()
