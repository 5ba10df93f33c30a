"""The PyTorch model: an nn.Sequential of native modules, a native loss and torch.optim."""

from __future__ import annotations

import numpy as np
import torch
from netparity.backends.base import Batch, Binding, unique_natives
from netparity.backends.torch.layers import Ctx, build_layer, replacements
from netparity.backends.torch.layers.dropout import MaskedDropout
from netparity.backends.torch.layout import NCHW
from netparity.backends.torch.losses import make_loss
from netparity.backends.torch.optim import clip_gradients, describe, describe_clip, make_optimizer, make_scheduler
from netparity.spec.dropout import check_mask_names
from netparity.spec.model import ModelSpec
from netparity.spec.recipe import Recipe, l2_applies
from torch import nn


class TorchModel:
    def __init__(self, spec: ModelSpec, params: dict[str, np.ndarray], recipe: Recipe, dtype: str, device: str) -> None:
        self.spec, self.recipe = spec, recipe
        self.dtype, self.device = getattr(torch, dtype), torch.device(device)
        blocks, self.bindings = [], []
        for info in spec.infer():
            module, binds = build_layer(info.layer, Ctx(info.name + ".", info.in_shape, self.dtype, self.device))
            blocks.append(module)
            self.bindings += binds
        self.net = nn.Sequential(*blocks).to(device=self.device, dtype=self.dtype)
        self.dropouts = {m.canonical_name: m for m in self.net.modules() if isinstance(m, MaskedDropout)}
        self._load(params)
        trainable = unique_natives(self.bindings, lambda b: b.trainable)
        self.l2_params = unique_natives(self.bindings, lambda b: b.trainable and l2_applies(b.name))
        self.trainable = trainable
        self.loss_fn, loss_name = make_loss(recipe.loss)
        # a model without trainable parameters (pooling and Flatten, a lone Activation) still
        # runs: nothing is trained, and forward and loss are compared
        self.optimizer = make_optimizer(recipe.optimizer, trainable) if trainable else None
        self.scheduler, schedule_name = None, ""
        if self.optimizer is not None:
            self.scheduler, schedule_name = make_scheduler(recipe.lr_schedule, self.optimizer)
        self.implementation = {
            "layers": "torch.nn",
            "optimizer": describe(self.optimizer) if self.optimizer else "none (no trainable parameters)",
            "loss": loss_name,
            **replacements(spec, self.dtype, self.device),
        }
        if self.scheduler is not None:
            self.implementation["lr_schedule"] = schedule_name
        if recipe.clip is not None:
            self.implementation["clip"] = describe_clip(recipe.clip)

    @torch.no_grad()
    def _load(self, params: dict[str, np.ndarray]) -> None:
        for b in self.bindings:
            value = torch.from_numpy(np.ascontiguousarray(b.layout.to_native(params[b.name])))
            target = b.native if b.part is None else b.native[b.part]
            target.copy_(value.to(dtype=target.dtype))

    def _read(self, b: Binding, tensor: torch.Tensor | None) -> np.ndarray:
        if tensor is None:  # a parameter the loss does not reach has a zero gradient
            tensor = torch.zeros_like(b.native)
        return b.canonical(tensor.detach().cpu().numpy())

    def stage(self, x: np.ndarray, y: np.ndarray | None = None, masks: dict[str, np.ndarray] | None = None) -> Batch:
        if self.spec.integer_inputs:
            xt = torch.as_tensor(np.asarray(x), dtype=torch.int64)
        else:
            x = np.asarray(x)
            xt = torch.as_tensor(NCHW.to_native(x) if x.ndim == 4 else x, dtype=self.dtype)
        yt = None
        if y is not None:
            if self.recipe.loss.integer_targets:
                yt = torch.as_tensor(np.asarray(y), dtype=torch.int64)
            else:  # an image-shaped target is held NCHW, as the output it is compared with
                yt = torch.as_tensor(self._native(np.asarray(y)), dtype=self.dtype)
            yt = yt.to(self.device)
        masks = masks or {}
        check_mask_names(masks, self.dropouts, "torch")
        mt = {
            k: torch.as_tensor(self._native(np.asarray(m)), dtype=self.dtype, device=self.device)
            for k, m in masks.items()
        }
        return Batch(xt.to(self.device), yt, len(x), mt)

    def _native(self, a: np.ndarray) -> np.ndarray:
        return NCHW.to_native(a) if a.ndim == 4 else a

    def _load_masks(self, batch: Batch) -> None:
        for name, module in self.dropouts.items():
            module.mask = batch.masks.get(name)

    def _canonical(self, out: torch.Tensor) -> np.ndarray:
        a = out.detach().cpu().numpy()
        return NCHW.from_native(a) if a.ndim == 4 else a

    def forward(self, batch: Batch, *, training: bool = False) -> np.ndarray:
        self._load_masks(batch)
        self.net.train(training)
        with torch.no_grad():
            return self._canonical(self.net(batch.x))

    def activations(self, batch: Batch) -> list[np.ndarray]:
        self.net.eval()
        outs, x = [], batch.x
        with torch.no_grad():
            for block in self.net:
                x = block(x)
                outs.append(self._canonical(x))
        return outs

    def loss_tensor(self, batch: Batch) -> torch.Tensor:
        """The training-mode loss (with l2) as a tensor still on the graph: ``train_step``
        without ``.item()``, so that a CUDA graph can capture it."""
        self._load_masks(batch)
        self.net.train(True)
        loss = self.loss_fn(self.net(batch.x), batch.y)
        if self.recipe.l2:
            loss = loss + self.recipe.l2 * sum(p.square().sum() for p in self.l2_params)
        return loss

    def loss_and_grads(self, batch: Batch) -> tuple[float, dict[str, np.ndarray]]:
        self.net.zero_grad(set_to_none=True)
        loss = self.loss_tensor(batch)
        if loss.requires_grad:  # False without trainable parameters
            loss.backward()
        grads = {b.name: self._read(b, b.native.grad) for b in self.bindings if b.trainable}
        self.net.zero_grad(set_to_none=True)
        return float(loss.item()), grads

    def start_epoch(self, epoch: int) -> None:
        """Before each epoch's first step: a per-epoch scheduler steps at every epoch's end."""
        if epoch > 0 and self.scheduler is not None and self.recipe.lr_schedule.per == "epoch":
            self.scheduler.step()

    def learning_rate(self) -> float:
        """The learning rate the next train_step uses (the optimizer's, as the scheduler set it)."""
        if self.optimizer is None:
            return float(self.recipe.optimizer.lr)
        return float(self.optimizer.param_groups[0]["lr"])

    def train_step(self, batch: Batch) -> float:
        loss = self.loss_tensor(batch)
        if self.optimizer is None:
            return float(loss.item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.recipe.clip is not None:
            clip_gradients(self.recipe.clip, self.trainable)
        self.optimizer.step()
        if self.scheduler is not None and self.recipe.lr_schedule.per == "step":
            self.scheduler.step()
        return float(loss.item())

    def params(self) -> dict[str, np.ndarray]:
        return {b.name: self._read(b, b.native) for b in self.bindings}
