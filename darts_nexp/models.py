"""One factory for every network that darts-nexp train trains: the DARTS network of a genotype, or any torchvision
classification model by its torchvision name (timm's `create_model` idea: a name and keywords build the model, and
the checkpoint records the name and keywords that rebuild it).

    create_model("darts", genotype=g, init_channels=16, layers=8)
    create_model("resnet18", pretrained="imagenet")

Every model maps (B, in_chans, H, W) to (B, num_classes) logits and offers what training and the tools need:
`forward_train` (logits, auxiliary logits or None), `spec()` (what rebuilds it), and `classifier`, the final layer,
whose input is the penultimate feature vector (`penultimate`) and whose parameters form the "head" that fine-tuning
trains at its own rate (`split_parameters`).

torchvision models are adapted the way timm adapts them: the first convolution's RGB filters are summed into one
grayscale filter (the network then answers a gray image exactly as it answered that image copied into R, G and B),
and the 1000-class layer is replaced by a fresh one of `num_classes` outputs.
"""
from __future__ import annotations

import socket
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn as nn
import torchvision

from .errors import UserError
from .final import FinalNetwork
from .space import Genotype

DARTS = "darts"
IMAGENET_CLASSES = 1000
# A download that cannot reach its server should fail in seconds, not hang on a firewall.
DOWNLOAD_TIMEOUT_S = 30


def torchvision_names() -> list[str]:
    """The classification models of the installed torchvision, by the names its `get_model` takes."""
    return sorted(torchvision.models.list_models(module=torchvision.models))


def model_names() -> list[str]:
    return [DARTS] + torchvision_names()


def check_model_name(name: str) -> None:
    if name not in model_names():
        close = [n for n in torchvision_names() if n.startswith(name.rstrip("0123456789_")[:3])]
        hint = f" (did you mean {', '.join(close[:6])}?)" if close and name else ""
        raise UserError(f"--model {name!r} is not a model of darts-nexp{hint}; valid names: {', '.join(model_names())}")


class TorchvisionNet(nn.Module):
    """A torchvision classifier with a grayscale first convolution and a `num_classes` head (see the module text).

    `net` is the torchvision model itself, so its state dict keys are torchvision's behind a `net.` prefix.
    """

    def __init__(self, name: str, num_classes: int = 2, in_chans: int = 1, pretrained: str = "none"):
        super().__init__()
        check_model_name(name)
        self.name, self.model_args = name, {"num_classes": num_classes, "in_chans": in_chans}
        kwargs = {}
        if name in ("inception_v3", "googlenet"):  # their ImageNet weights include the auxiliary classifiers
            kwargs = {"aux_logits": pretrained != "none", "init_weights": pretrained == "none"}
        self.net = torchvision.models.get_model(name, weights=None, **kwargs)
        if pretrained != "none":
            _load_imagenet_state(self.net, name, pretrained)
        self.stem_name = _adapt_first_conv(self.net, in_chans)
        self.head_name = _replace_head(self.net, num_classes)

    @property
    def classifier(self) -> nn.Module:
        return self.net.get_submodule(self.head_name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out.logits if hasattr(out, "logits") else out  # inception/googlenet: namedtuple in training mode

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.forward(x), None

    def spec(self) -> dict:
        return {"name": self.name, "args": dict(self.model_args), "genotype": None}


def _first(model: nn.Module, match) -> str | None:
    return next((name for name, m in model.named_modules() if match(m)), None)


def _last(model: nn.Module, match) -> str | None:
    names = [name for name, m in model.named_modules() if match(m)]
    return names[-1] if names else None


def _adapt_first_conv(net: nn.Module, in_chans: int) -> str:
    """Make the first RGB convolution grayscale when in_chans is 1 (3 keeps it); returns its name."""
    name = _first(net, lambda m: isinstance(m, nn.Conv2d) and m.in_channels == 3)
    if name is None:
        raise UserError(f"{type(net).__name__} has no RGB convolution to adapt to {in_chans} channel(s)")
    if in_chans == 3:
        return name
    old = net.get_submodule(name)
    new = nn.Conv2d(1, old.out_channels, old.kernel_size, old.stride, old.padding, old.dilation, old.groups,
                    bias=old.bias is not None, padding_mode=old.padding_mode)
    with torch.no_grad():
        new.weight.copy_(old.weight.sum(dim=1, keepdim=True))
        if old.bias is not None:
            new.bias.copy_(old.bias)
    net.set_submodule(name, new)
    return name


def _replace_head(net: nn.Module, num_classes: int) -> str:
    """Replace the last 1000-class layer (a Linear, or squeezenet's 1x1 convolution) by a fresh `num_classes` one."""
    name = _last(net, lambda m: (isinstance(m, nn.Linear) and m.out_features == IMAGENET_CLASSES)
                 or (isinstance(m, nn.Conv2d) and m.out_channels == IMAGENET_CLASSES))
    if name is None:
        raise UserError(f"{type(net).__name__} has no 1000-class layer to replace by a {num_classes}-class head")
    old = net.get_submodule(name)
    if isinstance(old, nn.Linear):
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    else:
        new = nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride, old.padding)
    net.set_submodule(name, new)
    return name


def _hub_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def _load_imagenet_state(net: nn.Module, name: str, pretrained: str) -> None:
    """Load torchvision's ImageNet weights ("imagenet", through the torch hub cache) or a local state dict (a path)
    into the unadapted model; a state dict of another architecture names the first key that does not fit."""
    if pretrained == "imagenet":
        try:
            weights = torchvision.models.get_model_weights(name).DEFAULT
        except ValueError:
            raise UserError(f"torchvision has no pretrained weights for {name}; use --pretrained none") from None
        file = _hub_file(weights.url)
        before = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            state = weights.get_state_dict(progress=True, check_hash=True)
        except (urllib.error.URLError, OSError, RuntimeError) as e:
            raise UserError(f"the ImageNet weights of {name} are not at {file} and could not be downloaded from "
                            f"{weights.url} ({type(e).__name__}: {str(e)[:80]}); download that file on a machine "
                            f"with internet and copy it to {file} (or set TORCH_HOME), or pass --pretrained "
                            f"PATH") from None
        finally:
            socket.setdefaulttimeout(before)
        where = f"the ImageNet weights {file}"
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise UserError(f"--pretrained {pretrained}: no such file; pass none, imagenet, or the path of a "
                            f"torchvision {name} state dict (.pth)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: torch raises several unrelated types
            raise UserError(f"--pretrained {path} cannot be read as a state dict ({type(e).__name__}); pass a "
                            f"file saved with torch.save(model.state_dict(), PATH)") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise UserError(f"--pretrained {path} holds a {type(state).__name__}, not a state dict")
        where = str(path)
    _check_state(net, state, name, where)
    net.load_state_dict(state)


def _check_state(net: nn.Module, state: dict, name: str, where: str) -> None:
    expected = net.state_dict()
    hint = f"it is not a torchvision {name} (RGB first convolution, 1000-class head) state dict"
    for key, value in expected.items():
        if key not in state:
            raise UserError(f"{where} has no {key!r}, which {name} needs: {hint}")
        if not isinstance(state[key], torch.Tensor) or state[key].shape != value.shape:
            shape = tuple(state[key].shape) if isinstance(state[key], torch.Tensor) else type(state[key]).__name__
            raise UserError(f"{where}: {key!r} is {shape}, {name} needs {tuple(value.shape)}: {hint}")
    extra = [k for k in state if k not in expected]
    if extra:
        raise UserError(f"{where} holds {extra[0]!r}, which {name} does not have: {hint}")


def create_model(name: str, num_classes: int = 2, in_chans: int = 1, pretrained: str = "none",
                 genotype: Genotype | None = None, **darts_args) -> nn.Module:
    """The network `name` ("darts" or a torchvision name). "darts" needs `genotype` and takes FinalNetwork's
    keywords (init_channels, layers, stem, ...); torchvision models take `pretrained` ("none", "imagenet" or the
    path of a torchvision state dict)."""
    if name == DARTS:
        if genotype is None:
            raise UserError("the darts model needs a genotype; pass --genotype FILE (for example "
                            "genotypes/darts_v2.yaml)")
        if pretrained != "none":
            raise UserError("--pretrained is for torchvision models; a DARTS network trains from scratch")
        return FinalNetwork(genotype, num_classes=num_classes, in_chans=in_chans, **darts_args)
    return TorchvisionNet(name, num_classes, in_chans, pretrained)


def load_model(checkpoint: dict) -> nn.Module:
    """Rebuild a trained network from a training checkpoint (runs.load_checkpoint), weights loaded, in eval mode."""
    spec = checkpoint["model"]
    name = spec.get("name")
    if name not in model_names():
        raise UserError(f"the checkpoint holds a {name!r} network, which this darts-nexp and torchvision "
                        f"{torchvision.__version__} cannot build")
    genotype = Genotype.from_dict(spec["genotype"], where="checkpoint genotype") if name == DARTS else None
    model = create_model(name, genotype=genotype, **spec["args"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(backbone, head): the head is the classifier (and the DARTS auxiliary head), what fine-tuning trains first;
    the backbone is everything else."""
    heads = [model.classifier] + ([model.aux_head] if getattr(model, "aux_head", None) is not None else [])
    head = [p for h in heads for p in h.parameters()]
    ids = {id(p) for p in head}
    return [p for p in model.parameters() if id(p) not in ids], head


def penultimate(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """((B, D) features, (B, num_classes) logits) of one forward pass. The features are the input of the
    classifier, average-pooled where that is a feature map (squeezenet's)."""
    seen = []
    hook = model.classifier.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        logits = model(x)
    finally:
        hook.remove()
    feats = seen[-1]
    return (feats.mean(dim=(2, 3)) if feats.dim() == 4 else feats.flatten(1)), logits


def cam_layer(model: nn.Module, image_size: tuple[int, int], in_chans: int) -> tuple[str, nn.Module]:
    """(name, module) of the last feature map of the network: the last module, in the order a forward pass finishes
    them, that runs once and gives a (B, C, h, w) map with more than one pixel. That is the last cell of a DARTS
    network, layer4 of a ResNet and `features` of DenseNet, VGG and EfficientNet: where Grad-CAM looks."""
    finished, calls = [], {}

    def note(module, inputs, output):
        calls[module] = calls.get(module, 0) + 1
        if isinstance(output, torch.Tensor) and output.dim() == 4 and output.shape[2] * output.shape[3] > 1:
            finished.append(module)

    names = {m: n for n, m in model.named_modules() if n}
    hooks = [m.register_forward_hook(note) for m in names]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_chans, *image_size, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    once = [m for m in finished if calls[m] == 1]
    if not once:
        raise UserError(f"{type(model).__name__} has no feature map at {image_size[0]}x{image_size[1]} for Grad-CAM")
    return names[once[-1]], once[-1]
