"""The supernet: mixed ops weigh every op, every weight and alpha learns, genotypes follow the DARTS rules."""
import pytest
import torch

from darts_nexp.space import PRIMITIVES, create_op, derive_genotype
from darts_nexp.supernet import MixedOp, SearchNetwork


def tiny(**kw):
    args = dict(num_classes=2, in_chans=1, init_channels=4, layers=3, nodes=4, stem="cifar", stem_multiplier=2)
    return SearchNetwork(**{**args, **kw})


@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_with_one_hot_weights_is_that_op(name, stride):
    torch.manual_seed(0)
    mixed = MixedOp(4, stride).train()
    weights = torch.zeros(len(PRIMITIVES))
    weights[PRIMITIVES.index(name)] = 1.0
    x = torch.randn(2, 4, 9, 10)
    out = mixed(x, weights)
    assert out.shape == (2, 4, -(-9 // stride), -(-10 // stride))
    if name == "none":
        assert torch.count_nonzero(out) == 0
        return
    op = mixed.ops[mixed.names.index(name)]  # the same modules, called the plain way (own ReLU)
    expected = op(x)
    if name == "skip_connect" and stride == 1:
        assert torch.equal(out, expected)
    else:  # the weight is multiplied in inside BatchNorm's kernel, which rounds otherwise than a BatchNorm alone
        assert torch.allclose(out, expected, rtol=1e-5, atol=1e-6)
    if name.endswith("pool_3x3"):  # followed by BN(affine=False): zero mean, unit variance per channel
        assert expected.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert not any(p.requires_grad and p.shape == () for p in mixed.parameters())


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("aux_skip", [0.0, 0.3])
def test_mixed_op_is_the_weighted_sum_of_its_ops(stride, aux_skip):
    """DARTS's mixed op, eq. 2: sum_k w_k o_k(x), plus aux_skip * skip(x) with the DARTS- auxiliary skip. The output
    and the gradients of x, of the weights and of every op's parameters equal those of the sum computed op by op."""
    torch.manual_seed(0)
    mixed = MixedOp(4, stride).train()
    mixed.aux_skip = aux_skip
    x = torch.randn(4, 4, 9, 10, requires_grad=True)
    weights = torch.randn(len(PRIMITIVES)).softmax(0).requires_grad_()
    skip = mixed.ops[mixed.names.index("skip_connect")]
    expected = sum(weights[k] * op(x) for k, op in zip(mixed.index, mixed.ops)) + aux_skip * skip(x)
    out = mixed(x, weights)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    inputs = [x, weights, *mixed.parameters()]
    torch.testing.assert_close(torch.autograd.grad(out, inputs, g), torch.autograd.grad(expected, inputs, g),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_the_mixed_op_keeps_no_batchnorm_output_for_its_backward(stride):
    """Each op's weight is multiplied in as its last BatchNorm's affine weight, whose backward needs only the
    BatchNorm's input: `weight * BN(h)` would keep every op's output too, a fifth of a step's saved tensors."""
    torch.manual_seed(0)
    mixed = MixedOp(8, stride).train()
    x = torch.randn(2, 8, 8, 8, requires_grad=True)
    weights = torch.randn(len(PRIMITIVES)).softmax(0).requires_grad_()
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(type(t.grad_fn).__name__) or t, lambda t: t):
        mixed(x, weights)
    assert "ConvolutionBackward0" in kept and "NativeBatchNormBackward0" not in kept


def test_grad_checkpointing_keeps_a_fraction_of_what_a_forward_pass_keeps():
    """With grad checkpointing a training forward keeps each op's input, not its activations: the tensors saved
    for the backward pass outside the recomputed ops come to a small part of the plain supernet's."""
    torch.manual_seed(0)
    model = SearchNetwork(num_classes=2, in_chans=1, init_channels=4, layers=3, stem_multiplier=2)
    x = torch.randn(4, 1, 16, 16)
    kept = {}
    for on in (False, True):
        model.set_grad_checkpointing(on)
        sizes = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            model(x)
        kept[on] = sum(sizes)
    assert kept[True] < 0.1 * kept[False], kept


def test_mixed_op_builds_ops_without_affine_and_skips_none():
    mixed = MixedOp(4, 1)
    assert "none" not in mixed.names and len(mixed.ops) == len(PRIMITIVES) - 1
    bns = [m for m in mixed.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not bn.affine for bn in bns)
    assert sum(p.numel() for p in mixed.parameters()) == sum(
        p.numel() for n in PRIMITIVES for p in create_op(n, 4, 1, affine=False).parameters())


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_backward_reaches_every_weight_and_alpha(stem):
    torch.manual_seed(0)
    model = tiny(stem=stem)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 1, 24, 24)), torch.tensor([0, 1, 0, 1]))
    loss.backward()
    names = {id(p): n for n, p in model.named_parameters()}
    for p in model.weights() + model.alphas():
        assert p.grad is not None and p.grad.abs().sum() > 0, names[id(p)]


def test_parameter_groups_are_disjoint_and_complete():
    model = tiny()
    w, a = model.weights(), model.alphas()
    assert {id(p) for p in w}.isdisjoint(id(p) for p in a)
    assert len(w) + len(a) == len(list(model.parameters()))
    assert model.alpha_normal.shape == model.alpha_reduce.shape == (14, len(PRIMITIVES))
    assert model.alpha_normal.abs().max() < 1e-2  # 1e-3 * N(0, 1)


def test_full_resolution_with_imagenet_stem():
    model = tiny(stem="imagenet").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 267, 275)).shape == (1, 2)


def test_states_round_trip_and_keep_alphas_apart():
    a, b = tiny(), tiny()
    assert not any(k.startswith("alpha") for k in a.weight_state())
    assert set(a.arch_state()) == {"alpha_normal", "alpha_reduce"}
    b.load_states(a.weight_state(), a.arch_state())
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.genotype() == b.genotype()


def _row(strengths: dict) -> list[float]:
    return [strengths.get(p, 0.0) for p in PRIMITIVES]


def test_derivation_keeps_top_two_edges_and_never_none():
    alpha = torch.zeros(14, len(PRIMITIVES))
    # node 2 (rows 0, 1): `none` dominates row 0 but only non-none weights rank edges
    alpha[0] = torch.tensor(_row({"none": 9.0, "sep_conv_3x3": 1.0}))
    alpha[1] = torch.tensor(_row({"max_pool_3x3": 2.0}))
    # node 3 (rows 2, 3, 4): the edge from node 2 and from input 0 are strongest
    alpha[2] = torch.tensor(_row({"dil_conv_5x5": 3.0}))
    alpha[3] = torch.tensor(_row({"skip_connect": 0.5}))
    alpha[4] = torch.tensor(_row({"avg_pool_3x3": 4.0}))
    # node 5 (rows 9..13): inputs 3 and 4 (rows 12, 13) win
    alpha[12] = torch.tensor(_row({"sep_conv_5x5": 5.0}))
    alpha[13] = torch.tensor(_row({"none": 2.0, "dil_conv_3x3": 6.0}))
    g = derive_genotype(alpha, alpha, nodes=4)
    assert g.normal[0:2] == (("max_pool_3x3", 1), ("sep_conv_3x3", 0))
    assert g.normal[2:4] == (("avg_pool_3x3", 2), ("dil_conv_5x5", 0))
    assert g.normal[6:8] == (("dil_conv_3x3", 4), ("sep_conv_5x5", 3))
    assert all(op != "none" for op, _ in g.normal + g.reduce)
    assert g.normal_concat == (2, 3, 4, 5) and g.reduce == g.normal
    # `none` is left out of the choice but not of the softmax: a none-dominated edge ranks last
    alpha[13, 0] = 20.0
    assert derive_genotype(alpha, alpha, nodes=4).normal[6:8] == (("sep_conv_5x5", 3), ("max_pool_3x3", 0))


def test_network_genotype_follows_its_alphas():
    model = tiny()
    with torch.no_grad():
        model.alpha_normal.zero_()
        model.alpha_normal[:, PRIMITIVES.index("sep_conv_3x3")] = 1.0
        model.alpha_reduce.zero_()
        model.alpha_reduce[:, PRIMITIVES.index("max_pool_3x3")] = 1.0
    g = model.genotype()
    assert {op for op, _ in g.normal} == {"sep_conv_3x3"} and {op for op, _ in g.reduce} == {"max_pool_3x3"}
    g.validate()


@pytest.mark.parametrize("partial", [1, 2])
def test_fused_convolutions_give_the_plain_supernet_outputs_and_gradients(partial):
    """Odd input size, normal and reduction cells: outputs, every weight gradient, every alpha gradient and the
    BatchNorm statistics of the fused supernet equal the plain one's to float32 rounding."""
    torch.manual_seed(0)
    plain = SearchNetwork(num_classes=2, in_chans=1, init_channels=4, layers=3, stem_multiplier=2,
                          partial_channels=partial)
    fused = SearchNetwork(**plain.model_args)
    fused.load_state_dict(plain.state_dict())
    fused.fuse_convolutions()
    x, y = torch.randn(4, 1, 13, 11), torch.tensor([0, 1, 1, 0])
    results = []
    for net in (plain, fused):
        logits = net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, net.weights() + net.alphas(), allow_unused=True, materialize_grads=True)
        results.append((logits, grads, [b.clone() for b in net.buffers()]))
    (a, grads_a, buf_a), (b, grads_b, buf_b) = results
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(g, h, rtol=1e-4, atol=1e-6) for g, h in zip(grads_a, grads_b))
    assert all(torch.allclose(g, h, rtol=1e-5, atol=1e-6) for g, h in zip(buf_a, buf_b))
    assert sum(g.abs().sum() for g in grads_b) > 0
    assert len(fused.state_dict()) == len(plain.state_dict())  # no new parameters or buffers
