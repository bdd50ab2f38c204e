"""The final network: the paper's parameter counts to the parameter, any input size, every parameter trained."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from darts_nexp.errors import UserError
from darts_nexp.final import FinalNetwork, drop_path, multiply_adds, param_count
from darts_nexp.models import load_model
from darts_nexp.final.loss import Criterion
from darts_nexp.final.trainer import train_epoch
from darts_nexp.runtime import Amp
from darts_nexp.loops import predict
from darts_nexp.metrics import auc
from darts_nexp.space import Genotype

ROOT = Path(__file__).resolve().parents[1]
GENOTYPE_FILES = sorted(ROOT.glob("genotypes/*.yaml"))


def genotype(name: str) -> Genotype:
    return Genotype.load(ROOT / "genotypes" / f"{name}.yaml")


def uniform(op_normal: str, op_reduce: str) -> Genotype:
    """A genotype whose cells use one operation everywhere, on both cell inputs and the nodes before."""
    edges = lambda op: tuple((op, src) for node in range(4) for src in (node, node + 1))  # noqa: E731
    return Genotype(edges(op_normal), (2, 3, 4, 5), edges(op_reduce), (2, 3, 4, 5), name=f"all-{op_normal}")


@pytest.mark.parametrize("name,kwargs,expected", [
    ("darts_v2", dict(stem="cifar", layers=20, init_channels=36, num_classes=10), 3_349_342),
    ("darts_v2", dict(stem="imagenet", layers=14, init_channels=48, num_classes=1000), 4_718_752),
    ("darts_v2", dict(stem="imagenet", layers=14, init_channels=48, num_classes=2), 3_951_290),
    ("darts_v1", dict(stem="cifar", layers=20, init_channels=36, num_classes=10), 3_169_414),
])
def test_parameter_counts_match_the_reference(name, kwargs, expected):
    model = FinalNetwork(genotype(name), in_chans=3, **kwargs)
    assert param_count(model) == expected
    assert sum(p.numel() for p in model.parameters()) > expected  # the auxiliary head exists but is not counted


def test_multiply_adds_count_convs_and_linear_layers():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    # 8x8 input: 4*64 outputs x 1 x 9, then 4*16 outputs x 1 x 9 (depthwise), then 64 x 3
    assert multiply_adds(model, (8, 8), 1) == 4 * 64 * 9 + 4 * 16 * 9 + 64 * 3


def test_imagenet_darts_v2_multiply_adds_near_the_paper():
    model = FinalNetwork(genotype("darts_v2"), num_classes=1000, in_chans=3)
    assert 520e6 < multiply_adds(model, (224, 224), 3) < 545e6  # the paper's 574M counts a little more


@pytest.mark.parametrize("stem,size", [("imagenet", (224, 224)), ("imagenet", (267, 275)), ("imagenet", (64, 64)),
                                       ("cifar", (64, 64))])
def test_forward_backward_any_size(stem, size):
    torch.manual_seed(0)
    model = FinalNetwork(genotype("darts_v2"), in_chans=1, init_channels=4, layers=3, stem=stem,
                         drop_path_rate=0.2)
    x = torch.randn(2, 1, *size)
    logits, aux = model.forward_train(x)
    assert logits.shape == aux.shape == (2, 2)
    (logits.sum() + aux.sum()).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing
    model.eval()
    assert model(x).shape == (2, 2)


def one_train_step(model: FinalNetwork, size=(32, 32)) -> None:
    """Train one SGD step on random images; every parameter must get a gradient and the loss must be finite."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 1, *size), torch.tensor([0, 1, 0, 1])
    before = [p.detach().clone() for p in model.parameters()]
    logits, aux = model.forward_train(x)
    loss = nn.functional.cross_entropy(logits, y) + 0.4 * nn.functional.cross_entropy(aux, y)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    opt.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=[p.stem for p in GENOTYPE_FILES])
def test_every_genotype_file_builds_and_trains(path):
    torch.manual_seed(0)
    one_train_step(FinalNetwork(Genotype.load(path), init_channels=4, layers=4, drop_path_rate=0.3))


@pytest.mark.parametrize("normal,reduce", [("skip_connect", "skip_connect"), ("max_pool_3x3", "avg_pool_3x3"),
                                           ("avg_pool_3x3", "max_pool_3x3"), ("skip_connect", "max_pool_3x3")])
def test_collapsed_genotypes_still_build_and_train(normal, reduce):
    torch.manual_seed(0)
    model = FinalNetwork(uniform(normal, reduce), init_channels=4, layers=5, drop_path_rate=0.3)
    one_train_step(model)


def test_drop_path_drops_whole_images_and_keeps_the_mean():
    torch.manual_seed(0)
    y = drop_path(torch.ones(4000, 2, 3, 3), 0.25)
    per_image = y.flatten(1)
    assert set(per_image.unique().tolist()) == {0.0, torch.tensor(1 / 0.75).item()}
    assert (per_image == per_image[:, :1]).all()  # an image is dropped whole or kept whole
    assert abs(y.mean().item() - 1.0) < 0.05


def test_drop_path_spares_identity_and_is_off_in_eval():
    torch.manual_seed(0)
    model = FinalNetwork(uniform("skip_connect", "max_pool_3x3"), init_channels=4, layers=3, drop_path_rate=0.5)
    normal, reduce = model.body.cells[0], model.body.cells[1]
    assert reduce.reduction and not normal.reduction
    s0, s1 = model.body.stem(torch.randn(8, 1, 32, 32))
    # Skips at stride 1 are identities, never dropped: the all-skip cell is deterministic in training.
    assert torch.equal(normal(s0, s1, 0.5), normal(s0, s1, 0.5))
    t = normal(s0, s1, 0.5)
    assert not torch.equal(reduce(s1, t, 0.5), reduce(s1, t, 0.5))  # pooling edges are dropped at random
    model.eval()
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(model(x), model(x))


def test_checkpoint_round_trip_rebuilds_the_same_network():
    torch.manual_seed(0)
    model = FinalNetwork(genotype("darts_v1"), init_channels=4, layers=3).eval()
    x = torch.randn(2, 1, 40, 36)
    ckpt = {"model": model.spec(), "state_dict": model.state_dict()}
    assert torch.equal(load_model(ckpt)(x), model(x))
    assert isinstance(ckpt["model"]["genotype"], dict)  # data, not YAML text


def test_unequal_concat_is_a_clear_error():
    g = genotype("darts_v2")
    bad = Genotype(g.normal, (2, 3, 4, 5), g.reduce, (4, 5), name="bad")
    with pytest.raises(UserError, match="normal_concat and reduce_concat"):
        FinalNetwork(bad)


def test_training_learns_an_easy_task():
    """A bright square marks a defect: a few epochs of the recipe must separate the classes."""
    def batches(n, seed):
        gen = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(n):
            y = torch.randint(0, 2, (16,), generator=gen)
            x = torch.randn(16, 1, 16, 16, generator=gen)
            x[:, :, 4:12, 4:12] += 2.0 * y[:, None, None, None]
            out.append((x, y))
        return out

    torch.manual_seed(0)
    model = FinalNetwork(genotype("darts_v2"), init_channels=8, layers=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=3e-5)
    train, val = batches(12, 0), batches(4, 1)
    for epoch in range(3):
        stats = train_epoch(model, train, opt, Criterion("ce", 0.1), 0.4, 5.0, Amp(torch.device("cpu"), False),
                            epoch=epoch + 1, progress=False)
    _, scores, labels = predict(model, val)
    assert stats["train_auc"] > 0.9 and auc(labels, scores) > 0.9


def test_every_batchnorm_gets_a_dense_gradient_channels_last():
    """A node's gradient arrives as a slice of the cell's concatenation; the cell makes it dense once, so that no
    BatchNorm backward gets a strided gradient (torch's CPU kernel ran those about twice as slowly)."""
    from darts_nexp.space.ops import BatchNorm2d

    torch.manual_seed(0)
    model = FinalNetwork(genotype("darts_v2"), init_channels=8, layers=3, stem="cifar", auxiliary=False)
    model.to(memory_format=torch.channels_last)
    dense = []

    def record(module, inputs, out):
        out.register_hook(lambda g: dense.append(g.is_contiguous(memory_format=torch.channels_last)))
    for m in model.modules():
        if isinstance(m, BatchNorm2d):
            m.register_forward_hook(record)
    model(torch.randn(4, 1, 16, 16).contiguous(memory_format=torch.channels_last)).sum().backward()
    assert dense and all(dense)


def test_grad_checkpointing_gives_the_same_gradients_with_drop_path_and_the_auxiliary_head():
    """Each op run again in the backward pass: the same drop-path draws (checkpointing replays the random state),
    so the gradients (through both heads) and the running statistics are bit for bit the plain network's."""
    torch.manual_seed(0)
    plain = FinalNetwork(genotype("darts_v2"), init_channels=8, layers=3, stem="cifar", drop_path_rate=0.3)
    plain.to(memory_format=torch.channels_last)
    recomputed = FinalNetwork(genotype("darts_v2"), **plain.model_args).to(memory_format=torch.channels_last)
    recomputed.load_state_dict(plain.state_dict())
    recomputed.set_grad_checkpointing()
    x, y = torch.randn(4, 1, 16, 16).contiguous(memory_format=torch.channels_last), torch.tensor([0, 1, 1, 0])
    results = []
    for model in (plain, recomputed):
        torch.manual_seed(1)
        logits, aux = model.forward_train(x)
        nn.functional.cross_entropy(logits + 0.4 * aux, y).backward()
        results.append(([p.grad for p in model.parameters()], model.state_dict()))
    (g_plain, s_plain), (g_recomputed, s_recomputed) = results
    assert all(torch.equal(a, b) for a, b in zip(g_plain, g_recomputed))
    assert all(torch.equal(s_plain[k], s_recomputed[k]) for k in s_plain)
