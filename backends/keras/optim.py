"""The recipe's optimizer as a native keras.optimizers optimizer, configured explicitly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

from spec.recipe import Optimizer


@contextlib.contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """Keras creates optimizer variables (the learning rate among them) in floatx; a float64
    run needs them in float64, or lr=0.01 is rounded to 0.009999999776 (SEMANTICS 1.8)."""
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old)


def make_optimizer(opt: Optimizer, dtype: str) -> keras.optimizers.Optimizer:
    if opt.name == "sgd" and not opt.momentum and not opt.weight_decay:
        with floatx(dtype):
            return keras.optimizers.SGD(learning_rate=opt.lr)
    raise NotImplementedError(f"the keras backend has no {opt.name!r} optimizer with these settings")
