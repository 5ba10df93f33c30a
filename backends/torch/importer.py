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
                if inner_shape != shape:
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
        if isinstance(mod, (nn.MaxPool2d, nn.AvgPool2d)):
            return one(*self.pool(mod, shape, where))
        if isinstance(mod, nn.Flatten):
            if mod.start_dim != 1 or mod.end_dim != -1:
                raise ImportRefused(f"{where}: Flatten(start_dim={mod.start_dim}, end_dim={mod.end_dim}); only (1, -1)")
            return self.flatten(shape, perm, where)
        if isinstance(mod, (nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)):
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
        if isinstance(mod, nn.LSTM):
            return self.lstm(mod, items, i, shape, where)
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
        if name in ("max_pool2d", "avg_pool2d"):
            kw = dict(zip(("kernel_size", "stride", "padding"), args[1:], strict=False)) | kwargs
            if kw.pop("return_indices", False):
                raise ImportRefused(f"{where}: return_indices=True has no canonical counterpart")
            cls = nn.MaxPool2d if name == "max_pool2d" else nn.AvgPool2d
            allowed = {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "dilation"}
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
        raise ImportRefused(f"{where}: no canonical layer for this call")

    @staticmethod
    def _last_step_index(index: tuple, shape) -> bool:
        """x[:, -1] or x[:, -1, :] on a (T, D) sequence."""
        full = slice(None, None, None)
        return len(shape) == 2 and index in ((full, -1), (full, -1, full))

    # --- layers with more to check -------------------------------------------------------
    def flatten(self, shape, perm, where):
        if len(shape) == 3:  # NCHW image: torch order c, h, w; canonical h, w, c
            c, h, w = shape
            perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
        elif len(shape) != 1:
            raise ImportRefused(f"{where}: flattening a {len(shape)}-D input; only images (C, H, W) and vectors map")
        return 1, [Step(L.Flatten(), {})], (math.prod(shape),), perm

    def conv(self, mod: nn.Conv2d, shape, where):
        if len(shape) != 3:
            raise ImportRefused(f"{where}: expects an image (C, H, W), got input shape {shape}")
        if mod.groups != 1 or tuple(mod.dilation) != (1, 1) or mod.padding_mode != "zeros":
            raise ImportRefused(f"{where}: groups, dilation and padding_mode must be 1, 1 and 'zeros'")
        if mod.stride[0] != mod.stride[1]:
            raise ImportRefused(f"{where}: stride {tuple(mod.stride)} differs per axis; the canonical Conv2D has one")
        (c, h, w), (kh, kw), s = shape, mod.kernel_size, mod.stride[0]
        if mod.padding == "same":
            padding = "same"
            if kh % 2 == 0 or kw % 2 == 0:
                raise ImportRefused(f"{where}: padding='same' with an even kernel pads unevenly; use an odd kernel")
        elif tuple(mod.padding) == (0, 0) or mod.padding == "valid":
            padding = "valid"
        else:
            ph, pw = mod.padding
            tf_same = L.same_padding(h, kh, s), L.same_padding(w, kw, s)
            if tf_same != ((ph, ph), (pw, pw)):
                raise ImportRefused(
                    f"{where}: padding={tuple(mod.padding)} is neither 'valid' nor TF 'same' for a {h}x{w} input "
                    f"(same pads {tf_same})"
                )
            padding = "same"
        layer = L.Conv2D(mod.out_channels, (kh, kw) if kh != kw else kh, s, padding, use_bias=mod.bias is not None)
        params = {"kernel": _canonical("conv2d", "kernel", mod.weight)}
        if mod.bias is not None:
            params["bias"] = _np(mod.bias)
        oh, ow, _ = layer.output_shape((h, w, c))
        return layer, params, (mod.out_channels, oh, ow)

    def pool(self, mod: nn.Module, shape, where):
        if len(shape) != 3:
            raise ImportRefused(f"{where}: expects an image (C, H, W), got input shape {shape}")
        k, s = _square(mod.kernel_size, where), _square(mod.stride if mod.stride else mod.kernel_size, where)
        pad = _square(mod.padding, where)
        if pad != 0 or mod.ceil_mode or (isinstance(mod, nn.MaxPool2d) and _square(mod.dilation, where) != 1):
            raise ImportRefused(f"{where}: padding, ceil_mode or dilation; only 'valid' windows map")
        if isinstance(mod, nn.AvgPool2d) and mod.divisor_override:
            raise ImportRefused(f"{where}: divisor_override has no canonical counterpart")
        cls = L.MaxPool2D if isinstance(mod, nn.MaxPool2d) else L.AvgPool2D
        layer = cls(k, s if s != k else None)
        c, h, w = shape
        oh, ow, _ = layer.output_shape((h, w, c))
        return layer, {}, (c, oh, ow)

    def batch_norm(self, mod: nn.Module, shape, perm, where):
        channels = shape[0] if len(shape) in (2, 3) else shape[-1]
        if isinstance(mod, nn.BatchNorm2d) and len(shape) != 3:
            raise ImportRefused(f"{where}: BatchNorm2d expects an image (C, H, W), got {shape}")
        if isinstance(mod, nn.BatchNorm1d) and len(shape) != 1:
            raise ImportRefused(f"{where}: BatchNorm1d on a {len(shape)}-D input (C, L) has no canonical layer")
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

    def lstm(self, mod: nn.LSTM, items: list, i: int, shape, where):
        if not mod.batch_first:
            raise ImportRefused(f"{where}: batch_first=False; the spec's sequences are (batch, T, features)")
        if mod.num_layers != 1 or mod.bidirectional or mod.proj_size or not mod.bias:
            raise ImportRefused(f"{where}: only one layer, one direction, no projection, with biases maps")
        if len(shape) != 2:
            raise ImportRefused(f"{where}: expects a sequence (T, features), got {shape}")
        # which output the graph uses: out (all steps), out[:, -1], or h_n[-1] (the last step)
        n = items[i]
        rest = items[i + 1 : i + 4]
        pattern = [_getitem_index(x) for x in rest]
        full = slice(None, None, None)
        units = mod.hidden_size
        if len(pattern) >= 3 and pattern[0] == 1 and pattern[1] == 0 and pattern[2] in (-1, 0):
            used, return_sequences = 4, False  # _, (h, c) = lstm(x); h[-1]
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
                raise ImportRefused(f"graph node {x.name}: an LSTM state used twice")
        if len(n.users) != 1:
            raise ImportRefused(f"{where}: its outputs are used in several places")
        params = {
            "kernel": _canonical("lstm", "kernel", mod.weight_ih_l0),
            "recurrent_kernel": _canonical("lstm", "recurrent_kernel", mod.weight_hh_l0),
        }
        if "recurrent_bias" in {f.name for f in dataclasses.fields(L.LSTM)}:
            # torch's second bias b_hh as the spec's own recurrent_bias: both train, as in torch
            params |= {"bias": _np(mod.bias_ih_l0), "recurrent_bias": _np(mod.bias_hh_l0)}
            layer = L.LSTM(units, return_sequences=return_sequences, recurrent_bias=True)
        else:
            # torch adds two biases that always appear summed: canonical has their sum (exact forward;
            # trained, the sum moves at one learning rate where torch's two parts move at two)
            params["bias"] = _np(mod.bias_ih_l0) + _np(mod.bias_hh_l0)
            layer = L.LSTM(units, return_sequences=return_sequences)
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
        if not use_bias and "use_bias" not in {f.name for f in dataclasses.fields(L.SelfAttention)}:
            raise ImportRefused(f"{where}: bias=False; the canonical SelfAttention has q, v and output biases")
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


def _square(value: object, where: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ImportRefused(f"{where}: a non-square window {tuple(value)}; canonical pools are square")
        value = value[0]
    return int(value)


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
    """softmax over the canonical last axis: dim=-1, or the channel/feature axis 1 of an image or vector."""
    rank = len(shape) + 1
    return dim == -1 or dim == rank - 1 or (dim == 1 and rank in (2, 4))


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
    if type(mod) in (nn.Softmax, nn.LogSoftmax):
        if mod.dim is None or not _softmax_dim_ok(mod.dim, shape) or (len(shape) == 2 and mod.dim == 1):
            raise ImportRefused(f"{where}: over dim {mod.dim}; only the last (feature/channel) axis maps")
        return _activation_layer("softmax" if type(mod) is nn.Softmax else "log_softmax", where)
    return False


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
    if target in (F.softmax, torch.softmax, F.log_softmax, torch.log_softmax) or (
        n.op == "call_method" and name in ("softmax", "log_softmax")
    ):
        dim = arg(1, "dim", None)
        if dim is None or not _softmax_dim_ok(dim, shape) or (len(shape) == 2 and dim == 1):
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
    steps, _, perm = reader.read(placeholders[0], result, input_shape, None)
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
    """A batch in the original model's layout -> canonical (NCHW -> NHWC)."""
    from netparity.backends.torch.layout import NCHW

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
