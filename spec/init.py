"""The one canonical initializer: every backend starts from these NumPy arrays.

Each parameter draws from its own generator, seeded by (seed, crc32(name)), so adding a
layer never changes the initial values of the others.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
from netparity.spec.layers import ParamSpec
from netparity.spec.model import ModelSpec
from netparity.spec.schemes import parse_scheme


def draw(ps: ParamSpec, rng: np.random.Generator) -> np.ndarray:
    """Draw one parameter (float64) according to its scheme and fans."""
    scheme, arg = parse_scheme(ps.init)
    shape, fan_in, fan_out = ps.shape, ps.fan_in, ps.fan_out
    if scheme == "zeros":
        return np.zeros(shape)
    if scheme == "ones":
        return np.ones(shape)
    if scheme == "constant":  # "constant:V" fills with V (0 without a value)
        return np.full(shape, arg or 0.0)
    if scheme == "unit_forget":  # LSTM bias: zeros, forget gate (second quarter) ones
        bias = np.zeros(shape)
        h = shape[-1] // 4
        bias[h : 2 * h] = 1.0
        return bias
    if scheme == "xavier_uniform":
        limit = math.sqrt(6.0 / (fan_in + fan_out)) * (arg or 1.0)
        return rng.uniform(-limit, limit, shape)
    if scheme == "xavier_normal":
        return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)) * (arg or 1.0), shape)
    if scheme == "kaiming_uniform":
        limit = math.sqrt(6.0 / fan_in) * (arg or 1.0)
        return rng.uniform(-limit, limit, shape)
    if scheme == "kaiming_normal":
        return rng.normal(0.0, math.sqrt(2.0 / fan_in) * (arg or 1.0), shape)
    if scheme == "normal":
        return rng.normal(0.0, arg if arg is not None else 0.05, shape)
    if scheme == "uniform":
        limit = arg if arg is not None else 0.05
        return rng.uniform(-limit, limit, shape)
    # orthogonal: QR of a Gaussian matrix, sign-fixed so the result is unique
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    a = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return (arg or 1.0) * q[:rows, :cols].reshape(shape)


def init_params(model: ModelSpec, seed: int) -> dict[str, np.ndarray]:
    """Canonical float64 parameters and state for ``model``, reproducible from ``seed``."""
    specs = {**model.param_specs(), **model.state_specs()}
    return {name: draw(ps, np.random.default_rng([seed, zlib.crc32(name.encode())])) for name, ps in specs.items()}
