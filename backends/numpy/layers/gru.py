"""GRU in NumPy (sequences are (N, T, D)), both reset conventions; gates z, r, h (spec.layers.GRU)."""

from __future__ import annotations

import numpy as np
from netparity.backends.numpy.activations import sigmoid
from netparity.backends.numpy.layers import NpLayer, register
from netparity.spec import layers as L


@register(L.GRU)
class GRU(NpLayer):
    """z = sig(x_z + h U_z), r = sig(x_r + h U_r), n = tanh(x_h + r * (h U_h + b_h)) [reset_after]
    or tanh(x_h + (r * h) U_h) [reset before]; h' = z * h + (1 - z) * n. Backward is BPTT.
    """

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        n, steps, _ = x.shape
        units, p = self.spec.units, self.params
        u = p["recurrent_kernel"]
        self.x = x
        x_proj = x @ p["kernel"] + p["bias"]  # (N, T, 3H): the input half of every step at once
        self.h = np.zeros((n, steps + 1, units), dtype=x.dtype)  # h[:, t + 1] is h_t; h[:, 0] = 0
        self.z, self.r, self.cand = (np.empty((n, steps, units), dtype=x.dtype) for _ in range(3))
        self.h_proj = np.empty((n, steps, units), dtype=x.dtype)  # h U_h + b_h (after) or (r*h) U_h (before)
        for t in range(steps):
            h = self.h[:, t]
            xz, xr, xh = np.split(x_proj[:, t], 3, axis=1)
            if self.spec.reset_after:
                hz, hr, hh = np.split(h @ u + p["recurrent_bias"], 3, axis=1)
                self.z[:, t], self.r[:, t] = sigmoid(xz + hz), sigmoid(xr + hr)
                self.h_proj[:, t] = hh
                self.cand[:, t] = np.tanh(xh + self.r[:, t] * hh)
            else:
                hz, hr = np.split(h @ u[:, : 2 * units], 2, axis=1)
                self.z[:, t], self.r[:, t] = sigmoid(xz + hz), sigmoid(xr + hr)
                self.h_proj[:, t] = (self.r[:, t] * h) @ u[:, 2 * units :]
                self.cand[:, t] = np.tanh(xh + self.h_proj[:, t])
            self.h[:, t + 1] = self.z[:, t] * h + (1 - self.z[:, t]) * self.cand[:, t]
        return self.h[:, 1:].copy() if self.spec.return_sequences else self.h[:, -1].copy()

    def backward(self, dy: np.ndarray) -> np.ndarray:
        n, steps, _ = self.x.shape
        units, p, g = self.spec.units, self.params, self.grads
        u = p["recurrent_kernel"]
        dx_proj = np.empty((n, steps, 3 * units), dtype=dy.dtype)  # gradient of x W + b, gates z, r, h
        du = np.zeros_like(u)
        d_rbias = np.zeros(3 * units, dtype=dy.dtype)
        dh_next = np.zeros((n, units), dtype=dy.dtype)
        for t in reversed(range(steps)):
            if self.spec.return_sequences:
                dh = dh_next + dy[:, t]
            else:
                dh = dh_next + dy if t == steps - 1 else dh_next
            h, z, r, cand = self.h[:, t], self.z[:, t], self.r[:, t], self.cand[:, t]
            dz_pre = dh * (h - cand) * z * (1 - z)
            dn_pre = dh * (1 - z) * (1 - cand * cand)
            dh_prev = dh * z
            if self.spec.reset_after:
                dr_pre = dn_pre * self.h_proj[:, t] * r * (1 - r)
                dh_pre = np.concatenate([dz_pre, dr_pre, dn_pre * r], axis=1)  # gradient of h U + b_r
                du += h.T @ dh_pre
                d_rbias += dh_pre.sum(axis=0)
                dh_prev += dh_pre @ u.T
            else:
                d_rh = dn_pre @ u[:, 2 * units :].T  # gradient of r * h
                dr_pre = d_rh * h * r * (1 - r)
                du[:, 2 * units :] += (r * h).T @ dn_pre
                dzr = np.concatenate([dz_pre, dr_pre], axis=1)
                du[:, : 2 * units] += h.T @ dzr
                dh_prev += d_rh * r + dzr @ u[:, : 2 * units].T
            dx_proj[:, t] = np.concatenate([dz_pre, dr_pre, dn_pre], axis=1)
            dh_next = dh_prev
        flat = dx_proj.reshape(-1, 3 * units)
        g["kernel"][...] = self.x.reshape(-1, self.x.shape[-1]).T @ flat
        g["bias"][...] = flat.sum(axis=0)
        g["recurrent_kernel"][...] = du
        if self.spec.reset_after:
            g["recurrent_bias"][...] = d_rbias
        return dx_proj @ p["kernel"].T
