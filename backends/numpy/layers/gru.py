"""GRU in NumPy (sequences are (N, T, D)), both reset conventions; gates z, r, h (spec.layers.GRU)."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.layers import NpLayer, register
from netparity.backends.numpy.layers.sequence import recurrent_output_gradient
from netparity.spec import layers as L


def blocks(w: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """w (..., 3H) with its gate blocks (canonical z, r, h) taken in ``order`` (a copy)."""
    u = w.shape[-1] // 3
    return np.concatenate([w[..., k * u : (k + 1) * u] for k in order], axis=-1)


def set_blocks(grad: np.ndarray, order: tuple[int, ...], value: np.ndarray) -> None:
    """grad (..., 3H, canonical z, r, h) gets value's gate blocks, which are in ``order``."""
    u = grad.shape[-1] // 3
    for j, k in enumerate(order):
        grad[..., k * u : (k + 1) * u] = value[..., j * u : (j + 1) * u]


R_Z_N = (1, 0, 2)  # the forward's gate rows: r and z side by side for one sigmoid, then n
N_Z_R = (2, 0, 1)  # the backward's rows of dz: n, z, r (then d(r * (h U_h + b_h)) when reset_after)


@register(L.GRU)
class GRU(NpLayer):
    """z = sig(x_z + h U_z), r = sig(x_r + h U_r), n = tanh(x_h + r * (h U_h + b_h)) [reset_after]
    or tanh(x_h + (r * h) U_h) [reset before]; h' = z * h + (1 - z) * n. Backward is BPTT.

    As in the LSTM, every step's arrays are feature-major, (features, N), so that each gate is
    a contiguous block of rows; the inputs' half of every step is one batched GEMM, h U (with
    the recurrent bias, and the input bias of z and r, through a row of ones under h) one
    small GEMM a step (two before the reset: (r * h) U_h waits for r), and the sigmoid of r and
    z one tanh of their pre-halved (exact) sum plus an in-place affine. h' is computed as
    n + z * (h - n), the same value. Buffers are kept between calls.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, steps, _ = x.shape
        u, p, after = self.spec.units, self.params, self.spec.reset_after
        halves = np.ones((3 * u, 1), dtype=x.dtype)
        halves[: 2 * u] = 0.5  # r, z enter tanh as their half (a power of two: exact)
        bias = blocks(p["bias"], R_Z_N)[:, None] * halves
        kernel_t = blocks(p["kernel"], R_Z_N).T * halves  # (3H, D)
        rows = 3 * u if after else 2 * u  # the recurrent GEMM's output: r, z (and h U_h + b_h)
        recurrent_t = self.buffer("recurrent_t", (rows, u + 1))  # [U^T b_r] (+ b for r, z)
        np.multiply(blocks(p["recurrent_kernel"], R_Z_N).T[:rows], halves[:rows], out=recurrent_t[:, :u])
        if after:
            np.multiply(blocks(p["recurrent_bias"], R_Z_N)[:, None], halves, out=recurrent_t[:, u:])
        else:
            recurrent_t[:, u:] = 0.0
        recurrent_t[: 2 * u, u:] += bias[: 2 * u]  # b of r, z joins h U; b of n stays outside r * (...)
        self.recurrent_n_t = np.ascontiguousarray(p["recurrent_kernel"][:, 2 * u :].T)  # (H, H), reset before
        self.x = x
        self.gates = gates = self.buffer("gates", (steps, 3 * u, n))  # r, z, n
        self.h = h = self.buffer("h", (steps + 1, u + 1, n))  # h[t + 1] = [h_t; 1]; h[0] = [0; 1]
        self.h_proj = h_proj = self.buffer("h_proj", (steps, rows, n))  # h U + b_r (+ b for r, z)
        self.h_minus_n = h_minus_n = self.buffer("h_minus_n", (steps, u, n))
        self.rh = rh = self.buffer("rh", (steps, u, n))  # r * h_{t-1} (reset before)
        half = np.array(0.5, dtype=x.dtype)  # a 0-d array: a Python float costs ~0.3 us more per call
        x_proj = self.buffer("x_proj", (steps, 3 * u, n))
        np.matmul(kernel_t, x.transpose(1, 2, 0), out=x_proj)  # the inputs' half of every step
        x_proj[:, 2 * u :] += bias[2 * u :]
        h[0, :u] = 0.0
        h[:, u] = 1.0  # the bias's row
        for t in range(steps):
            g, hp, h_prev = gates[t], h_proj[t], h[t]
            if t:
                np.matmul(recurrent_t, h_prev, out=hp)
            else:  # h_{-1} = 0
                hp[...] = recurrent_t[:, u:]
            rz, r, z, cand = g[: 2 * u], g[:u], g[u : 2 * u], g[2 * u :]
            np.add(x_proj[t, : 2 * u], hp[: 2 * u], out=rz)
            np.tanh(rz, out=rz)
            np.multiply(rz, half, rz)  # sigmoid = (1 + tanh(z/2)) / 2 for r, z
            np.add(rz, half, rz)
            if after:
                np.multiply(r, hp[2 * u :], out=cand)
            else:
                np.multiply(r, h_prev[:u], out=rh[t])
                np.matmul(self.recurrent_n_t, rh[t], out=cand)
            cand += x_proj[t, 2 * u :]
            np.tanh(cand, out=cand)
            np.subtract(h_prev[:u], cand, out=h_minus_n[t])
            np.multiply(z, h_minus_n[t], out=h[t + 1, :u])
            h[t + 1, :u] += cand
        out = h[1:, :u].transpose(2, 0, 1) if self.spec.return_sequences else h[-1, :u].T
        return np.ascontiguousarray(out)

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        n, steps, d_in = self.x.shape
        u, p, after = self.spec.units, self.params, self.spec.reset_after
        gates = self.gates
        r, z, cand = gates[:, :u], gates[:, u : 2 * u], gates[:, 2 * u :]
        # Local derivatives of every step at once, outside the sequential loop:
        # dn = dh (1-z)(1-n^2); dz = dh (h-n) z(1-z); dr = d(r*a) a r(1-r), a = h U_h + b_h [after] or h [before]
        k = 4 if after else 3
        local = self.buffer("local", (steps, k * u, n))  # n, z, r, then r [after]
        d_sig = gates[:, : 2 * u] * (1 - gates[:, : 2 * u])  # r(1-r), z(1-z)
        np.square(cand, out=local[:, :u])
        np.subtract(1, local[:, :u], out=local[:, :u])
        local[:, :u] *= 1 - z
        np.multiply(self.h_minus_n, d_sig[:, u:], out=local[:, u : 2 * u])
        a = self.h_proj[:, 2 * u :] if after else self.h[:steps, :u]
        np.multiply(a, d_sig[:, :u], out=local[:, 2 * u : 3 * u])
        if after:
            local[:, 3 * u :] = r
        recurrent = p["recurrent_kernel"]  # (H, 3H), canonical z, r, h: dh = U [dz; dr; d(hU_h)]
        dh, tmp = self.buffer("dh", (u, n)), self.buffer("tmp", (u, n))
        dh_out = recurrent_output_gradient(dy, dh, self.spec.return_sequences)
        dz = self.buffer("dz", (steps, k * u, n))  # rows n, z, r (the inputs' side), then r * dn [after]
        dz4, local4 = dz.reshape(steps, k, u, n), local.reshape(steps, k, u, n)
        d_rh = self.buffer("d_rh", (u, n))
        recurrent_zr, recurrent_n = recurrent[:, : 2 * u], recurrent[:, 2 * u :]
        for t in reversed(range(steps)):
            if dh_out is not None:
                dh += dh_out[t]
            np.multiply(dh, local4[t, :2], out=dz4[t, :2])  # dn, dz
            if after:
                np.multiply(dz[t, :u], local4[t, 2:], out=dz4[t, 2:])  # dr, d(h U_h + b_h) = r dn
                if t:  # nothing flows into h_{-1}
                    np.multiply(dh, z[t], out=tmp)
                    np.matmul(recurrent, dz[t, u:], out=dh)
                    dh += tmp
            else:
                np.matmul(recurrent_n, dz[t, :u], out=d_rh)  # d(r * h)
                np.multiply(d_rh, local[t, 2 * u : 3 * u], out=dz[t, 2 * u : 3 * u])  # dr
                if t:
                    np.multiply(dh, z[t], out=tmp)
                    np.matmul(recurrent_zr, dz[t, u : 3 * u], out=dh)
                    dh += tmp
                    np.multiply(d_rh, r[t], out=tmp)
                    dh += tmp
        # the weight gradients of all steps as GEMMs over (step, example) pairs t*N + n
        dz2 = self.buffer("dz2", (k * u, steps * n))
        dz2.reshape(k * u, steps, n)[...] = dz.transpose(1, 0, 2)
        inputs = self.buffer("inputs", (steps, n, d_in + 1 + u))  # [x_t 1 h_{t-1}]
        inputs[:, :, :d_in] = self.x.transpose(1, 0, 2)
        inputs[:, :, d_in] = 1.0
        inputs[:, :, d_in + 1 :] = self.h[:steps, :u].transpose(0, 2, 1)
        flat = inputs.reshape(steps * n, -1)
        w_b = dz2[: 3 * u] @ flat[:, : d_in + 1]  # rows n, z, r; columns x, 1
        set_blocks(self.grads["kernel"], N_Z_R, w_b[:, :d_in].T)
        set_blocks(self.grads["bias"], N_Z_R, w_b[:, d_in])
        g = self.grads["recurrent_kernel"]
        if after:  # rows z, r, r * dn = the canonical order; columns 1, h
            u_b = dz2[u:] @ flat[:, d_in:]
            g[...] = u_b[:, 1:].T
            self.grads["recurrent_bias"][...] = u_b[:, 0]
        else:
            g[:, : 2 * u] = (dz2[u : 3 * u] @ flat[:, d_in + 1 :]).T
            rh = self.buffer("rh_flat", (steps, n, u))
            rh[...] = self.rh.transpose(0, 2, 1)
            g[:, 2 * u :] = (dz2[:u] @ rh.reshape(-1, u)).T
        if not self.need_input_grad:
            return None
        dx = dz2[: 3 * u].T @ blocks(p["kernel"], N_Z_R).T  # (T*N, D)
        return np.ascontiguousarray(dx.reshape(steps, n, -1).transpose(1, 0, 2))
