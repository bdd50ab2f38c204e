"""Classic classifiers on a trained network's deep features, as reports 003 and 004 did: LDA, random forest,
logistic regression and an SVM fitted on the penultimate features of the training split.


Each classifier is fitted on the features of (a stratified sample of at most --max-train) training images,
standardised, and scored by AUC on the validation and test splits, beside the network's own classifier. Prints a
table and writes RUN_DIR/features/features.json (or into --out).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..io import write_atomic
from ..metrics import auc
from ..runs import COMMANDS, FEATURES, FEATURES_DIR
from ..runtime import start_runtime
from .study import StudyConfig, features, open_trained, output_dir, sample
CLASSIFIERS = ("lda", "rf", "lr", "svm")


def make_classifier(name: str, seed: int):
    """The scikit-learn estimator of a short name. LDA shrinks its covariance (features can outnumber images);
    the SVM is an RBF SVC scored by its decision function (no Platt scaling needed for an AUC)."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    return {
        "lda": lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto"),
        "rf": lambda: RandomForestClassifier(n_estimators=300, min_samples_leaf=2, random_state=seed,
                                             n_jobs=torch.get_num_threads()),
        "lr": lambda: LogisticRegression(C=1.0, max_iter=5000),
        "svm": lambda: SVC(kernel="rbf", C=1.0, gamma="scale", random_state=seed),
    }[name]()


def defect_score(clf, x: np.ndarray) -> np.ndarray:
    return clf.decision_function(x) if hasattr(clf, "decision_function") else clf.predict_proba(x)[:, 1]


@dataclass
class FeaturesConfig(StudyConfig):
    """Settings of `darts-nexp features` (docs/explain.md)."""
    classifier: str = ",".join(CLASSIFIERS)
    """comma-separated classifiers: lda, rf (random forest), lr (logistic regression), svm (RBF kernel)"""
    max_train: int = 10000
    """training images the classifiers are fitted on at most (a stratified sample): an SVM grows as n squared"""

    def names(self) -> list[str]:
        return [n.strip() for n in self.classifier.split(",") if n.strip()]

    def validate(self) -> None:
        unknown = [n for n in self.names() if n not in CLASSIFIERS]
        if unknown or not self.names():
            what = "unknown " + ", ".join(unknown) if unknown else "empty"
            raise UserError(f"--classifier {self.classifier!r}: {what}; choose from {','.join(CLASSIFIERS)}")
        if self.max_train < 10 or self.batch_size < 1:
            raise UserError(f"--max-train must be >= 10 and --batch-size >= 1 (got {self.max_train}, "
                            f"{self.batch_size})")


def run(cfg: FeaturesConfig) -> dict:
    from sklearn.preprocessing import StandardScaler

    device = start_runtime(cfg.device, cfg.threads)
    trained = open_trained(cfg.run_dir, COMMANDS["features"], device, cfg.data_dir, cfg.cache_dir)
    out = output_dir(cfg, trained, FEATURES_DIR, (FEATURES,), COMMANDS["features"])
    splits = trained.splits
    train = sample(splits.train, cfg.max_train, cfg.seed)
    data = {name: features(trained.model, trained.batches(images, cfg.batch_size))
            for name, images in (("train", train), ("val", splits.val), ("test", splits.test))}
    scaler = StandardScaler().fit(data["train"][0])
    x = {k: scaler.transform(v[0]) for k, v in data.items()}
    y = {k: v[2] for k, v in data.items()}
    results = {"network": {"val_auc": auc(y["val"], data["val"][1]), "test_auc": auc(y["test"], data["test"][1])}}
    for name in cfg.names():
        start = time.time()
        clf = make_classifier(name, cfg.seed).fit(x["train"], y["train"])
        results[name] = {"val_auc": auc(y["val"], defect_score(clf, x["val"])),
                         "test_auc": auc(y["test"], defect_score(clf, x["test"])),
                         "fit_seconds": round(time.time() - start, 2)}
    body = {"model": trained.checkpoint["model"]["name"], "feature_dim": int(x["train"].shape[1]),
            "n_train": len(train), "n_val": len(splits.val), "n_test": len(splits.test),
            "test_source": splits.test_source, "classifiers": results}
    path = write_atomic(out / FEATURES, json.dumps(body, indent=1) + "\n")
    print(f"classifiers on the {body['feature_dim']}-d penultimate features of {body['model']} "
          f"({len(train)} training images):")
    print(f"  {'classifier':12s} {'val AUC':>8s} {'test AUC':>9s}")
    for name, r in results.items():
        print(f"  {name:12s} {r['val_auc']:8.4f} {r['test_auc']:9.4f}")
    print(f"  {path.name + ':':15s}{path}")
    return body
