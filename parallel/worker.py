"""A parallel worker: one extra rank of a ComfyUI server's process group, replaying its DVSampler calls.

Started by parallel/pool.py as `python -c pool.BOOT`, it imports the pack by path under the server's own package
name (so the jobs' classes resolve), joins the group, then takes jobs from its pipe until told to stop. It
runs outside ComfyUI (the pack's standalone host, with the server's model folders from DV_FOLDER_PATHS), so
it never writes outputs nor shows progress.
"""

from __future__ import annotations

import datetime
import os
import traceback
from typing import Any


def main(address: list, authkey: str, rank: int, world_size: int, init_method: str, backend: str,
         timeout_s: float) -> None:
    from multiprocessing.connection import Client

    import torch.distributed as dist

    from .. import NODE_CLASS_MAPPINGS
    from ..runner.core_nodes import CORE_NODES
    from ..runner.executor import Executor
    from . import group

    conn = Client(tuple(address), authkey=bytes.fromhex(authkey))
    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))
    executor = Executor({**CORE_NODES, **NODE_CLASS_MAPPINGS})  # keeps its models between jobs, as ComfyUI does
    conn.send(("ready", os.getpid()))
    try:
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            conn.send(_run(executor, conn, message[1], rank, world_size, backend, timeout_s, group))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        conn.close()


def _run(executor: Any, conn: Any, job: dict[str, Any], rank: int, world_size: int, backend: str, timeout_s: float,
         group: Any) -> tuple:
    from ..nodes.sampling import DVSampler

    group._current = group.Ranks(rank, world_size, rank, backend, job["mode"], world_size, timeout_s)
    try:
        built = {}
        for name, recipe in job["recipes"].items():
            result = executor.run(recipe.nodes, targets=[recipe.node_id])
            built[name] = result.values[recipe.node_id][recipe.output]
        # Only now does the server enter the run's collectives: loading can take minutes, and a worker that
        # fails or dies while loading is seen on this pipe at once instead of as a wait in a collective.
        conn.send(("built", None))
        DVSampler().sample(**job["values"], **built)
        return ("done", None)
    except BaseException as error:  # reported to the server, which fails the prompt with it
        return ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=6)}")
    finally:
        group._current = None
