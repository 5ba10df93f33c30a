"""Idiomatic hand-written training steps, one per framework, on the very model an adapter
built: the yardstick for the adapter's own overhead (benchmark (a)).

Each returns a zero-argument callable doing one optimizer step on a fixed staged batch and
returning the loss as a Python float, exactly what the adapter's ``train_step`` returns.
"""

from __future__ import annotations

from collections.abc import Callable

from netparity.backends.base import Batch


def torch_step(model, batch: Batch) -> Callable[[], float]:
    """The loop every PyTorch tutorial writes: zero_grad, forward, loss, backward, step."""
    net, opt, loss_fn, x, y = model.net, model.optimizer, model.loss_fn, batch.x, batch.y
    net.train()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def tf_step(model, batch: Batch) -> Callable[[], float]:
    """A tf.function with a GradientTape over the same variables and the same update kernels."""
    import tensorflow as tf

    calls, variables, apply, loss_fn = model.calls, model.trainable, model.optimizer.apply, model.loss_fn

    @tf.function
    def compiled(x, y):
        with tf.GradientTape() as tape:
            out = x
            for call in calls:
                out = call(out, True)
            loss = loss_fn(out, y)
        apply(variables, tape.gradient(loss, variables))
        return loss

    return lambda: float(compiled(batch.x, batch.y))


def keras_step(model, batch: Batch) -> Callable[[], float]:
    """Keras's own per-batch training call on the compiled Sequential."""
    net, x, y = model.net, batch.x, batch.y
    return lambda: float(net.train_on_batch(x, y))


PLAIN_STEPS = {"torch": torch_step, "tf": tf_step, "keras": keras_step}
