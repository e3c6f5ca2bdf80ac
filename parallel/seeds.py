"""Several seeds of one workflow spread over the ranks (data parallel): each rank renders its share with the
whole model, rank 0 receives every result and writes one file per seed, in seed order."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import DVInputError
from . import group


def parse(text: str) -> list[int]:
    """'1,2,3' or '10-13' (inclusive) or a mix, as a list of seeds in the order given."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            if "-" in part[1:]:
                first, last = (int(x) for x in part.split("-", 1))
                if last < first:
                    raise ValueError(part)
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise DVInputError("--seeds", f"'{part}' is no seed or range.",
                               "seeds and ranges separated by commas, e.g. 1,2,3 or 10-17.") from None
    if not seeds or any(not 0 <= s < 2 ** 64 for s in seeds):
        raise DVInputError("--seeds", f"'{text}'.", "at least one seed, each from 0 to 2**64-1.")
    if len(set(seeds)) != len(seeds):
        raise DVInputError("--seeds", f"'{text}' repeats a seed (the same video twice).", "distinct seeds.")
    return seeds


def with_seed(prompt: dict[str, Any], seed: int) -> dict[str, Any]:
    """The prompt with every DVSampler's seed set (the saved workflow then names the seed of its file)."""
    samplers = [node for node in prompt.values() if node.get("class_type") == "DVSampler"]
    if not samplers:
        raise DVInputError("--seeds", "the workflow has no DVSampler whose seed could change.",
                           "a workflow with a DVSampler, or no --seeds.")
    seeded = copy.deepcopy(prompt)
    for node in seeded.values():
        if node.get("class_type") == "DVSampler":
            node["inputs"]["seed"] = seed
    return seeded


def share(seeds: list[int], ranks: group.Ranks | None) -> list[tuple[int, int]]:
    """This rank's (position, seed) pairs: every world_size-th seed from its rank on."""
    rank, world = (ranks.rank, ranks.world_size) if ranks else (0, 1)
    return [(i, s) for i, s in enumerate(seeds) if i % world == rank]


def gather(mine: list[Any], ranks: group.Ranks | None) -> list[Any] | None:
    """Every rank's list, joined on rank 0 (None on the others). Objects travel pickled over the group (gloo
    or NCCL), each collective bounded by the group's timeout."""
    if ranks is None or ranks.world_size == 1:
        return list(mine)
    import torch.distributed as dist

    everything: list[Any] | None = [None] * ranks.world_size if ranks.rank == 0 else None
    dist.gather_object(mine, everything, dst=0)
    if everything is None:
        return None
    return [item for part in everything for item in part]
