"""What a data set folder holds, and what is wrong with it (`darts-nexp data summary`)."""
from __future__ import annotations

import numpy as np

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
