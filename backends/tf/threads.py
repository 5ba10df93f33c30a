"""TensorFlow's thread pools, device and TF32 switches (shared by the tf and keras backends)."""

from __future__ import annotations


def set_tf_threads(n: int) -> str:
    """intra-op = n threads per kernel (the BLAS-like work), inter-op = 1: ops run one after
    another, as in eager PyTorch and NumPy, so every backend computes with n threads.
    TF fixes its pools at first use: later calls cannot change them, and say so."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        return f"TF already initialized; threads left at intra_op={intra or 'default'}"
    return f"TF intra_op={n}, inter_op=1"


def require_device(device: str) -> None:
    """Raise BackendUnavailable unless TensorFlow sees the requested device."""
    if not device.startswith("cuda"):
        return
    import tensorflow as tf
    from netparity.backends.base import BackendUnavailable

    if not tf.config.list_physical_devices("GPU"):
        raise BackendUnavailable(f"--device {device}: TensorFlow sees no GPU (a CPU build, or no CUDA device)")


def set_tf32(enabled: bool) -> str:
    """TF32 on Ampere+ GPUs: TF turns it on by default (~1e-3 relative error in float32)."""
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(enabled)
    return f"tf32={'on' if enabled else 'off'}"
