"""The offload plan for a sampler run: the fastest way to run the denoiser(s) that fits the GPU memory free.

Candidates, fastest first (each is something diffusers does; the pack only picks):
- "full load": every denoiser resident at once (ComfyUI's usual load).
- "model offload": one denoiser at a time (Wan2.2 A14B's two experts swap at the boundary step).
- group offload, block level, with a CUDA stream: diffusers prefetches the next block while one computes, so
  two blocks are resident (diffusers runs streams with one block per group only).
- group offload, block level, no stream, as many blocks per group as fit.
- group offload, leaf level, with a stream (two leaves resident), then without.
Nothing fits: a DVInputError naming the model, its size and the budget, raised before any weight moves.

Sizes are measured from the modules themselves (parameter and buffer bytes, which works on the meta device),
so the same code plans for the tiny test models, the released configs (memory/released.py) and real loads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import DVInputError

FULL = "full load"
MODEL_OFFLOAD = "model offload"
BLOCK = "group offload: block_level"
LEAF = "group offload: leaf_level"
GB = 1e9  # the log line and the docs speak the GB of model cards and GPU boxes (10^9)


@dataclass(frozen=True)
class ModuleSize:
    """What one denoiser weighs, in the pieces group offloading moves."""

    label: str  # the pipeline argument: "transformer", "transformer_2", "unet"
    total: int  # bytes of parameters and buffers
    blocks: tuple[int, ...]  # bytes of each block of the top-level ModuleLists/Sequentials (block-level groups)
    largest_leaf: int  # bytes of the largest module holding parameters directly (leaf-level group)

    @property
    def outside_blocks(self) -> int:
        """Embeddings, norms and heads: block-level offloading moves them as one more group."""
        return self.total - sum(self.blocks)

    @property
    def largest_block(self) -> int:
        return max(self.blocks, default=0)


@dataclass(frozen=True)
class Plan:
    mode: str  # FULL, MODEL_OFFLOAD, BLOCK or LEAF (BLOCK/LEAF are DVOffload's mode names)
    num_blocks_per_group: int
    use_stream: bool
    peak: int  # predicted bytes on the GPU while a step runs: resident weights + working memory
    line: str  # one log line saying why

    @property
    def offloads(self) -> bool:
        return self.mode in (BLOCK, LEAF)

    def describe(self) -> str:
        if self.mode == BLOCK:
            blocks = f"{self.num_blocks_per_group} block{'s' if self.num_blocks_per_group > 1 else ''}"
            return f"group offload, {blocks}{', streams' if self.use_stream else ''}"
        if self.mode == LEAF:
            return f"group offload, leaf level{', streams' if self.use_stream else ''}"
        return self.mode


def _tensor_bytes(tensors: Iterable) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measure(module, label: str) -> ModuleSize:
    """The sizes of one module as group offloading would split it (meta tensors count like real ones)."""
    import torch

    total = _tensor_bytes(module.parameters()) + _tensor_bytes(module.buffers())
    blocks: list[int] = []
    for child in module.children():
        if isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential)):
            blocks.extend(_tensor_bytes(b.parameters()) + _tensor_bytes(b.buffers()) for b in child)
    largest_leaf = max((_tensor_bytes(m.parameters(recurse=False)) + _tensor_bytes(m.buffers(recurse=False))
                        for m in module.modules()), default=0)
    return ModuleSize(label, total, tuple(blocks), largest_leaf)


def _gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def candidates(sizes: Sequence[ModuleSize], working: int, cuda: bool = True) -> list[tuple[str, int, bool, int]]:
    """Every plan for these denoiser(s), fastest first, as (mode, blocks per group, stream, predicted peak bytes)."""
    together = sum(s.total for s in sizes)
    biggest = max(sizes, key=lambda s: s.total)
    block = max(sizes, key=lambda s: s.outside_blocks + s.largest_block)
    leaf = max(s.largest_leaf for s in sizes)
    found: list[tuple[str, int, bool, int]] = [(FULL, 1, False, together + working)]
    if len(sizes) > 1:
        found.append((MODEL_OFFLOAD, 1, False, biggest.total + working))
    if block.blocks:
        if cuda:
            found.append((BLOCK, 1, True, block.outside_blocks + 2 * block.largest_block + working))
        count = len(block.blocks)
        for n in sorted({count, count // 2, count // 4, 8, 4, 2, 1}, reverse=True):
            if 1 <= n <= count:  # the groups are consecutive blocks; the biggest n of them bound the peak
                group = sum(sorted(block.blocks, reverse=True)[:n])
                found.append((BLOCK, n, False, block.outside_blocks + group + working))
    if cuda:
        found.append((LEAF, 1, True, 2 * leaf + working))
    found.append((LEAF, 1, False, leaf + working))
    return found


def choose(name: str, sizes: Sequence[ModuleSize], budget: int, working: int, cuda: bool = True,
           vram_state: str = "normal") -> Plan:
    """The fastest plan whose predicted peak fits `budget` bytes, the GPU memory the manager can give the
    denoiser(s) (free plus what it may evict, less its reserve). `working`: the run's activations
    (memory/estimate.py). `vram_state` is ComfyUI's: "low" skips the full load (ComfyUI's own --lowvram loads
    models in parts), "no" goes straight to leaf level (--novram); "high" and "normal" plan by size.
    `name` is what the log line calls the model (e.g. "Wan2.1-T2V-14B bf16")."""
    if not sizes:
        raise ValueError("a plan needs at least one denoiser")
    together = sum(s.total for s in sizes)
    found = candidates(sizes, working, cuda)
    if vram_state == "low":
        found = [c for c in found if c[0] != FULL] or found
    elif vram_state == "no":
        found = [c for c in found if c[0] == LEAF]
    label = " + ".join(f"{s.label} {_gb(s.total)}" for s in sizes)
    for mode, blocks, stream, peak in found:
        if peak <= budget:
            plan = Plan(mode, blocks, stream, peak, "")
            relation = "<=" if together + working <= budget else ">"
            why = f"; --{vram_state}vram" if vram_state in ("low", "no") else ""
            line = (f"{name}: {label} (+{_gb(working)} working) {relation} {_gb(budget)} free{why} -> "
                    f"{plan.describe()}, peak {_gb(peak)}")
            return Plan(mode, blocks, stream, peak, line)
    smallest = min(c[3] for c in found)
    raise DVInputError("model", f"{name} does not fit the GPU even streamed layer by layer: {label} needs at "
                       f"least {_gb(smallest)} with {_gb(working)} of working memory, and the memory manager "
                       f"can give {_gb(budget)}.",
                       "fewer frames or a smaller size (less working memory), fp8 or 4-bit weights on the "
                       "loader, or free GPU memory (other applications, --reserve-vram).")
