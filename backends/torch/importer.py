"""A user's torch ``nn.Module`` as a canonical spec plus canonical parameters and state.

The module is traced with ``torch.fx`` (an ``nn.Sequential`` traces to its chain too) and the
graph is read backwards from its output into a chain of spec layers; ``x + f(x)`` becomes a
Residual. Every weight goes through the torch layout table (``layout.LAYOUTS``), the one place
that knows how torch stores each canonical parameter.

Images: torch takes NCHW, the spec NHWC. Convolutions and pools need nothing more (their
weights have their own layout), but a Flatten turns (C, H, W) into features ordered c, h, w
where the canonical Flatten orders them h, w, c: the first layer after it that mixes features
(a Linear) has its input rows permuted, and per-feature vectors on the way (BatchNorm1d,
LayerNorm) are permuted the same way.

Sequences: LSTM, GRU and attention take (T, D) (batch_first), nn.Conv1d and the 1-D pools
(C, L), channels first. The reader tracks which one a 2-D tensor is (``ChannelsFirst``);
``x.transpose(1, 2)`` switches between them and is no canonical layer (the spec's sequences
are always (time, channels)). A model whose input goes to a Conv1d first takes NCW.

Anything that cannot be mapped exactly raises ImportRefused naming the module or graph node.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from netparity.backends.porting import Imported, ImportRefused, fold_bias_into_batch_norm
from netparity.backends.torch.layout import LAYOUTS
from netparity.spec import layers as L
from netparity.spec.errors import SpecError
from netparity.spec.model import ModelSpec
from torch import fx, nn


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _canonical(kind: str, param: str, native: torch.Tensor) -> np.ndarray:
    return LAYOUTS.from_native(f"0.{kind}.{param}", _np(native))


def _optional(name: str) -> str | None:
    """An activation the spec may or may not know (other issues add more): its name if known."""
    return name if name in L.ACTIVATIONS else None


@dataclass
class Step:
    """One spec layer (or None for a no-op) with its canonical parameters (short names)."""

    layer: L.Layer | None
    params: dict[str, np.ndarray]


class ChannelsFirst(tuple):
    """The torch-side shape (C, L) of a sequence held channels first (nn.Conv1d's layout); its
    canonical shape is (L, C). A plain 2-D shape is a (T, D) sequence, batch_first."""


def _canonical_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(shape, ChannelsFirst):
        return (shape[1], shape[0])
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def _time_major(shape, where: str, what: str) -> None:
    """Refuse a layer that needs a (T, D) sequence on a channels-first one."""
    if isinstance(shape, ChannelsFirst):
        raise ImportRefused(
            f"{where}: {what} on a channels-first (C, L) tensor acts on its time axis; transpose(1, 2) to (L, C) first"
        )


def _channels_first(shape, where: str) -> tuple[int, int]:
    """(C, L) of a channels-first sequence (refused otherwise)."""
    if not isinstance(shape, ChannelsFirst):
        raise ImportRefused(f"{where}: expects a channels-first sequence (C, L), got {_describe(shape)}")
    return shape[0], shape[1]


def _describe(shape) -> str:
    if isinstance(shape, ChannelsFirst):
        return f"a channels-first sequence (C, L) = {tuple(shape)}"
    if len(shape) == 2:
        return f"a (T, D) sequence {tuple(shape)}"
    return f"input shape {tuple(shape)}"


class _Reader:
    """Reads a traced graph into Steps. ``shape`` is the torch-side shape of the current tensor
    (no batch axis); ``perm`` is set while a flattened image's features are in torch's c, h, w
    order: canonical feature i is torch feature perm[i]."""

    def __init__(self, gm: fx.GraphModule, input_shape: tuple[int, ...], integer_inputs: bool) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.users: dict[fx.Node, list[fx.Node]] = {n: list(n.users) for n in gm.graph.nodes}
        self.input_shape = input_shape
        self.integer_inputs = integer_inputs

    # --- graph walking -------------------------------------------------------------------
    def chain(self, src: fx.Node, dst: fx.Node) -> list[fx.Node | tuple[str, fx.Node, fx.Node]]:
        """The nodes from ``src`` (excluded) to ``dst`` in order; a residual add is
        ('residual', skip, add)."""
        out: list = []
        node = dst
        while node is not src:
            if node.op == "placeholder":
                raise ImportRefused(f"graph node {node.name}: the graph is not a chain from its input")
            if node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.args) == 2:
                a, b = node.args
                if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
                    raise ImportRefused(f"graph node {node.name}: adding a constant has no canonical layer")
                skip, body = (a, b) if _ancestor(a, b) else (b, a) if _ancestor(b, a) else (None, None)
                if skip is None:
                    raise ImportRefused(f"graph node {node.name}: an add of two branches is not x + f(x)")
                out.append(("residual", skip, node, body))
                node = skip
                continue
            inputs = list(dict.fromkeys(a for a in _flat_args(node) if isinstance(a, fx.Node) and a.op != "get_attr"))
            if len(inputs) != 1:
                raise ImportRefused(
                    f"graph node {node.name} ({_what(node, self.modules)}): takes {len(inputs)} tensors; "
                    "only chains of one-input layers map to the spec"
                )
            out.append(node)
            node = inputs[0]
        return out[::-1]

    # --- translation ---------------------------------------------------------------------
    def read(self, src: fx.Node, dst: fx.Node, shape: tuple[int, ...], perm: np.ndarray | None):
        """Steps from src to dst; returns (steps, torch shape at dst, perm at dst)."""
        steps: list[Step] = []
        items = self.chain(src, dst)
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, tuple):
                _, skip, add, body = item
                if perm is not None:
                    raise ImportRefused(f"graph node {add.name}: a residual on flattened image features")
                inner, inner_shape, _ = self.read(skip, body, shape, None)
                if inner_shape != shape or isinstance(inner_shape, ChannelsFirst) != isinstance(shape, ChannelsFirst):
                    raise ImportRefused(
                        f"graph node {add.name}: x + f(x) where f changes the shape {shape} -> {inner_shape}"
                    )
                layers = [s for s in inner if s.layer is not None]
                if not layers:
                    raise ImportRefused(f"graph node {add.name}: x + x has no canonical layer")
                params = {}
                for j, s in enumerate(layers):
                    params.update({f"{j}.{s.layer.kind}.{k}": v for k, v in s.params.items()})
                steps.append(Step(L.Residual(tuple(s.layer for s in layers)), params))
                i += 1
                continue
            consumed, new_steps, shape, perm = self.node(items, i, shape, perm)
            steps += new_steps
            i += consumed
        return steps, shape, perm

    def node(self, items: list, i: int, shape: tuple[int, ...], perm: np.ndarray | None):
        """Translate items[i] (and any it swallows); returns (items used, steps, shape, perm)."""
        n: fx.Node = items[i]
        where = f"graph node {n.name} ({_what(n, self.modules)})"
        if n.op == "call_module":
            mod = self.modules[n.target]
            where = f"module {n.target} ({type(mod).__name__})"
            if n.kwargs and not isinstance(mod, nn.MultiheadAttention):
                raise ImportRefused(f"{where}: called with keyword arguments {sorted(n.kwargs)}")
            return self.module(mod, items, i, shape, perm, where)
        if n.op == "call_function" or n.op == "call_method":
            return self.function(n, items, i, shape, perm, where)
        raise ImportRefused(f"{where}: {n.op} has no canonical layer")

    def module(self, mod: nn.Module, items: list, i: int, shape, perm, where: str):
        one = lambda layer, params=None, new_shape=None, new_perm=perm: (  # noqa: E731
            1,
            [Step(layer, params or {})],
            shape if new_shape is None else new_shape,
            new_perm,
        )
        act = _module_activation(mod, shape, where)
        if act is not False:
            return one(act)
        if isinstance(mod, nn.Linear):
            if len(shape) not in (1, 2):
                raise ImportRefused(f"{where}: a Linear on a {len(shape)}-D input (an image?) has no canonical layer")
            _time_major(shape, where, "a Linear")
            kernel = _canonical("dense", "kernel", mod.weight)
            if perm is not None:
                kernel = kernel[perm]
            params = {"kernel": kernel}
            if mod.bias is not None:
                params["bias"] = _np(mod.bias)
            dense = L.Dense(mod.out_features, use_bias=mod.bias is not None)
            return one(dense, params, (*shape[:-1], mod.out_features), None)
        if isinstance(mod, nn.Conv2d):
            return one(*self.conv(mod, shape, where))
        if isinstance(mod, nn.Conv1d):
            if _chomped(mod, items, i):  # TCN: pad (k - 1) * d both sides, cut as many off the end
                layer, params, new_shape = self.conv1d(mod, shape, where, "causal")
                return 2, [Step(layer, params)], new_shape, perm
            return one(*self.conv1d(mod, shape, where))
        if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool1d, nn.AvgPool1d)):
            return one(*self.pool(mod, shape, where))
        if isinstance(mod, ADAPTIVE_POOLS):
            return self.adaptive_pool(mod, items, i, shape, perm, where)
        if isinstance(mod, (nn.ConstantPad1d, nn.ConstantPad2d, nn.ZeroPad1d, nn.ZeroPad2d)):
            return self.explicit_pad(items[i], items, i, shape, perm, where, tuple(mod.padding), mod.value)
        if isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise ImportRefused(f"{where}: Flatten(start_dim={mod.start_dim}, end_dim={mod.end_dim}); only (1, -1)")
            return self.flatten(shape, perm, where)
        if isinstance(mod, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)):
            raise ImportRefused(f"{where}: drops whole channels or keeps self-normalization; only nn.Dropout maps")
        if isinstance(mod, nn.Dropout):
            return one(L.Dropout(float(mod.p)) if mod.p > 0 else None)
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return one(*self.batch_norm(mod, shape, perm, where))
        if isinstance(mod, nn.LayerNorm):
            if tuple(mod.normalized_shape) != (shape[-1],):
                raise ImportRefused(f"{where}: normalizes over {tuple(mod.normalized_shape)}; only the last axis maps")
            if len(shape) == 3:
                raise ImportRefused(f"{where}: a LayerNorm over the W axis of an NCHW image has no canonical layer")
            _time_major(shape, where, "a LayerNorm")
            if not mod.elementwise_affine or mod.bias is None:
                raise ImportRefused(
                    f"{where}: elementwise_affine=False or bias=False; the canonical LayerNorm has both"
                )
            gamma, beta = _np(mod.weight), _np(mod.bias)
            if perm is not None:
                gamma, beta = gamma[perm], beta[perm]
            return one(L.LayerNorm(float(mod.eps)), {"gamma": gamma, "beta": beta})
        if isinstance(mod, nn.Embedding):
            return one(*self.embedding(mod, shape, where))
        if isinstance(mod, (nn.LSTM, nn.GRU)):
            return self.recurrent(mod, items, i, shape, where)
        if isinstance(mod, nn.MultiheadAttention):
            return self.attention(mod, items, i, shape, where)
        if isinstance(mod, nn.Sequential):  # only reached for a nested Sequential the tracer kept whole
            raise ImportRefused(f"{where}: a nested Sequential the tracer did not inline")
        raise ImportRefused(f"{where}: no canonical layer for this module")

    def function(self, n: fx.Node, items: list, i: int, shape, perm, where: str):
        target, args, kwargs = n.target, n.args, dict(n.kwargs)
        name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        act = _function_activation(n, shape, where)
        if act is not False:
            return 1, [Step(act, {})], shape, perm
        if name == "flatten":
            start = args[1] if len(args) > 1 else kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                raise ImportRefused(f"{where}: flatten(start_dim={start}, end_dim={end}); only flatten(x, 1) maps")
            return self.flatten(shape, perm, where)
        if name in ("view", "reshape"):
            dims = list(args[1:]) if len(args) > 2 or not isinstance(args[1], (tuple, list)) else list(args[1])
            flat = math.prod(shape)
            batch_ok = len(dims) == 2 and (_is_batch_size(dims[0]) or dims[0] == -1)
            if batch_ok and dims[1] in (-1, flat):
                return self.flatten(shape, perm, where)
            raise ImportRefused(f"{where}: only x.{name}(x.size(0), -1) (a flatten) maps, got {name}{tuple(dims)}")
        if name in POOL_FUNCTIONS:
            kw = dict(zip(("kernel_size", "stride", "padding"), args[1:], strict=False)) | kwargs
            if kw.pop("return_indices", False):
                raise ImportRefused(f"{where}: return_indices=True has no canonical counterpart")
            cls = POOL_FUNCTIONS[name]
            allowed = {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "dilation"}
            allowed |= {"divisor_override"} if "avg" in name else set()
            extra = set(kw) - allowed
            if extra:
                raise ImportRefused(f"{where}: arguments {sorted(extra)} have no canonical counterpart")
            layer, params, new_shape = self.pool(cls(**kw), shape, where)
            return 1, [Step(layer, params)], new_shape, perm
        if name == "dropout":
            p = args[1] if len(args) > 1 else kwargs.get("p", 0.5)
            train = args[2] if len(args) > 2 else kwargs.get("training", True)
            if not isinstance(train, bool) and not (isinstance(train, fx.Node) and train.op == "get_attr"):
                raise ImportRefused(f"{where}: dropout's training flag must be self.training or a constant")
            return 1, [Step(L.Dropout(float(p)) if p > 0 else None, {})], shape, perm
        if name == "getitem" and isinstance(args[1], tuple) and self._last_step_index(args[1], shape):
            return 1, [Step(L.LastStep(), {})], shape[1:], perm
        if name in ("contiguous", "clone"):
            return 1, [Step(None, {})], shape, perm
        if name in ("transpose", "permute"):
            return 1, [Step(None, {})], _transposed(n, shape, where), perm
        if name == "pad":
            return self.explicit_pad(n, items, i, shape, perm, where)
        if name in ADAPTIVE_FUNCTIONS:
            size = args[1] if len(args) > 1 else kwargs.get("output_size")
            if kwargs.get("return_indices", False) or (len(args) > 2 and args[2]):
                raise ImportRefused(f"{where}: return_indices=True has no canonical counterpart")
            return self.adaptive_pool(ADAPTIVE_FUNCTIONS[name](size), items, i, shape, perm, where)
        if name in ("mean", "amax", "max") and (n.op == "call_method" or target in (torch.mean, torch.amax, torch.max)):
            return self.reduction(n, name, items, i, shape, where)
        raise ImportRefused(f"{where}: no canonical layer for this call")

    @staticmethod
    def _last_step_index(index: tuple, shape) -> bool:
        """x[:, -1] or x[:, -1, :] on a (T, D) sequence."""
        full = slice(None, None, None)
        return len(shape) == 2 and not isinstance(shape, ChannelsFirst) and index in ((full, -1), (full, -1, full))

    def takes_channels_first(self, src: fx.Node, dst: fx.Node) -> bool | None:
        """Whether the 2-D tensor at ``src`` is (C, L), judged by the first layer after it that
        cares (Conv1d and 1-D pools want channels first; Linear, LSTM, GRU, LayerNorm and
        attention channels last); None if none does. Transposes on the way flip the answer."""
        flipped = False
        for item in self.chain(src, dst):
            if isinstance(item, tuple):
                inner = self.takes_channels_first(item[1], item[3])
                if inner is not None:
                    return inner != flipped
                continue
            need = _layout_need(item, self.modules)
            if need == "flip":
                flipped = not flipped
            elif need is not None:
                return (need == "channels_first") != flipped
        return None

    # --- layers with more to check -------------------------------------------------------
    def flatten(self, shape, perm, where):
        if len(shape) == 3:  # NCHW image: torch order c, h, w; canonical h, w, c
            c, h, w = shape
            perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        elif isinstance(shape, ChannelsFirst):  # (C, L): torch order c, l; canonical l, c
            c, length = shape
            perm = np.arange(c * length).reshape(c, length).T.reshape(-1)
        elif len(shape) not in (1, 2):
            raise ImportRefused(
                f"{where}: flattening a {len(shape)}-D input; only images (C, H, W), sequences and vectors map"
            )
        return 1, [Step(L.Flatten(), {})], (math.prod(shape),), perm

    def explicit_pad(self, n: fx.Node, items: list, i: int, shape, perm, where: str, pads=None, value=None):
        """F.pad(x, pads) (or nn.ZeroPad/ConstantPad, which give ``pads``, ``value``) of zeros
        right before a Conv1d/Conv2d without padding of its own: the spec's 'causal' (Conv1d:
        (span - 1, 0)) or TF 'same' (its odd step after), as ported TF and WaveNet-style models
        write them."""
        args, kwargs = n.args, n.kwargs
        mode = "constant"
        if pads is None:
            pads = args[1] if len(args) > 1 else kwargs.get("pad")
            mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
            value = args[3] if len(args) > 3 else kwargs.get("value", None)
        if mode != "constant" or value not in (None, 0, 0.0):
            raise ImportRefused(f"{where}: mode={mode!r}, value={value}; only zero padding maps")
        nxt = items[i + 1] if i + 1 < len(items) else None
        conv = self.modules.get(nxt.target) if isinstance(nxt, fx.Node) and nxt.op == "call_module" else None
        if not isinstance(conv, (nn.Conv1d, nn.Conv2d)) or len(n.users) != 1 or nxt.kwargs:
            raise ImportRefused(f"{where}: an explicit pad maps only right before a Conv1d or Conv2d")
        conv_where = f"module {nxt.target} ({type(conv).__name__})"
        if conv.padding != "valid" and (isinstance(conv.padding, str) or any(conv.padding)):
            raise ImportRefused(f"{conv_where}: padding={conv.padding} after an explicit F.pad; pad once")
        pads = tuple(int(p) for p in pads) if isinstance(pads, (tuple, list)) else None
        k, st, d = tuple(conv.kernel_size), tuple(conv.stride), tuple(conv.dilation)
        if isinstance(conv, nn.Conv1d):
            _, length = _channels_first(shape, conv_where)
            options = ("causal", "same")
            want = {p: L.axis_padding(p, length, k[0], st[0], d[0]) for p in options}
        else:
            sizes = tuple(shape[1:]) if len(shape) == 3 else ()
            options = ("same",)
            want = {"same": sum(reversed([L.same_padding(*a) for a in zip(sizes, k, st, d, strict=True)]), ())}
        padding = next((p for p in options if pads == tuple(want[p])), None)  # F.pad order: last axis first
        if padding is None:
            raise ImportRefused(
                f"{where}: F.pad {pads} before {conv_where} is none of the spec's paddings here "
                f"({', '.join(f'{p}: {tuple(want[p])}' for p in options)})"
            )
        if isinstance(conv, nn.Conv1d):
            layer, params, new_shape = self.conv1d(conv, shape, conv_where, padding)
        else:
            layer, params, new_shape = self.conv(conv, shape, conv_where, padding)
        return 2, [Step(layer, params)], new_shape, perm

    def conv(self, mod: nn.Conv2d, shape, where, padding: str | None = None):
        if len(shape) != 3:
            raise ImportRefused(f"{where}: expects an image (C, H, W), got {_describe(shape)}")
        if mod.padding_mode != "zeros":
            raise ImportRefused(f"{where}: padding_mode={mod.padding_mode!r}; only zero padding maps")
        (c, h, w), k, st, d = shape, tuple(mod.kernel_size), tuple(mod.stride), tuple(mod.dilation)
        padding = padding or _conv_padding(mod.padding, (h, w), k, st, d, where)
        layer = L.Conv2D(
            mod.out_channels,
            _int_or_pair(k),
            _int_or_pair(st),
            padding,
            use_bias=mod.bias is not None,
            dilation=_int_or_pair(d),
            groups=mod.groups,  # torch's grouped weight (out, in / groups, kh, kw): the ungrouped permutation
        )
        params = {"kernel": _canonical("conv2d", "kernel", mod.weight)}
        if mod.bias is not None:
            params["bias"] = _np(mod.bias)
        oh, ow, _ = _checked_shape(layer, (h, w, c), where)
        return layer, params, (mod.out_channels, oh, ow)

    def conv1d(self, mod: nn.Conv1d, shape, where, padding: str | None = None):
        c, length = _channels_first(shape, where)
        if mod.groups != 1:
            raise ImportRefused(f"{where}: groups={mod.groups}; the canonical Conv1D has no groups (Conv2D has)")
        if mod.padding_mode != "zeros":
            raise ImportRefused(f"{where}: padding_mode={mod.padding_mode!r}; only zero padding maps")
        k, st, d = mod.kernel_size[0], mod.stride[0], mod.dilation[0]
        padding = padding or _conv_padding(mod.padding, (length,), (k,), (st,), (d,), where)
        layer = L.Conv1D(mod.out_channels, k, st, padding, d, use_bias=mod.bias is not None)
        params = {"kernel": _canonical("conv1d", "kernel", mod.weight)}
        if mod.bias is not None:
            params["bias"] = _np(mod.bias)
        steps, filters = _checked_shape(layer, (length, c), where)
        return layer, params, ChannelsFirst((filters, steps))

    def pool(self, mod: nn.Module, shape, where):
        one_d = isinstance(mod, (nn.MaxPool1d, nn.AvgPool1d))
        if one_d:
            c, length = _channels_first(shape, where)
            sizes = (length,)
        elif len(shape) != 3:
            raise ImportRefused(f"{where}: expects an image (C, H, W), got {_describe(shape)}")
        else:
            c, sizes = shape[0], tuple(shape[1:])
        rank = len(sizes)
        k = _axes(mod.kernel_size, rank)
        st = _axes(mod.stride if mod.stride else mod.kernel_size, rank)
        pad = _axes(mod.padding, rank)
        maximum = isinstance(mod, (nn.MaxPool1d, nn.MaxPool2d))
        if maximum and _axes(mod.dilation, rank) != (1,) * rank:
            raise ImportRefused(f"{where}: dilation={mod.dilation}; canonical pools have no dilation")
        if getattr(mod, "divisor_override", None):
            raise ImportRefused(f"{where}: divisor_override has no canonical counterpart")
        padding = _pool_padding(sizes, k, st, pad, mod.ceil_mode, where)
        if not maximum and any(pad) and mod.count_include_pad:
            raise ImportRefused(
                f"{where}: padding={mod.padding} with count_include_pad=True averages the zero padding in; "
                "the canonical 'same' pool (TF's rule) averages the real values only: set count_include_pad=False"
            )
        if one_d:
            layer = (L.MaxPool1D if maximum else L.AvgPool1D)(k[0], st[0] if st != k else None, padding)
            steps, _ = _checked_shape(layer, (length, c), where)
            return layer, {}, ChannelsFirst((c, steps))
        layer = (L.MaxPool2D if maximum else L.AvgPool2D)(
            _int_or_pair(k), _int_or_pair(st) if st != k else None, padding
        )
        oh, ow, _ = _checked_shape(layer, (*sizes, c), where)
        return layer, {}, (c, oh, ow)

    def adaptive_pool(self, mod: nn.Module, items: list, i: int, shape, perm, where: str):
        """AdaptiveAvg/MaxPool1d/2d(1), a flatten or squeeze after it: the canonical global pool."""
        one_d = isinstance(mod, (nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d))
        rank = 1 if one_d else 2
        if _axes(mod.output_size, rank) != (1,) * rank:
            raise ImportRefused(f"{where}: output_size={mod.output_size}; only 1 (a global pool) maps")
        if getattr(mod, "return_indices", False):
            raise ImportRefused(f"{where}: return_indices=True has no canonical counterpart")
        if one_d:
            c, _ = _channels_first(shape, where)
        elif len(shape) != 3:
            raise ImportRefused(f"{where}: expects an image (C, H, W), got {_describe(shape)}")
        else:
            c = shape[0]
        maximum = isinstance(mod, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d))
        return self.global_pool(items, i, c, (c,) + (1,) * rank, maximum, where)

    def reduction(self, n: fx.Node, name: str, items: list, i: int, shape, where: str):
        """x.mean(dims), x.amax(dims), x.max(dim)[0] over every axis but batch and channels: a global pool."""
        arg = lambda j, key, default: n.args[j] if len(n.args) > j else n.kwargs.get(key, default)  # noqa: E731
        dims, keepdim = arg(1, "dim", None), arg(2, "keepdim", False)
        if set(n.kwargs) - {"dim", "keepdim"}:
            raise ImportRefused(f"{where}: arguments {sorted(set(n.kwargs) - {'dim', 'keepdim'})} have no counterpart")
        rank = len(shape) + 1
        if len(shape) == 3 or isinstance(shape, ChannelsFirst):
            channels, pooled = shape[0], set(range(2, rank))
        elif len(shape) == 2:
            channels, pooled = shape[1], {1}
        else:
            raise ImportRefused(f"{where}: a {name} over {_describe(shape)} has no canonical layer")
        given = dims if isinstance(dims, (tuple, list)) else (dims,)
        if dims is None or not all(isinstance(d, int) for d in given) or {d % rank for d in given} != pooled:
            raise ImportRefused(
                f"{where}: {name} over dim {dims} of {_describe(shape)}; only a global pool over dims "
                f"{tuple(sorted(pooled))} (every axis but batch and channels) maps"
            )
        used = 1
        if name == "max":  # torch.max(x, dim) returns (values, indices): x.max(d)[0]
            nxt = items[i + 1] if i + 1 < len(items) else None
            values = _getitem_index(nxt) == 0 or (
                isinstance(nxt, fx.Node) and nxt.target is getattr and nxt.args[1:] == ("values",)
            )
            if len(given) != 1 or not values or len(n.users) != 1:
                raise ImportRefused(f"{where}: only the values x.max(dim)[0] of a max over one dim map")
            used = 2
        kept = tuple(1 if d + 1 in pooled else size for d, size in enumerate(shape)) if keepdim else (channels,)
        consumed, steps, out, _ = self.global_pool(items, i + used - 1, channels, kept, name != "mean", where)
        return consumed + used - 1, steps, out, None

    def global_pool(self, items: list, i: int, channels: int, kept: tuple, maximum: bool, where: str):
        """A global pool at items[i] whose torch output has shape ``kept`` (size-1 axes kept
        or not): the flatten/squeeze items after it that drop them are taken with it."""
        used, current = 1, tuple(kept)
        while current != (channels,):
            prev = items[i + used - 1]
            nxt = items[i + used] if i + used < len(items) else None
            current = _drop_ones(nxt, current, self.modules) if isinstance(nxt, fx.Node) else None
            if current is None or len(prev.users) != 1:
                raise ImportRefused(
                    f"{where}: keeps axes of size 1 {tuple(kept)}; the canonical global pool drops them, "
                    "so follow it with torch.flatten(x, 1), nn.Flatten() or squeeze"
                )
            used += 1
        layer = L.GlobalMaxPool() if maximum else L.GlobalAvgPool()
        return used, [Step(layer, {})], (channels,), None

    def batch_norm(self, mod: nn.Module, shape, perm, where):
        channels = shape[0] if len(shape) in (2, 3) else shape[-1]
        if isinstance(mod, nn.BatchNorm2d) and len(shape) != 3:
            raise ImportRefused(f"{where}: BatchNorm2d expects an image (C, H, W), got {shape}")
        if isinstance(mod, nn.BatchNorm1d) and not (len(shape) == 1 or isinstance(shape, ChannelsFirst)):
            raise ImportRefused(
                f"{where}: BatchNorm1d on {_describe(shape)} normalizes its axis 1 as channels; "
                "only features (F,) and channels-first sequences (C, L) map"
            )
        if not mod.affine or not mod.track_running_stats:
            raise ImportRefused(f"{where}: affine=False or track_running_stats=False; the canonical BatchNorm has both")
        if mod.momentum is None:
            raise ImportRefused(f"{where}: momentum=None (a cumulative average) has no canonical counterpart")
        assert channels == mod.num_features
        values = {
            "gamma": _np(mod.weight),
            "beta": _np(mod.bias),
            "moving_mean": _np(mod.running_mean),
            "moving_var": _np(mod.running_var),
        }
        if perm is not None:
            values = {k: v[perm] for k, v in values.items()}
        # torch: running = (1 - m) * running + m * batch; canonical (Keras) momentum weighs the old value
        return L.BatchNorm(momentum=1.0 - float(mod.momentum), epsilon=float(mod.eps)), values, None

    def embedding(self, mod: nn.Embedding, shape, where):
        if not self.integer_inputs or len(shape) != 1:
            raise ImportRefused(f"{where}: an Embedding must be the first layer, on token ids of shape (T,)")
        if mod.padding_idx is not None or mod.max_norm is not None or mod.scale_grad_by_freq or mod.sparse:
            raise ImportRefused(
                f"{where}: padding_idx, max_norm, scale_grad_by_freq and sparse change training; "
                "the canonical Embedding has none"
            )
        layer = L.Embedding(mod.num_embeddings, mod.embedding_dim)
        return layer, {"embeddings": _np(mod.weight)}, (shape[0], mod.embedding_dim)

    def recurrent(self, mod: nn.LSTM | nn.GRU, items: list, i: int, shape, where):
        """nn.LSTM or nn.GRU (batch_first, one layer, one direction, with biases) and the output the graph uses."""
        if not mod.batch_first:
            raise ImportRefused(f"{where}: batch_first=False; the spec's sequences are (batch, T, features)")
        if mod.num_layers != 1 or mod.bidirectional or getattr(mod, "proj_size", 0) or not mod.bias:
            raise ImportRefused(f"{where}: only one layer, one direction, no projection, with biases maps")
        if len(shape) != 2:
            raise ImportRefused(f"{where}: expects a sequence (T, features), got {shape}")
        _time_major(shape, where, type(mod).__name__)
        # which output the graph uses: out (all steps), out[:, -1], or h_n[-1] (the last step);
        # LSTM's second output is the pair (h_n, c_n), GRU's h_n itself
        n = items[i]
        rest = items[i + 1 : i + 4]
        pattern = [_getitem_index(x) for x in rest]
        full = slice(None, None, None)
        units = mod.hidden_size
        hidden = [1, 0] if isinstance(mod, nn.LSTM) else [1]
        if len(pattern) > len(hidden) and pattern[: len(hidden)] == hidden and pattern[len(hidden)] in (-1, 0):
            used, return_sequences = len(hidden) + 2, False  # _, (h, c) = lstm(x); h[-1]  /  _, h = gru(x); h[-1]
        elif pattern and pattern[0] == 0:
            used, return_sequences = 2, True
            if len(pattern) >= 2 and pattern[1] in ((full, -1), (full, -1, full)):
                used, return_sequences = 3, False  # out[:, -1]
        else:
            raise ImportRefused(
                f"{where}: its output is used as {pattern[:1] or 'a tuple'}; use out, out[:, -1] or h[-1]"
            )
        for x in items[i + 1 : i + used - 1]:  # intermediate tuples must feed only the chain
            if isinstance(x, fx.Node) and len(x.users) != 1:
                raise ImportRefused(f"graph node {x.name}: a {type(mod).__name__} state used twice")
        if len(n.users) != 1:
            raise ImportRefused(f"{where}: its outputs are used in several places")
        kind = "lstm" if isinstance(mod, nn.LSTM) else "gru"
        params = {
            "kernel": _canonical(kind, "kernel", mod.weight_ih_l0),
            "recurrent_kernel": _canonical(kind, "recurrent_kernel", mod.weight_hh_l0),
        }
        if kind == "gru":
            # nn.GRU is the reset-after GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), b_hn inside
            # the reset gate, which is exactly the canonical recurrent_bias (gates r, z, n -> z, r, h)
            params |= {
                "bias": _canonical("gru", "bias", mod.bias_ih_l0),
                "recurrent_bias": _canonical("gru", "recurrent_bias", mod.bias_hh_l0),
            }
            layer = L.GRU(units, return_sequences=return_sequences, reset_after=True)
        else:
            # torch's second bias b_hh as the spec's own recurrent_bias: both train, as in torch
            params |= {"bias": _np(mod.bias_ih_l0), "recurrent_bias": _np(mod.bias_hh_l0)}
            layer = L.LSTM(units, return_sequences=return_sequences, recurrent_bias=True)
        return used, [Step(layer, params)], layer.output_shape(shape), None

    def attention(self, mod: nn.MultiheadAttention, items: list, i: int, shape, where):
        n: fx.Node = items[i]
        args = list(n.args)
        if len(args) < 3 or not (args[0] is args[1] is args[2]):
            raise ImportRefused(f"{where}: only self-attention mha(x, x, x) maps")
        if not mod.batch_first:
            raise ImportRefused(f"{where}: batch_first=False; the spec's sequences are (batch, T, features)")
        if mod.bias_k is not None or mod.add_zero_attn or not mod._qkv_same_embed_dim:
            raise ImportRefused(f"{where}: add_bias_kv, add_zero_attn and kdim/vdim have no canonical counterpart")
        if mod.dropout:
            raise ImportRefused(f"{where}: dropout={mod.dropout} on the attention weights has no canonical layer")
        use_bias = mod.in_proj_bias is not None
        causal = False
        kwargs = dict(n.kwargs)
        mask = kwargs.pop("attn_mask", args[5] if len(args) > 5 else None)
        is_causal = kwargs.pop("is_causal", False)
        kwargs.pop("need_weights", None)
        if kwargs or (len(args) > 3 and args[3] is not None):
            raise ImportRefused(
                f"{where}: arguments {sorted(kwargs) or ['key_padding_mask']} have no canonical counterpart"
            )
        if mask is not None:
            causal = self._causal_mask(mask, shape[0], where)
        elif is_causal:
            raise ImportRefused(f"{where}: is_causal=True needs its attn_mask; pass the causal mask too")
        nxt = items[i + 1] if i + 1 < len(items) else None
        if _getitem_index(nxt) != 0 or len(n.users) != 1:
            raise ImportRefused(f"{where}: only the attention output mha(x, x, x)[0] maps")
        d = mod.embed_dim
        _time_major(shape, where, "attention")
        if len(shape) != 2 or shape[-1] != d:
            raise ImportRefused(f"{where}: expects a sequence (T, {d}), got {shape}")
        w, b = mod.in_proj_weight, mod.in_proj_bias
        params = {}
        for j, p in enumerate("qkv"):
            params[f"w{p}"] = _canonical("self_attention", f"w{p}", w[j * d : (j + 1) * d])
            if p != "k" and use_bias:  # a key bias shifts every score of a query equally: softmax ignores it
                params[f"b{p}"] = _np(b[j * d : (j + 1) * d])
        params["wo"] = _canonical("self_attention", "wo", mod.out_proj.weight)
        if use_bias:
            params["bo"] = _np(mod.out_proj.bias)
        layer = L.SelfAttention(mod.num_heads, causal=causal, **({} if use_bias else {"use_bias": False}))
        return 2, [Step(layer, params)], shape, None

    def _causal_mask(self, mask: object, steps: int, where: str) -> bool:
        if not (isinstance(mask, fx.Node) and mask.op == "get_attr"):
            raise ImportRefused(f"{where}: attn_mask must be a fixed tensor (a buffer) to be recognized")
        value = (
            self.gm.get_submodule("").get_buffer(mask.target) if "." not in mask.target else _attr(self.gm, mask.target)
        )
        value = value[:steps, :steps]
        blocked = value if value.dtype == torch.bool else torch.isneginf(value)
        if not torch.equal(blocked.cpu(), torch.triu(torch.ones(steps, steps, dtype=torch.bool), 1)):
            raise ImportRefused(f"{where}: attn_mask is not the causal mask; only no mask or a causal one maps")
        if value.dtype != torch.bool and not torch.all(value[~blocked] == 0):
            raise ImportRefused(f"{where}: a float attn_mask with values other than 0 and -inf")
        return True


def _attr(gm: fx.GraphModule, target: str) -> torch.Tensor:
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _getitem_index(n: object) -> object:
    if isinstance(n, fx.Node) and n.op == "call_function" and n.target is operator.getitem:
        return n.args[1]
    return None


def _is_batch_size(x: object) -> bool:
    """x.size(0) / x.shape[0] in a traced graph."""
    if not isinstance(x, fx.Node):
        return False
    if x.op == "call_method" and x.target == "size" and (x.args[1:] == (0,) or x.kwargs.get("dim") == 0):
        return True
    return x.op == "call_function" and x.target is operator.getitem and x.args[1] == 0 and _is_shape(x.args[0])


def _is_shape(x: object) -> bool:
    return isinstance(x, fx.Node) and (
        (x.op == "call_function" and x.target is getattr and x.args[1] == "shape")
        or (x.op == "call_method" and x.target == "size" and len(x.args) == 1)
    )


def _axes(value: object, rank: int) -> tuple[int, ...]:
    """A torch int-or-tuple argument as one int per spatial axis."""
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value) if len(value) == rank else tuple(int(value[0]) for _ in range(rank))
    return (int(value),) * rank


def _int_or_pair(value: tuple[int, ...]) -> int | tuple[int, int]:
    return value[0] if len(set(value)) == 1 else (value[0], value[1])


def _checked_shape(layer: L.Layer, in_shape: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The spec layer's output shape; the spec's own refusal (e.g. stride with dilation) as an ImportRefused."""
    try:
        layer.check()
        return layer.output_shape(in_shape)
    except SpecError as err:
        raise ImportRefused(f"{where}: {err}") from None


def _conv_padding(padding: object, sizes: tuple, kernels: tuple, strides: tuple, dilations: tuple, where: str) -> str:
    """'valid' or 'same' (TF's rule) for torch's padding of a convolution over ``sizes``, or refused.

    torch's padding='same' (stride 1 only) pads d*(k-1) in all, the odd one after: TF's split."""
    if padding == "valid" or (not isinstance(padding, str) and not any(padding)):
        return "valid"
    if padding == "same":
        return "same"
    tf_same = tuple(L.same_padding(*a) for a in zip(sizes, kernels, strides, dilations, strict=True))
    if tf_same != tuple((p, p) for p in padding):
        raise ImportRefused(
            f"{where}: padding={tuple(padding)} is neither 'valid' nor TF 'same' for a "
            f"{'x'.join(map(str, sizes))} input (same pads {tf_same})"
        )
    return "same"


def _pool_padding(sizes: tuple, kernels: tuple, strides: tuple, pads: tuple, ceil_mode: bool, where: str) -> str:
    """'valid' or 'same' where torch's windows (padding p on both sides, ceil_mode's extra
    window) are exactly the spec's; refused otherwise. torch's windows start at -p + j*s, so
    they are TF SAME's when the counts agree and SAME pads p before (the rest falls after)."""
    outs = []
    for size, k, s, p in zip(sizes, kernels, strides, pads, strict=True):
        span = size + 2 * p - k
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= size + p:  # torch drops a window that starts in the padding
            out -= 1
        outs.append(out)
    axes = list(zip(sizes, kernels, strides, pads, outs, strict=True))
    if all(p == 0 and o == L.axis_output("valid", n, k, s) for n, k, s, p, o in axes):
        return "valid"
    if all(o == L.axis_output("same", n, k, s) and L.same_padding(n, k, s)[0] == p for n, k, s, p, o in axes):
        return "same"
    same = tuple(L.same_padding(n, k, s) for n, k, s, _, _ in axes)
    raise ImportRefused(
        f"{where}: padding={pads[0] if len(set(pads)) == 1 else pads}, ceil_mode={ceil_mode} gives windows that "
        f"are neither 'valid' nor TF 'same' for a {'x'.join(map(str, sizes))} input (same pads {same})"
    )


def _chomped(conv: nn.Conv1d, items: list, i: int) -> bool:
    """Conv1d(padding=p = (k - 1) * d, stride 1) whose output is cut to x[:, :, :-p] (the TCN
    "Chomp1d"): the spec's causal convolution."""
    span = (conv.kernel_size[0] - 1) * conv.dilation[0]
    nxt = items[i + 1] if i + 1 < len(items) else None
    full = slice(None, None, None)
    return (
        isinstance(conv.padding, tuple)
        and conv.padding == (span,)
        and span > 0
        and conv.stride == (1,)
        and len(items[i].users) == 1
        and _getitem_index(nxt) in ((full, full, slice(None, -span, None)), (Ellipsis, slice(None, -span, None)))
    )


def _transposed(n: fx.Node, shape, where: str) -> tuple[int, ...]:
    """x.transpose(1, 2) / x.permute(0, 2, 1) of a sequence: (T, D) <-> channels-first (C, L)."""
    name = n.target if isinstance(n.target, str) else n.target.__name__
    dims = list(n.args[1:]) + [v for k, v in n.kwargs.items() if k in ("dim0", "dim1", "dims")]
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = list(dims[0])
    ok = all(isinstance(d, int) for d in dims) and len(shape) == 2
    ok = ok and (sorted(d % 3 for d in dims) == [1, 2] if name == "transpose" else [d % 3 for d in dims] == [0, 2, 1])
    if not ok:
        raise ImportRefused(
            f"{where}: {name}{tuple(dims)} of {_describe(shape)}; only swapping a sequence's two axes "
            "(transpose(1, 2), permute(0, 2, 1)) maps"
        )
    if isinstance(shape, ChannelsFirst):
        return (shape[1], shape[0])
    return ChannelsFirst((shape[1], shape[0]))


def _drop_ones(n: fx.Node, shape: tuple[int, ...], modules: dict[str, nn.Module]) -> tuple[int, ...] | None:
    """The torch shape after ``n`` if it is a flatten or squeeze that only drops size-1 axes; else None."""
    flat = (math.prod(shape),)
    if n.op == "call_module":
        mod = modules[n.target]
        return flat if type(mod) is nn.Flatten and (mod.start_dim, mod.end_dim) == (1, -1) else None
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
    args = n.args[1:]
    if name == "flatten":
        start = args[0] if args else n.kwargs.get("start_dim", 0)
        end = args[1] if len(args) > 1 else n.kwargs.get("end_dim", -1)
        return flat if (start, end) == (1, -1) else None
    if name in ("view", "reshape"):
        dims = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
        ok = len(dims) == 2 and (_is_batch_size(dims[0]) or dims[0] == -1) and dims[1] in (-1, flat[0])
        return flat if ok else None
    if name == "squeeze":
        dims = args[0] if args else n.kwargs.get("dim")
        if dims is None:  # squeeze() would drop a batch of one too
            return None
        rank = len(shape) + 1
        drop = {d % rank for d in (dims if isinstance(dims, (tuple, list)) else (dims,))}
        if 0 in drop or any(shape[d - 1] != 1 for d in drop):
            return None
        return tuple(size for j, size in enumerate(shape) if j + 1 not in drop)
    return None


def _layout_need(n: fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """What a node needs of a 2-D tensor: 'channels_first', 'channels_last', 'flip' (a
    transpose), or None (elementwise, or not known to care)."""
    if n.op == "call_module":
        mod = modules[n.target]
        if isinstance(mod, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)):
            return "channels_first"
        if isinstance(mod, nn.BatchNorm1d):
            return "channels_first"
        if isinstance(mod, (nn.Linear, nn.LSTM, nn.GRU, nn.LayerNorm, nn.MultiheadAttention)):
            return "channels_last"
        return None
    name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
    if name in ("transpose", "permute"):
        return "flip"
    if name in ("conv1d", "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d"):
        return "channels_first"
    return None


#: pooling functions (F.max_pool2d, ...) -> the module they are
POOL_FUNCTIONS = {
    "max_pool2d": nn.MaxPool2d,
    "avg_pool2d": nn.AvgPool2d,
    "max_pool1d": nn.MaxPool1d,
    "avg_pool1d": nn.AvgPool1d,
}
ADAPTIVE_POOLS = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)
ADAPTIVE_FUNCTIONS = {
    "adaptive_avg_pool2d": nn.AdaptiveAvgPool2d,
    "adaptive_max_pool2d": nn.AdaptiveMaxPool2d,
    "adaptive_avg_pool1d": nn.AdaptiveAvgPool1d,
    "adaptive_max_pool1d": nn.AdaptiveMaxPool1d,
}


def _flat_args(n: fx.Node) -> list[object]:
    out: list[object] = []

    def walk(a: object) -> None:
        if isinstance(a, (tuple, list)):
            for x in a:
                walk(x)
        elif isinstance(a, dict):
            for x in a.values():
                walk(x)
        else:
            out.append(a)

    walk(n.args)
    walk(n.kwargs)
    # shape lookups (x.size(0)) read the tensor but are not data flow
    return [a for a in out if not (_is_batch_size(a) or _is_shape(a))]


def _ancestor(a: fx.Node, b: fx.Node) -> bool:
    """Whether ``a`` is ``b`` or feeds it."""
    seen, todo = set(), [b]
    while todo:
        n = todo.pop()
        if n is a:
            return True
        if n in seen:
            continue
        seen.add(n)
        todo += [x for x in _flat_args(n) if isinstance(x, fx.Node)]
    return False


def _what(n: fx.Node, modules: dict[str, nn.Module]) -> str:
    if n.op == "call_module":
        return type(modules[n.target]).__name__
    target = n.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _softmax_dim_ok(dim: object, shape) -> bool:
    """softmax over the canonical last axis: torch's channel axis 1 of an image or a
    channels-first sequence, the last axis of a vector or a (T, D) sequence."""
    rank = len(shape) + 1
    if not isinstance(dim, int):
        return False
    if rank == 4 or isinstance(shape, ChannelsFirst):
        return dim % rank == 1
    return dim % rank == rank - 1


#: activation modules / functions with no argument that matters -> canonical name. Names the spec
#: does not list (yet) are refused with a clear line by _known.
MODULE_ACTIVATIONS = {
    nn.ReLU: "relu",
    nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh",
    nn.Identity: "identity",
    nn.SiLU: "silu",
    nn.SELU: "selu",
    nn.ReLU6: "relu6",
    nn.Softsign: "softsign",
    nn.Hardsigmoid: "hard_sigmoid",
    nn.Hardswish: "hard_silu",
}
FUNCTION_ACTIVATIONS = {
    "relu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "silu": "silu",
    "selu": "selu",
    "relu6": "relu6",
    "softsign": "softsign",
    "hardsigmoid": "hard_sigmoid",
    "hardswish": "hard_silu",
}
FUNCTIONS = {F.relu, torch.relu, F.sigmoid, torch.sigmoid, F.tanh, torch.tanh, F.silu, F.selu, torch.selu}
FUNCTIONS |= {F.relu6, F.softsign, F.hardsigmoid, F.hardswish}


def _activation_layer(name: str, where: str, **fields: float) -> L.Layer | None:
    """The canonical Activation (None for identity); refused if the spec lacks it or a field."""
    if name == "identity":
        return None
    _known(name, where)
    known = {f.name for f in dataclasses.fields(L.Activation)}
    for field_name, value in fields.items():
        if field_name not in known:
            raise ImportRefused(f"{where}: the spec's {name} has no {field_name} (needs {field_name}={value})")
    return L.Activation(name, **fields)


def _module_activation(mod: nn.Module, shape, where: str) -> L.Layer | bool | None:
    """The module as an Activation, None for identity, False if it is no activation."""
    if type(mod) in MODULE_ACTIVATIONS:
        return _activation_layer(MODULE_ACTIVATIONS[type(mod)], where)
    if type(mod) is nn.ELU:
        if mod.alpha != 1.0:
            raise ImportRefused(f"{where}: ELU(alpha={mod.alpha}); the canonical elu has alpha 1")
        return _activation_layer("elu", where)
    if type(mod) is nn.LeakyReLU:
        return _activation_layer("leaky_relu", where, negative_slope=float(mod.negative_slope))
    if type(mod) is nn.GELU:
        return _activation_layer("gelu" if mod.approximate == "none" else "gelu_tanh", where)
    if type(mod) is nn.Softplus:
        return _softplus(mod.beta, mod.threshold, where)
    if type(mod) in (nn.Softmax, nn.LogSoftmax):
        if not _softmax_dim_ok(mod.dim, shape):
            raise ImportRefused(f"{where}: over dim {mod.dim}; only the last (feature/channel) axis maps")
        return _activation_layer("softmax" if type(mod) is nn.Softmax else "log_softmax", where)
    return False


#: torch's softplus returns x itself above ``threshold``, where log(1 + e^x) = x + e^-x (to e^-2x):
#: above 20 that is at most e^-20 / 20 = 1.0e-10 relative (docs/semantics.md, section 13)
SOFTPLUS_MIN_THRESHOLD = 20.0


def _softplus(beta: object, threshold: object, where: str) -> L.Layer:
    if beta != 1:
        raise ImportRefused(f"{where}: softplus(beta={beta}); the canonical softplus has beta 1")
    if not isinstance(threshold, (int, float)) or threshold < SOFTPLUS_MIN_THRESHOLD:
        raise ImportRefused(
            f"{where}: softplus(threshold={threshold}) returns x above it, off log(1 + e^x) by e^-{threshold}; "
            f"only a threshold of {SOFTPLUS_MIN_THRESHOLD:g} or more maps"
        )
    return _activation_layer("softplus", where)


def _known(name: str, where: str) -> str:
    if _optional(name) is None:
        raise ImportRefused(f"{where}: the spec has no {name!r} activation (known: {', '.join(L.ACTIVATIONS)})")
    return name


def _function_activation(n: fx.Node, shape, where: str) -> L.Layer | bool | None:
    """The call as an Activation, None for identity, False if it is no activation."""
    target = n.target
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    arg = lambda i, key, default: n.args[i] if len(n.args) > i else n.kwargs.get(key, default)  # noqa: E731
    if target in FUNCTIONS or (n.op == "call_method" and name in FUNCTION_ACTIVATIONS):
        return _activation_layer(FUNCTION_ACTIVATIONS[name], where)
    if target is F.elu:
        if arg(1, "alpha", 1.0) != 1.0:
            raise ImportRefused(f"{where}: elu(alpha={arg(1, 'alpha', 1.0)}); the canonical elu has alpha 1")
        return _activation_layer("elu", where)
    if target is F.leaky_relu:
        return _activation_layer("leaky_relu", where, negative_slope=float(arg(1, "negative_slope", 0.01)))
    if target is F.gelu:
        return _activation_layer("gelu" if n.kwargs.get("approximate", "none") == "none" else "gelu_tanh", where)
    if target is F.softplus:
        return _softplus(arg(1, "beta", 1.0), arg(2, "threshold", 20.0), where)
    if target in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax) or (
        n.op == "call_method" and name in ("softmax", "log_softmax")
    ):
        dim = arg(1, "dim", None)
        if not _softmax_dim_ok(dim, shape):
            raise ImportRefused(f"{where}: over dim {dim}; only the last (feature/channel) axis maps")
        return _activation_layer("softmax" if name == "softmax" else "log_softmax", where)
    return False


def import_module(module: nn.Module, input_shape: tuple[int, ...], *, integer_inputs: bool | None = None) -> Imported:
    """``module`` as a canonical spec and parameters. ``input_shape`` is torch's, no batch
    axis: (C, H, W) for images, (T, D) for sequences, (T,) for token ids, (F,) for vectors."""
    if not isinstance(module, nn.Module):
        raise ImportRefused(f"expected a torch.nn.Module, got {type(module).__name__}")
    input_shape = tuple(int(d) for d in input_shape)
    try:
        gm = fx.symbolic_trace(module)
    except Exception as err:
        message = " ".join(str(err).split())[:300]
        raise ImportRefused(f"{type(module).__name__}.forward does not trace with torch.fx: {message}") from None
    gm.graph.eliminate_dead_code()  # e.g. the unused half of `out, _ = lstm(x)`
    if integer_inputs is None:
        integer_inputs = any(isinstance(m, nn.Embedding) for m in module.modules())
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    outputs = [n for n in gm.graph.nodes if n.op == "output"]
    if len(placeholders) != 1:
        raise ImportRefused(f"{type(module).__name__}.forward takes {len(placeholders)} inputs; only one maps")
    result = outputs[0].args[0]
    if not isinstance(result, fx.Node):
        raise ImportRefused(f"{type(module).__name__}.forward returns {type(result).__name__}; only one tensor maps")
    reader = _Reader(gm, input_shape, integer_inputs)
    start = input_shape
    if len(input_shape) == 2 and not integer_inputs and reader.takes_channels_first(placeholders[0], result):
        start = ChannelsFirst(input_shape)  # it goes to a Conv1d (or 1-D pool) first: NCW
    steps, out_shape, perm = reader.read(placeholders[0], result, start, None)
    if isinstance(out_shape, ChannelsFirst):
        raise ImportRefused(
            f"{type(module).__name__}: its output is a channels-first sequence (C, L); the canonical one is "
            "(L, C), so end the model with x.transpose(1, 2)"
        )
    if perm is not None and not np.array_equal(perm, np.arange(len(perm))):
        raise ImportRefused(
            f"{type(module).__name__}: its output is flattened image features; their order differs between "
            "NCHW and NHWC, so end the model with a Linear"
        )
    steps = fold_bias_into_batch_norm([(s.layer, s.params) for s in steps if s.layer is not None])
    if not steps:
        raise ImportRefused(f"{type(module).__name__}: no layers to import")
    rank = len(input_shape)
    if rank == 3:
        c, h, w = input_shape
        spec_shape, layout = (h, w, c), "NCHW"
    elif isinstance(start, ChannelsFirst):
        spec_shape, layout = _canonical_shape(start), "NCW"
    else:
        spec_shape = input_shape
        layout = "tokens" if integer_inputs else "sequence" if rank == 2 else "features"
    spec = ModelSpec(spec_shape, tuple(layer for layer, _ in steps))
    params = {}
    for info, (_, values) in zip(spec.infer(), steps, strict=True):
        params.update({f"{info.name}.{k}": np.asarray(v, dtype=np.float64) for k, v in values.items()})
    expected = {**spec.param_specs(), **spec.state_specs()}
    for name, ps in expected.items():
        if name not in params or params[name].shape != ps.shape:
            got = params[name].shape if name in params else "nothing"
            raise ImportRefused(f"internal: parameter {name} imported as {got}, the spec wants {ps.shape}")
    return Imported(spec, params, layout, type(module).__name__)


def to_canonical_input(x: np.ndarray, layout: str) -> np.ndarray:
    """A batch in the original model's layout -> canonical (NCHW -> NHWC, NCW -> NWC)."""
    from netparity.backends.torch.layout import NCHW

    if layout == "NCW":
        return np.ascontiguousarray(np.swapaxes(x, 1, 2))
    return NCHW.from_native(x) if layout == "NCHW" else x


def predict(module: nn.Module, x: np.ndarray, dtype: str = "float64") -> np.ndarray:
    """The original module's inference-mode outputs on ``x`` (its own layout), as NumPy."""
    import copy

    twin = copy.deepcopy(module).to(getattr(torch, dtype)).eval()  # the user's module stays as it was
    x = np.asarray(x)
    xt = torch.as_tensor(x) if np.issubdtype(x.dtype, np.integer) else torch.as_tensor(x, dtype=getattr(torch, dtype))
    with torch.no_grad():
        return twin(xt).detach().cpu().numpy()


def load_state_dict(module: nn.Module, path: str) -> None:
    """Load a ``state_dict`` saved with torch.save into ``module`` (weights_only: no code runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SpecError(f"--weights {path}: no such file") from None
    except Exception as err:
        raise SpecError(f"--weights {path}: not a torch state_dict: {' '.join(str(err).split())[:200]}") from None
    if not isinstance(state, dict):
        raise SpecError(f"--weights {path}: holds a {type(state).__name__}, not a state_dict")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise SpecError(f"--weights {path}: does not fit the model: {' '.join(str(err).split())[:300]}") from None
