"""GRU as a JAX function (lax.scan over time), gates z, r, h (the canonical order)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from netparity.backends.jax.layers import Apply, Ctx, Params, Run, register
from netparity.spec import layers as L


@register(L.GRU)
def gru(layer: L.GRU, ctx: Ctx) -> Apply:
    """x_z, x_r, x_h = x_t @ kernel + bias; z = sigmoid(x_z + h_z), r = sigmoid(x_r + h_r);
    reset_after: h_z, h_r, h_h = h @ recurrent_kernel + recurrent_bias, n = tanh(x_h + r * h_h);
    else h_z, h_r from h @ recurrent_kernel[:, :2H], n = tanh(x_h + (r * h) @ recurrent_kernel[:, 2H:]);
    h = z * h + (1 - z) * n."""
    kernel, recurrent, bias, rbias = (ctx.name(k) for k in ("kernel", "recurrent_kernel", "bias", "recurrent_bias"))
    units = layer.units

    def apply(p: Params, x: jax.Array, run: Run) -> jax.Array:
        r_kernel = p[recurrent]

        def step(h: jax.Array, xz: jax.Array):
            x_z, x_r, x_h = jnp.split(xz, 3, axis=-1)
            if layer.reset_after:
                h_z, h_r, h_h = jnp.split(h @ r_kernel + p[rbias], 3, axis=-1)
                z, r = jax.nn.sigmoid(x_z + h_z), jax.nn.sigmoid(x_r + h_r)
                n = jnp.tanh(x_h + r * h_h)
            else:
                h_z, h_r = jnp.split(h @ r_kernel[:, : 2 * units], 2, axis=-1)
                z, r = jax.nn.sigmoid(x_z + h_z), jax.nn.sigmoid(x_r + h_r)
                n = jnp.tanh(x_h + (r * h) @ r_kernel[:, 2 * units :])
            h = z * h + (1 - z) * n
            return h, h

        h0 = jnp.zeros((x.shape[0], units), x.dtype)
        h, hs = lax.scan(step, h0, jnp.swapaxes(x @ p[kernel] + p[bias], 0, 1))
        return jnp.swapaxes(hs, 0, 1) if layer.return_sequences else h

    return apply
