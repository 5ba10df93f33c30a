"""Canonical <-> tf.Module layouts. Our raw-TF layers are written in the canonical layout
(tf.matmul(x, W) with W (in, out), tf.nn.conv2d with HWIO filters and NHWC images), so
every map is the identity; the table exists so that a layer needing one declares it here."""

from __future__ import annotations

from netparity.backends.base import LayoutTable

LAYOUTS = LayoutTable()

layout_for = LAYOUTS.lookup
