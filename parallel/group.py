"""The process group of a parallel run, as torchrun describes it in the environment.

Every rank executes the same graph with the same seed; rank 0 alone writes files and prints progress.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

from ..errors import DVInputError

# Every collective waits at most this long: a rank that died leaves the others with an error, not a hang.
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    local_rank: int
    backend: str  # "gloo" (CPU) or "nccl" (CUDA)
    mode: str  # "ulysses" or "ring": what the denoisers run as; "seeds": each rank renders its own seeds
    degree: int  # ranks one video is spread over (1 for "seeds")
    timeout_s: float = DEFAULT_TIMEOUT_S  # what every collective of the run waits at most, sub-groups' too

    @property
    def device(self) -> str:
        return f"cuda:{self.local_rank}" if self.backend == "nccl" else "cpu"


_current: Ranks | None = None


def current() -> Ranks | None:
    """The parallel run this process is part of, or None (a plain run)."""
    return _current


def is_output_rank() -> bool:
    """Whether this process writes outputs and shows progress: always outside a parallel run, else rank 0."""
    return _current is None or _current.rank == 0


def join_from_environment(mode: str, degree: int = 0, timeout_s: float = DEFAULT_TIMEOUT_S) -> Ranks:
    """Join the group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT in the environment).

    degree 0 spreads the video over every rank. NCCL where this rank has a GPU of its own, gloo otherwise."""
    global _current
    import torch
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise DVInputError("parallel", "the run was not started by torchrun (RANK/WORLD_SIZE are not set).",
                           "torchrun --nproc-per-node N $(which dv-run) run WORKFLOW --parallel "
                           f"{mode}, or no --parallel.")
    world = int(os.environ["WORLD_SIZE"])
    degree = 1 if mode == "seeds" else degree or world
    if degree > world:
        raise DVInputError("degree", f"{degree} ranks asked for one video, but torchrun started {world}.",
                           f"a degree of at most {world}, or torchrun --nproc-per-node {degree} (times the nodes).")
    if degree != world and mode != "seeds":
        # One device mesh over every rank: groups of ranks rendering different videos are not built (yet).
        raise DVInputError("degree", f"{degree} of the {world} ranks for one video.",
                           f"{world} (every rank torchrun started), or 0 for the same.")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > local_rank else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    _current = Ranks(dist.get_rank(), dist.get_world_size(), local_rank, backend, mode, degree, timeout_s)
    return _current


def leave() -> None:
    global _current
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _current = None


def stop_if_any_rank_stops() -> None:
    """At a step's end, in a parallel run: every rank learns whether any was asked to stop, and all stop at the
    same step (a rank that went on alone would wait in its next collective until the timeout)."""
    ranks = _current
    if ranks is None or ranks.degree == 1:
        return
    import torch
    import torch.distributed as dist

    from .. import host

    local = host.interrupt_pending()
    flag = torch.tensor([1 if local else 0], device=ranks.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    if flag.item():
        if local:
            host.check_interrupt()  # this rank's own interrupt, as the host raises it
        raise host.Interrupted("Interrupted: another rank of the parallel run was asked to stop.")
