"""The worker processes that let one ComfyUI server spread a video over several devices.

ComfyUI runs every prompt in one process, so the server process is rank 0 and the pool adds degree-1 worker
processes that join one torch.distributed group with it (NCCL on GPUs, one GPU each; gloo on CPUs). Workers
start with the first parallel prompt and stay for the next ones (their models stay loaded); they stop when
the server exits or `stop_all` runs. Every collective has a timeout, so a worker that dies mid-run fails the
prompt with a message within that time and the pool is rebuilt on the next prompt, never a hang.
"""

from __future__ import annotations

import atexit
import datetime
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from . import group

log = logging.getLogger("DiffusersVideo")

# Run by the pool in a fresh interpreter: argv[1] the pack folder, argv[2] the package name, argv[3] the
# worker's settings as JSON.
BOOT = """
import importlib.util, json, sys, types
folder, name, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
parts = name.split(".")
for i in range(1, len(parts)):  # parents of a dotted package name, as empty packages
    sys.modules.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
spec = importlib.util.spec_from_file_location(name, folder + "/__init__.py", submodule_search_locations=[folder])
module = importlib.util.module_from_spec(spec)
sys.modules[name] = module
spec.loader.exec_module(module)
importlib.import_module(name + ".parallel.worker").main(**settings)
"""

PACKAGE = __name__.rsplit(".parallel", 1)[0]  # the name the server imported the pack under
PACK_FOLDER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A worker imports torch, diffusers and the pack before it can join: on a busy machine that alone takes tens of
# seconds, so starting waits at least this long whatever the collectives' timeout.
START_TIMEOUT_S = 300.0
# A worker builds its inputs (loads the model from the same files as the server, encodes the text) before the
# run's collectives start: minutes for a 14B model from a slow disk. It is watched all along (a worker that exits
# or fails is seen at once), so this bound only ends a worker that hangs while loading.
BUILD_TIMEOUT_S = 1800.0


class ParallelRunError(RuntimeError):
    """A worker failed or vanished during a parallel run (the prompt fails; the pool is rebuilt)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerPool:
    def __init__(self, degree: int, backend: str, timeout_s: float) -> None:
        self.degree, self.backend, self.timeout_s = degree, backend, timeout_s
        self.processes: list[subprocess.Popen] = []
        self.conns: list[Any] = []
        self.busy = False  # a run is using the pool: a stop asked for meanwhile waits for its end
        self.stop_when_done = False
        self.scratch = tempfile.mkdtemp(prefix="dv-parallel-")

    # ------------------------------------------------------------------------------------------- life

    def start(self) -> None:
        from multiprocessing.connection import Listener

        import torch.distributed as dist

        from .. import host

        key = secrets.token_bytes(32)
        listener = Listener(("127.0.0.1", 0), authkey=key)
        init_method = f"tcp://127.0.0.1:{_free_port()}"
        env = {**os.environ, "DV_FOLDER_PATHS": json.dumps(host.all_folder_paths()),
               "DV_INPUT_DIR": host.input_directory(), "DV_OUTPUT_DIR": os.path.join(self.scratch, "output"),
               "DV_PROGRESS": "0"}
        for rank in range(1, self.degree):
            settings = {"address": list(listener.address), "authkey": key.hex(), "rank": rank,
                        "world_size": self.degree, "init_method": init_method, "backend": self.backend,
                        "timeout_s": self.timeout_s}
            worker_env = dict(env)
            if self.backend == "nccl":
                worker_env["CUDA_VISIBLE_DEVICES"] = str(rank)  # its own GPU, seen as cuda:0
            # cwd outside ComfyUI's folder: the worker must not import ComfyUI's modules (it runs standalone).
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", BOOT, PACK_FOLDER, PACKAGE, json.dumps(settings)], cwd=self.scratch,
                env=worker_env))
        accepted: list[Any] = []
        acceptor = threading.Thread(target=lambda: [accepted.append(listener.accept())
                                                    for _ in range(self.degree - 1)], daemon=True)
        acceptor.start()
        start_timeout = max(self.timeout_s, START_TIMEOUT_S)
        waited = 0.0
        while acceptor.is_alive() and waited < start_timeout:
            acceptor.join(0.5)
            waited += 0.5
            if any(p.poll() is not None for p in self.processes):  # a worker died while starting: no waiting on
                break
        listener.close()
        self.conns = accepted
        if len(accepted) < self.degree - 1:
            self.stop()
            raise ParallelRunError(f"DVParallel: {self.degree - 1 - len(accepted)} of {self.degree - 1} worker "
                                   f"processes did not start within {start_timeout:g} s.")
        dist.init_process_group(self.backend, init_method=init_method, rank=0, world_size=self.degree,
                                timeout=datetime.timedelta(seconds=self.timeout_s))
        for conn in self.conns:
            if not conn.poll(start_timeout):
                self.stop()
                raise ParallelRunError("DVParallel: a worker joined the group but did not report ready.")
            conn.recv()
        log.info("DiffusersVideo: %d parallel worker processes ready (%s)", self.degree - 1, self.backend)

    def alive(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        import torch.distributed as dist

        for conn in self.conns:
            try:
                conn.send(("stop", None))
            except (OSError, ValueError):
                pass
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for conn in self.conns:
            conn.close()
        self.processes, self.conns = [], []
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    # -------------------------------------------------------------------------------------------- run

    def run(self, job: dict[str, Any], local_call: Callable[[], Any]) -> Any:
        """Send the job to every worker, run rank 0's share here, and collect the workers' reports."""
        try:
            for conn in self.conns:
                conn.send(("job", job))
        except (OSError, ValueError) as error:
            raise self._failed(f"a worker could not take the job ({error})") from error
        self._await_built()
        group._current = group.Ranks(0, self.degree, 0, self.backend, job["mode"], self.degree,
                                     self.timeout_s)
        self.busy = True
        try:
            result = local_call()
        except BaseException as error:
            if not self.alive() or "gloo" in str(error).lower() or "timed out" in str(error).lower():
                raise self._failed(f"the run stopped: {type(error).__name__}: {error}") from error
            self._drain()  # an interrupt or a DV error: every rank stopped at the same step
            raise
        finally:
            group._current = None
            self.busy = False
        self._drain(raise_errors=True)
        if self.stop_when_done:
            stop_all()
        return result

    def _await_built(self) -> None:
        """Wait for every worker to have built its inputs, watching that each is alive and that the prompt was
        not interrupted: no collective starts (where a dead peer could only be seen through a timeout) until
        every rank is ready to sample."""
        from .. import host

        pending = dict(enumerate(self.conns, start=1))
        bound = max(self.timeout_s, BUILD_TIMEOUT_S)
        deadline = time.monotonic() + bound
        while pending:
            for rank, conn in list(pending.items()):
                try:
                    status, detail = conn.recv() if conn.poll(0.1) else (None, None)
                except (OSError, EOFError):  # its end of the pipe closed: the process is gone or going
                    try:
                        self.processes[rank - 1].wait(timeout=5)  # so that the message gives its exit code
                    except subprocess.TimeoutExpired:
                        pass
                    raise self._failed("a worker exited while building its inputs") from None
                if status is not None:
                    if status != "built":
                        raise self._failed(f"worker rank {rank} could not build its inputs: {detail}")
                    del pending[rank]
            if pending and any(p.poll() is not None for p in self.processes):
                raise self._failed("a worker exited while building its inputs")
            if pending and host.interrupt_pending():
                error = self._failed("interrupted")  # stops the pool: its workers must not start sampling alone
                host.check_interrupt()
                raise error
            if pending and time.monotonic() > deadline:
                raise self._failed(f"worker ranks {sorted(pending)} did not build their inputs within {bound:g} s")

    def _drain(self, raise_errors: bool = False) -> None:
        for rank, conn in enumerate(self.conns, start=1):
            try:
                if not conn.poll(self.timeout_s):
                    raise self._failed(f"worker rank {rank} did not finish within {self.timeout_s:g} s")
                status, detail = conn.recv()
            except (OSError, EOFError):
                raise self._failed(f"worker rank {rank} vanished before reporting") from None
            if status == "error" and raise_errors:
                raise self._failed(f"worker rank {rank}: {detail}")

    def _failed(self, what: str) -> ParallelRunError:
        codes = [p.poll() for p in self.processes]
        gone = [f"rank {i} exited with code {c}" for i, c in enumerate(codes, start=1) if c is not None]
        self.stop()
        _pools.pop((self.degree, self.backend), None)
        detail = f" ({'; '.join(gone)})" if gone else ""
        return ParallelRunError(f"DVParallel: {what}{detail}. The worker pool was stopped; the next prompt starts a "
                                "new one.")


_pools: dict[tuple[int, str], WorkerPool] = {}


def pool_for(degree: int, backend: str, timeout_s: float) -> WorkerPool:
    """The running pool of this size, started on first use (one pool at a time: a group per process)."""
    found = _pools.get((degree, backend))
    if found is not None and found.alive():
        found.timeout_s = timeout_s
        return found
    stop_all()
    pool = WorkerPool(degree, backend, timeout_s)
    pool.start()
    _pools[(degree, backend)] = pool
    return pool


def stop_all() -> None:
    for pool in list(_pools.values()):
        pool.stop()
    _pools.clear()


def stop_when_idle() -> None:
    """/free: stop the workers now, or right after the run that is using them."""
    if any(pool.busy for pool in _pools.values()):
        for pool in _pools.values():
            pool.stop_when_done = True
        return
    stop_all()


atexit.register(stop_all)
