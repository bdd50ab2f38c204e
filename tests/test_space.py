"""The search space: every op keeps channels and rounds odd sizes up; genotype files round-trip and fail clearly."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from darts_nexp.errors import UserError
from darts_nexp.space import PRIMITIVES, Genotype, create_op, plan_cells, reduction_layers
from darts_nexp.space.ops import BatchNorm2d, DilatedConv2d, FactorizedReduce, recomputing
from darts_nexp.space.skeleton import Stem

GENOTYPE_FILES = sorted(Path(__file__).resolve().parents[1].glob("genotypes/*.yaml"))


@pytest.mark.parametrize("name", PRIMITIVES)
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(16, 16), (267, 275), (9, 8)])
def test_op_keeps_channels_and_divides_size(name, stride, size):
    op = create_op(name, 6, stride, affine=True)
    y = op(torch.randn(2, 6, *size))
    assert y.shape == (2, 6, -(-size[0] // stride), -(-size[1] // stride))


@pytest.mark.parametrize("size", [(12, 12), (9, 8)])
def test_factorized_reduce_is_two_shifted_stride_2_convolutions(size):
    """The op slices before stride-1 convolutions (space/ops.py says why); the math is the paper's strided one."""
    op = FactorizedReduce(6, 8).double().train()
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    relu_x = torch.relu(x)
    shifted = F.pad(relu_x, (0, 1, 0, 1))[:, :, 1:, 1:]
    paths = [F.conv2d(relu_x, op.conv_1.weight, stride=2), F.conv2d(shifted, op.conv_2.weight, stride=2)]
    expected = F.batch_norm(torch.cat(paths, 1), None, None, op.bn.weight, op.bn.bias, training=True)
    torch.testing.assert_close(op(x), expected)


def test_channels_last_factorized_reduce_survives_its_backward_pass():
    """torch 2.14.1's channels-last weight gradient of a stride-2 1x1 conv with 4 input channels at 64x64 writes
    outside its buffer on AVX2 and AVX-512 CPUs, and the demo's search died of it; it runs in a child process under
    glibc's heap checks, so that a corruption fails this test instead of killing the suite."""
    code = ("import torch; from darts_nexp.space.ops import FactorizedReduce\n"
            "op = FactorizedReduce(4, 4).to(memory_format=torch.channels_last)\n"
            "for _ in range(5):\n"
            "    x = torch.randn(16, 4, 64, 64).contiguous(memory_format=torch.channels_last).requires_grad_()\n"
            "    op(x).sum().backward()\n")
    env = dict(os.environ, MALLOC_CHECK_="3", PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("size", [(12, 12), (9, 8), (7, 11)])
def test_a_strided_dilated_convolution_runs_on_the_grid_it_reads(kernel, size):
    """dil_conv on a reduction edge (stride 2, dilation 2) runs undilated on x[::2, ::2]: the same outputs and
    gradients as the strided dilated convolution, odd sizes included."""
    conv = DilatedConv2d(6, 6, kernel, 2, 2 * (kernel // 2), dilation=2, groups=6, bias=False).double()
    x = torch.randn(2, 6, *size, dtype=torch.float64, requires_grad=True)
    expected = F.conv2d(x, conv.weight, None, 2, 2 * (kernel // 2), 2, 6)
    y = conv(x)
    torch.testing.assert_close(y, expected)
    g = torch.randn_like(y)
    ours = torch.autograd.grad(y, (x, conv.weight), g)
    torch.testing.assert_close(ours, torch.autograd.grad(expected, (x, conv.weight), g))


@pytest.mark.parametrize("channels, default_format", [(4, True), (10, True), (8, False), (32, False)])
def test_batchnorm_takes_few_channels_last_channels_through_the_default_format(monkeypatch, channels,
                                                                               default_format):
    """Counts that fill no vector go through the default format (torch's channels-last CPU kernel is slow there),
    the others stay channels-last; either way the output, its format, the gradient and the running statistics are
    those of nn.BatchNorm2d."""
    seen, forward = [], torch.nn.BatchNorm2d.forward

    def recording(self, x):
        seen.append(x.is_contiguous())
        return forward(self, x)

    monkeypatch.setattr(torch.nn.BatchNorm2d, "forward", recording)
    ours, plain = BatchNorm2d(channels), torch.nn.BatchNorm2d(channels)
    plain.load_state_dict(ours.state_dict())
    x = torch.randn(4, channels, 16, 16).contiguous(memory_format=torch.channels_last).requires_grad_()
    y, expected = ours(x), plain(x)
    assert seen[0] is default_format
    assert y.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, expected)
    g = torch.randn_like(y)
    grads = [torch.autograd.grad(out, x, g) for out in (y, expected)]
    torch.testing.assert_close(*grads)
    torch.testing.assert_close(ours.state_dict(), plain.state_dict())


@pytest.mark.parametrize("affine, scaled, channels", [(True, False, 8), (False, True, 8), (False, True, 4)])
def test_a_recomputed_batchnorm_gives_the_same_output_and_leaves_its_statistics(affine, scaled, channels):
    """Grad checkpointing runs a training forward twice; in the second (`recomputing`) BatchNorm must give the same
    output, bit for bit, but not update its running statistics or count a second time."""
    torch.manual_seed(0)
    bn = BatchNorm2d(channels, affine=affine)
    x = torch.randn(4, channels, 8, 8).contiguous(memory_format=torch.channels_last)
    scale = torch.tensor(0.3) if scaled else None
    first = bn(x, scale=scale)
    after_first = {k: v.clone() for k, v in bn.state_dict().items()}
    assert not torch.equal(after_first["running_mean"], torch.zeros(channels))
    with recomputing:
        again = bn(x, scale=scale)
    assert torch.equal(again, first)
    assert all(torch.equal(v, after_first[k]) for k, v in bn.state_dict().items())
    bn(x, scale=scale)  # and outside it, the statistics move again
    assert not torch.equal(bn.running_mean, after_first["running_mean"])
    assert bn.num_batches_tracked == 2


@pytest.mark.parametrize("channels, channels_last", [(4, True), (8, True), (32, True), (8, False)])
def test_batchnorm_scale_is_a_weight_on_every_channel(channels, channels_last):
    """bn(x, scale=w) is w * bn(x), as the supernet's mixed op uses it: output, the gradients of x and w, and the
    running statistics, in training and in eval mode. At 8 and 32 channels channels-last, torch 2.14.1's kernel
    read a stride-0 (expanded) weight as dense memory and gave wrong outputs."""
    torch.manual_seed(0)
    ours, plain = BatchNorm2d(channels, affine=False), torch.nn.BatchNorm2d(channels, affine=False)
    x = torch.randn(4, channels, 16, 16)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    scale = torch.tensor(0.37, requires_grad=True)
    for train in (True, False):
        ours.train(train), plain.train(train)
        y, expected = ours(x, scale=scale), scale * plain(x)
        torch.testing.assert_close(y, expected)
        assert y.is_contiguous(memory_format=torch.channels_last) is channels_last
        g = torch.randn_like(y)
        # the scale's gradient sums 1024 x channels products: float32 rounding of about 1e-5
        torch.testing.assert_close(torch.autograd.grad(y, (x, scale), g), torch.autograd.grad(expected, (x, scale), g),
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(ours.state_dict(), plain.state_dict())


def test_unknown_op_lists_choices():
    with pytest.raises(ValueError, match="sep_conv_3x3"):
        create_op("conv_7x7", 4, 1, True)


def test_plan_cells_reductions_and_channels():
    specs = plan_cells(layers=8, C=16, stem="cifar")
    assert [s.index for s in specs if s.reduction] == [2, 5] == list(reduction_layers(8))
    assert specs[0].C_pp == specs[0].C_p == 48
    assert specs[3].reduction_prev and specs[3].C == 32
    assert specs[-1].C_out == 4 * 64
    im = plan_cells(layers=14, C=48, stem="imagenet")
    assert im[0].reduction_prev and im[0].C_pp == 48  # stem s0 is at twice the resolution of s1
    assert [s.index for s in im if s.reduction] == [4, 9]


@pytest.mark.parametrize("style,factor", [("cifar", 1), ("imagenet", 8)])
def test_stem_resolution(style, factor):
    s0, s1 = Stem(style, in_chans=1, C=8)(torch.randn(1, 1, 267, 275))
    assert s1.shape[-2:] == (-(-267 // factor), -(-275 // factor))


@pytest.mark.parametrize("path", GENOTYPE_FILES, ids=lambda p: p.name)
def test_genotype_files_round_trip(path, tmp_path):
    g = Genotype.load(path)
    assert g.nodes == 4 and g.name
    assert Genotype.load(g.save(tmp_path / "g.yaml")) == g


def test_published_darts_v2_matches_the_paper():
    g = Genotype.load(Path(__file__).resolve().parents[1] / "genotypes/darts_v2.yaml")
    assert g.normal[-1] == ("dil_conv_3x3", 2)
    assert g.reduce[:2] == (("max_pool_3x3", 0), ("max_pool_3x3", 1))
    assert g.normal_concat == g.reduce_concat == (2, 3, 4, 5)


GOOD = "normal: [[sep_conv_3x3, 0], [sep_conv_3x3, 1], [skip_connect, 0], [sep_conv_3x3, 2]]\n" \
       "reduce: [[max_pool_3x3, 0], [max_pool_3x3, 1], [skip_connect, 2], [avg_pool_3x3, 0]]\n"


@pytest.mark.parametrize("text,message", [
    ("normal: [[conv_9x9, 0], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]",
     "unknown operation 'conv_9x9'"),
    ("normal: [[none, 0], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]",
     "unknown operation 'none'"),
    ("normal: [[sep_conv_3x3, 2], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]",
     "node 2 may only take inputs 0..1"),
    ("normal: [[sep_conv_3x3, 0], [sep_conv_3x3, 1], [skip_connect, 0]]\nreduce: []", "3 edges"),
    ("normal: [[sep_conv_3x3, 0], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1], "
     "[skip_connect, 2], [avg_pool_3x3, 0]]", "same number of nodes"),
    ("normal: [[sep_conv_3x3, 0], [sep_conv_3x3, 1]]", "missing key"),
    (GOOD + "extra: 1\n", "unknown key"),
    (GOOD + "normal_concat: [2, 9]\n", "normal_concat"),
    ("normal: [sep_conv_3x3, 0\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
    ("normal: [[sep_conv_3x3], [sep_conv_3x3, 1]]\nreduce: [[max_pool_3x3, 0], [max_pool_3x3, 1]]",
     "write each edge as"),
])
def test_malformed_genotype_names_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as e:
        Genotype.load(path)
    assert str(path) in str(e.value)


def test_valid_genotype_without_concat_defaults_to_all_nodes(tmp_path):
    path = tmp_path / "two_nodes.yaml"
    path.write_text(GOOD)
    g = Genotype.load(path)
    assert g.nodes == 2 and g.normal_concat == (2, 3)


def test_missing_genotype_file(tmp_path):
    with pytest.raises(UserError, match="not found"):
        Genotype.load(tmp_path / "nope.yaml")
