"""The cluster engine: campaigns on Ray, one actor per backend (it keeps its framework
imported, like a pool worker), results gathered by the driver into the one campaign.csv.

``--cluster local-ray`` starts a Ray instance on this machine; ``--cluster ray://HOST:PORT``
joins a running cluster through Ray Client (every node needs netparity with its backends
installed: ``pip install 'netparity[all,cluster]'``). Runs with ``--device cuda`` ask Ray
for a GPU per actor. Ray is the optional extra ``cluster``.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
from netparity.harness.run import BackendResult, RunConfig, run_backend
from netparity.spec.errors import SpecError
from netparity.spec.tasks import TaskInstance

ROOT = Path(__file__).resolve().parents[1]  # a checkout's root (or the installed package)


class BackendActor:
    """Lives in a Ray worker process: imports one backend once, then runs jobs."""

    def __init__(self, name: str) -> None:
        import logging

        from netparity.backends import BackendUnavailable, get_backend

        logging.disable(logging.WARNING)  # frameworks' retracing chatter would flood the driver
        self.name = name
        try:
            get_backend(name)
        except (BackendUnavailable, ImportError):
            pass  # run_backend reports the skip

    def run(self, task: TaskInstance, params: dict[str, np.ndarray], config: RunConfig) -> BackendResult:
        from netparity.harness.pool import fresh_state

        fresh_state(config.seed)
        return run_backend(self.name, task, params, config)

    def node(self) -> str:
        import socket

        return socket.gethostname()


def parse_cluster(address: str) -> str | None:
    """``local-ray`` -> None (start one here); ``ray://HOST:PORT`` as is; anything else is bad usage."""
    if address == "local-ray":
        return None
    if address.startswith("ray://") and ":" in address[len("ray://") :]:
        return address
    raise SpecError(f"--cluster expects local-ray or ray://HOST:PORT, got {address!r}")


class RayEngine:
    """A runner for ``harness.run.run`` whose backends run as Ray actors.

    ``replicas`` actors per backend spread a campaign over the nodes (round robin);
    ``cpus_per_actor`` is what each actor reserves (fractional: four backends fit on two cores)."""

    def __init__(
        self,
        cluster: str,
        *,
        timeout_s: float | None = None,
        replicas: int = 1,
        cpus_per_actor: float = 0.5,
        init: dict | None = None,
    ) -> None:
        address = parse_cluster(cluster)
        try:
            import ray
        except ImportError:
            raise SpecError("--cluster needs Ray: pip install 'netparity[cluster]'") from None
        self.ray = ray
        self.timeout_s = timeout_s
        self.replicas = replicas
        self.cpus_per_actor = cpus_per_actor
        self._owns = not ray.is_initialized()
        if self._owns:
            options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
            if address is None:  # local workers import this checkout, and stay quiet
                env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
                env["TF_CPP_MIN_LOG_LEVEL"] = "2"
                options["runtime_env"] = {"env_vars": env}
            ray.init(address=address, **{**options, **(init or {})})
        self._remote = ray.remote(BackendActor)
        self._actors: dict[tuple, list] = {}
        self._turn: dict[tuple, itertools.count] = {}
        self._lock = threading.Lock()

    def _actor(self, name: str, config: RunConfig):
        key = (name, config.threads, config.device)
        with self._lock:
            if key not in self._actors:
                gpus = 1 if config.device.startswith("cuda") else 0
                options = self._remote.options(num_cpus=self.cpus_per_actor, num_gpus=gpus)
                self._actors[key] = [options.remote(name) for _ in range(self.replicas)]
                self._turn[key] = itertools.count()
            i = next(self._turn[key]) % self.replicas
            return key, i, self._actors[key][i]

    def start(self, names: list[str], config: RunConfig) -> None:
        for name in names:
            self._actor(name, config)

    def __call__(
        self,
        name: str,
        task: TaskInstance,
        params: dict[str, np.ndarray],
        config: RunConfig,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> BackendResult:
        ray = self.ray
        key, i, actor = self._actor(name, config)
        ref = actor.run.remote(task, params, config)
        try:
            return ray.get(ref, timeout=self.timeout_s)
        except ray.exceptions.GetTimeoutError:
            self._replace(key, i, actor)
            return BackendResult(
                name, status="failed", reason=f"timed out after {self.timeout_s:g} s; its actor was restarted"
            )
        except ray.exceptions.RayActorError:
            self._replace(key, i, actor)
            return BackendResult(
                name, status="failed", reason="its Ray actor died (a crash, or out of memory); restarted"
            )

    def _replace(self, key: tuple, i: int, actor) -> None:
        self.ray.kill(actor, no_restart=True)
        with self._lock:
            gpus = 1 if key[2].startswith("cuda") else 0
            self._actors[key][i] = self._remote.options(num_cpus=self.cpus_per_actor, num_gpus=gpus).remote(key[0])

    def nodes(self) -> dict[str, str]:
        """Which node each actor runs on (backend/replica -> hostname)."""
        ray = self.ray
        return {
            f"{key[0]}/{i}": ray.get(a.node.remote())
            for key, actors in self._actors.items()
            for i, a in enumerate(actors)
        }

    def close(self) -> None:
        for actors in self._actors.values():
            for a in actors:
                self.ray.kill(a, no_restart=True)
        self._actors = {}
        if self._owns:
            self.ray.shutdown()
