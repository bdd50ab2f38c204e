"""python -m darts_nexp.data summary DIR: what a dataset folder holds, and what is wrong with it."""
from __future__ import annotations

import argparse
import logging

import numpy as np

from ..config import validate
from ..errors import cli_entry
from .config import DataConfig
from .dedup import duplicate_report
from .imageset import load_dataset


def summary(cfg: DataConfig) -> list[str]:
    ds = load_dataset(cfg)
    train = ds.train
    n_good, n_defect = int((train.labels == 0).sum()), int((train.labels == 1).sum())
    lines = [f"layout: {ds.layout.name} at {ds.layout.root}",
             f"train: {len(train)} images: {n_good} good ({ds.layout.good}), {n_defect} defect ({ds.layout.defect})"]
    sets = [train]
    if ds.test is not None:
        known = ds.test.labels >= 0
        lines.append(f"test: {len(ds.test)} images ({ds.layout.test}); " + (
            f"labels from {ds.labels_csv}: {int((ds.test.labels == 0).sum())} good, "
            f"{int((ds.test.labels == 1).sum())} defect, {int((~known).sum())} without a label"
            if ds.labels_csv else "no labels"))
        sets.append(ds.test)
    else:
        lines.append("test: no test folder")
    sizes = ds.sizes
    lines.append("image sizes (HxW): " + ", ".join(f"{k}: {v}" for k, v in sizes.most_common(5))
                 + (f" and {len(sizes) - 5} more" if len(sizes) > 5 else ""))
    has_box = ~np.isnan(train.boxes[:, 0])
    lines.append(f"boxes: {int(has_box[train.labels == 1].sum())} of {n_defect} defect images have one "
                 f"({ds.layout.boxes_csv or 'no defect_area.csv'}); {int(has_box[train.labels == 0].sum())} "
                 f"good images have one")
    lines += duplicate_report(sets).lines()
    lines.append(f"unreadable files: {len(ds.failed)}" + "".join(f"\n  {p}: {why}" for p, why in ds.failed[:10]))
    return lines


@cli_entry
def main(argv=None) -> None:
    logging.basicConfig(format="%(levelname)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m darts_nexp.data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="print what a dataset folder holds")
    s.add_argument("dir", help="dataset root (stage 1, stage 2 or plain good/ + defect/ layout)")
    s.add_argument("--labels-csv", help="id,label CSV for the test folder")
    s.add_argument("--image-size", type=int, nargs=2, default=[64, 64], metavar=("H", "W"),
                   help="size the images are decoded at (duplicates are found at this size)")
    a = p.parse_args(argv)
    cfg = DataConfig(dataset="nexperia", data_dir=a.dir, labels_csv=a.labels_csv, image_size=a.image_size)
    validate(cfg)
    print("\n".join(summary(cfg)))


if __name__ == "__main__":
    main()
