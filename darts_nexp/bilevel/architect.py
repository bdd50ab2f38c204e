"""Architecture gradients of DARTS (Liu et al., 2018, section 2.3, eqs. 3-8).

DARTS solves  min_alpha L_val(w*(alpha), alpha)  s.t.  w*(alpha) = argmin_w L_train(w, alpha)  and approximates
w*(alpha) by one virtual step of the weight optimiser (SGD with momentum mu and weight decay lambda, learning rate eta):

    w' = w - eta * (mu * buf + dL_train(w, alpha)/dw + lambda * w)                                  (virtual step)

First order (eta = 0) uses  grad_alpha = dL_val(w, alpha)/dalpha.
Second order (unrolled) differentiates through the virtual step:

    grad_alpha = dL_val(w', alpha)/dalpha - eta * d2L_train(w, alpha)/dalpha dw . v,   v = dL_val(w', alpha)/dw'

and the Hessian-vector product is a central finite difference with eps = 0.01 / ||v||:

    d2L_train/dalpha dw . v  ~  (g+ - g-) / (2 eps),   g+- = dL_train(w +- eps v, alpha)/dalpha.

With hvp="exact" the product is taken by double backward instead: d/dalpha (dL_train(w, alpha)/dw . v), one
forward and two backward passes in place of the two forward and two backward passes of the difference, and free of
its truncation and rounding error, at the memory of a graph kept for the second backward.

beta-DARTS (Ye et al., CVPR 2022) adds  lambda * mean over edges of logsumexp(alpha_edge)  to the architecture loss
(`beta_decay`, ramped by the search); its gradient, lambda * softmax(alpha) / edges, is added to either order's.
A `penalty` of the alphas alone (a latency-aware search's expected latency, ProxylessNAS's form) is added the same
way: it does not depend on the weights, so the unrolled step leaves it as it is.

Unlike the reference code, no model is ever copied: the virtual step and the two perturbations are applied in
place to the live weights, which are saved once and restored bit for bit afterwards (BatchNorm statistics too), and
the finite-difference passes ask autograd for alpha gradients only, so no weight gradient is computed there.

Under torchrun every gradient above is averaged over the ranks as soon as it is computed (`ranks.mean_`): the
training gradient of the virtual step, the validation gradients (d_alpha and v), and g+ and g-. Each rank then
holds the gradient of the whole global batch, and the same w', eps and alpha step.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..distributed import SINGLE, Ranks


class Architect:
    """Adam on the alphas of `model`, which must expose `weights()`, `alphas()` and `forward(x) -> logits`.

    order: "first" or "second". `loss_fn(logits, y)` defaults to cross-entropy. `autocast()` is the context of every
    forward pass (runtime.Amp.autocast: bf16 on CUDA); the loss and every gradient stay in float32. hvp: how the
    second order takes its Hessian-vector product, "difference" (the paper's) or "exact".
    """

    def __init__(self, model: torch.nn.Module, order: str = "second", lr: float = 3e-4,
                 betas: tuple[float, float] = (0.5, 0.999), weight_decay: float = 1e-3, loss_fn=F.cross_entropy,
                 ranks: Ranks = SINGLE, autocast=contextlib.nullcontext, hvp: str = "difference"):
        if order not in ("first", "second"):
            raise ValueError(f"unknown order {order!r}; valid orders are first, second")
        if hvp not in ("difference", "exact"):
            raise ValueError(f"unknown Hessian-vector product {hvp!r}; valid ones are difference, exact")
        self.model, self.order, self.loss_fn, self.ranks, self.autocast = model, order, loss_fn, ranks, autocast
        self.hvp = hvp
        self.optimizer = torch.optim.Adam(model.alphas(), lr=lr, betas=tuple(betas), weight_decay=weight_decay)
        self.beta_decay = 0.0  # the beta-DARTS lambda of the current epoch
        self.penalty = None  # a differentiable cost of the alphas alone, added to the loss (a latency term)

    def step(self, train_batch, val_batch, eta: float, weight_optimizer: torch.optim.SGD) -> float:
        """One Adam step on the alphas; returns the validation loss it saw."""
        loss, grads = self.gradient(train_batch, val_batch, eta, weight_optimizer)
        for a, g in zip(self.model.alphas(), grads):
            a.grad = g
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss

    def gradient(self, train_batch, val_batch, eta: float, weight_optimizer: torch.optim.SGD):
        """(validation loss, gradient of every alpha) for this order; weights and buffers end exactly as found.

        The buffers (BatchNorm running statistics) are restored too, so that the extra forward passes of the
        architecture step leave no trace on the network the weight step trains.
        """
        buffers = [b.detach().clone() for b in self.model.buffers()]
        try:
            if self.order == "first":
                loss, grads = self._loss_and_grad(val_batch, self.model.alphas())
            else:
                loss, grads = self.unrolled_grad(train_batch, val_batch, eta, weight_optimizer)
        finally:
            with torch.no_grad():
                for b, saved in zip(self.model.buffers(), buffers):
                    b.copy_(saved)
        if self.beta_decay or self.penalty is not None:
            grads = [g + r for g, r in zip(grads, self.regulariser_grad())]
        return loss, grads

    def regulariser_grad(self) -> list[torch.Tensor]:
        """Gradient of the terms that depend on the alphas alone: the beta-DARTS term, beta_decay * mean over the
        edges of every alpha matrix of logsumexp (the edge betas of PC-DARTS, 1-D, are not regularised), and the
        `penalty` when there is one."""
        alphas = self.model.alphas()
        rows = torch.cat([a.logsumexp(dim=-1) for a in alphas if a.dim() == 2])
        total = self.beta_decay * rows.mean() + (self.penalty() if self.penalty is not None else 0.0)
        return list(torch.autograd.grad(total, alphas, allow_unused=True, materialize_grads=True))

    def _loss_and_grad(self, batch, wrt, low_precision: bool = True):
        """(this rank's loss, the gradient averaged over the ranks); the forward pass under `autocast` unless
        low_precision is False."""
        x, y = batch
        with self.autocast() if low_precision else contextlib.nullcontext():
            logits = self.model(x)
        loss = self.loss_fn(logits.float(), y)
        grads = torch.autograd.grad(loss, wrt, allow_unused=True, materialize_grads=True)
        self.ranks.mean_(grads)
        return loss.item(), grads

    def unrolled_grad(self, train_batch, val_batch, eta: float, weight_optimizer: torch.optim.SGD):
        """(L_val(w'), second-order gradient of every alpha), with the weights restored exactly afterwards."""
        weights, alphas = list(self.model.weights()), list(self.model.alphas())
        group = weight_optimizer.param_groups[0]
        mu, wd = group["momentum"], group["weight_decay"]
        saved = [w.detach().clone() for w in weights]
        try:
            # 1. virtual step: w <- w - eta * (mu * buf + g + wd * w)
            _, g = self._loss_and_grad(train_batch, weights)
            with torch.no_grad():
                for w, gw, w0 in zip(weights, g, saved):
                    step = gw.add(w0, alpha=wd)
                    buf = weight_optimizer.state.get(w, {}).get("momentum_buffer")
                    if buf is not None:
                        step.add_(buf, alpha=mu)
                    w.add_(step, alpha=-eta)
            del g
            # 2. dL_val(w', alpha)/dalpha and v = dL_val(w', alpha)/dw' from one backward pass
            loss, grads = self._loss_and_grad(val_batch, alphas + weights)
            d_alpha, v = grads[:len(alphas)], grads[len(alphas):]
            if self.hvp == "exact":  # at w itself: the difference below sets w0 +- eps v on its own
                with torch.no_grad():
                    for w, w0 in zip(weights, saved):
                        w.copy_(w0)
                return loss, [da - eta * h for da, h in zip(d_alpha, self._exact_hvp(train_batch, weights, v))]
            eps = 0.01 / torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in v])).item()
            # 3. g+ and g- at w +- eps v: alpha gradients only, in float32 always. The two points are 0.01 apart
            # in weight space; in bf16 (3 significant digits) their difference drowns in rounding: measured on a
            # small supernet, the bf16 correction term kept a cosine of only 0.2-0.6 with the float32 one.
            g_pm = []
            for sign in (1.0, -1.0):
                with torch.no_grad():
                    for w, w0, vw in zip(weights, saved, v):
                        w.copy_(w0).add_(vw, alpha=sign * eps)
                g_pm.append(self._loss_and_grad(train_batch, alphas, low_precision=False)[1])
        finally:
            with torch.no_grad():
                for w, w0 in zip(weights, saved):
                    w.copy_(w0)
        scale = eta / (2 * eps)
        return loss, [da - scale * (gp - gm) for da, gp, gm in zip(d_alpha, *g_pm)]

    def _exact_hvp(self, train_batch, weights, v) -> list[torch.Tensor]:
        """d2L_train(w, alpha)/dalpha dw . v by double backward, averaged over the ranks; float32, like the
        difference's passes."""
        x, y = train_batch
        loss = self.loss_fn(self.model(x).float(), y)
        g = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True, materialize_grads=True)
        dot = sum((gw * vw).sum() for gw, vw in zip(g, v))
        hv = torch.autograd.grad(dot, self.model.alphas(), allow_unused=True, materialize_grads=True)
        self.ranks.mean_(hv)
        return hv
