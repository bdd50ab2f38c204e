"""torchrun on the CPU (gloo): the data split over ranks, the averaged gradients of both bi-level steps, one run
directory, agreement between ranks, resume, and the refusals."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from darts_nexp.bilevel import Architect
from darts_nexp.bilevel.search_loop import weight_step
from darts_nexp.data import Batches, ImageSet
from darts_nexp.distributed import Ranks, check_batches
from darts_nexp.errors import UserError
from darts_nexp.models import load_model
from darts_nexp.loops import predict
from darts_nexp.supernet import SearchNetwork

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "configs" / "smoke.yaml")
V2 = str(ROOT / "genotypes" / "darts_v2.yaml")
B = 4  # images per rank


def test_ranks_share_each_global_batch():
    n = 21
    images = ImageSet("x", np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1), np.zeros(n, np.int64),
                      [str(i) for i in range(n)], np.full((n, 4), np.nan, np.float32))

    def ids(batches):
        batches.set_epoch(3)
        return [sorted(int(v) for v in (x.flatten() * 0.25 + 0.5) * 255 + 0.5) for x, _ in batches]

    whole = ids(Batches(images, 2 * B, "cpu", shuffle=True, seed=7, drop_last=True))
    shares = [ids(Batches(images, B, "cpu", shuffle=True, seed=7, ranks=Ranks(r, 2))) for r in (0, 1)]
    assert len(whole) == len(shares[0]) == len(shares[1]) == n // (2 * B)  # the incomplete global batch is dropped
    for k, batch in enumerate(whole):
        assert sorted(shares[0][k] + shares[1][k]) == batch and not set(shares[0][k]) & set(shares[1][k])


def test_a_launch_with_too_few_images_for_its_ranks_is_refused():
    with pytest.raises(UserError, match="4 ranks at --batch-size 8 need at least 32 training images"):
        check_batches(Ranks(0, 4), 20, 8, "training")
    check_batches(Ranks(0, 1), 3, 8, "training")  # one process: the last partial batch is simply smaller


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_and_data():
    torch.manual_seed(0)
    model = SearchNetwork(num_classes=2, in_chans=1, init_channels=4, layers=3, nodes=2, stem="cifar",
                          stem_multiplier=2)
    # BatchNorm on running statistics: each image's loss is then its own, and 2 halves of a batch must give
    # exactly the gradient of the whole (with batch statistics they differ by design).
    model.eval()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4 * B, 1, 12, 12, generator=g), torch.randint(0, 2, (4 * B,), generator=g)
    return model, (x[: 2 * B], y[: 2 * B]), (x[2 * B:], y[2 * B:])


def _steps(model, train, val, order, ranks):
    """One architecture step of `order`, then one weight step; returns (alpha gradients, weights after)."""
    weight_opt = torch.optim.SGD(model.weights(), lr=0.1, momentum=0.9, weight_decay=3e-4)
    architect = Architect(model, order, ranks=ranks)
    _, grads = architect.gradient(train, val, eta=0.1, weight_optimizer=weight_opt)
    weight_step(model, train, weight_opt, grad_clip=5.0, ranks=ranks)
    return [g.clone() for g in grads], [w.detach().clone() for w in model.weights()]


def _rank(rank, port, order, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    torch.set_num_threads(1)
    model, train, val = _model_and_data()
    share = slice(rank * B, (rank + 1) * B)
    result = _steps(model, (train[0][share], train[1][share]), (val[0][share], val[1][share]), order, Ranks(rank, 2))
    torch.save(result, f"{out}-{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize("order", ["first", "second"])
def test_two_ranks_step_as_one_process_on_both_shares(order, tmp_path):
    mp.spawn(_rank, args=(_free_port(), order, str(tmp_path / "r")), nprocs=2)
    model, train, val = _model_and_data()
    grads, weights = _steps(model, train, val, order, Ranks())
    for rank in (0, 1):
        got_grads, got_weights = torch.load(tmp_path / f"r-{rank}.pt", weights_only=True)
        for a, b in zip(got_grads + got_weights, grads + weights):
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-7), (a - b).abs().max()


def torchrun(*args, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_search_and_train_under_torchrun(tmp_path):
    data = tmp_path / "synthetic"
    torchrun(ROOT / "search.py", "--config", SMOKE, "--data-dir", data, "--out", "search", "--genotype-out",
             "g.yaml", "--progress", "false", cwd=tmp_path)
    run = tmp_path / "search"
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # rank 0 alone writes
    assert (tmp_path / "g.yaml").is_file() and '"status": "finished"' in (run / "run.json").read_text()
    assert not (tmp_path / "runs").exists()

    done = torchrun(ROOT / "train_final.py", "--config", SMOKE, "--genotype", V2, "--data-dir", data, "--out",
                    "train", "--epochs", "1", "--progress", "false", cwd=tmp_path)
    assert done.stdout.count("epoch 1/1:") == 1  # one log: the other rank prints nothing
    torchrun(ROOT / "train_final.py", "--resume", "train", "--epochs", "2", "--progress", "false", cwd=tmp_path)
    train = tmp_path / "train"
    assert torch.load(train / "last.pt", weights_only=True)["epoch"] == 1
    assert (train / "metrics.json").is_file() and len(list(train.glob("events.out.tfevents.*"))) == 2
    # The validation scores gathered from both ranks are the network's scores of the val split, in its order.
    from darts_nexp.engine.study import open_trained

    trained = open_trained(train, "test", torch.device("cpu"))
    best = trained.checkpoint
    _, scores, _ = predict(load_model(best), trained.batches(trained.splits.val, 16))
    assert np.allclose(best["val"]["scores"].numpy(), scores, atol=1e-5)



def test_several_searches_under_torchrun_are_refused_with_what_to_do(tmp_path, monkeypatch, capsys):
    from darts_nexp.cli.search import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as stop:
        main(["--config", SMOKE, "--out", str(tmp_path / "multi"), "--search-seeds", "0", "1"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "launch one torchrun search per seed" in err and "Traceback" not in err
    assert not (tmp_path / "multi").exists()
