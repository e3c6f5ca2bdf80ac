"""The pack's HTTP routes on ComfyUI's server, for the editor extension and for diagnostics.

Registered from the package's __init__ (a no-op outside a running ComfyUI server). They live here rather than
in the host seam so that the seam imports nothing of the pack's model layer.
"""

from __future__ import annotations

from typing import Any

from . import host


def register() -> None:
    """GET /dv/models: the pack's modules ComfyUI's memory manager holds loaded, and where.

    A diagnostic for users ("is my 5B model still in VRAM?") and the live-host check that /free reaches
    our models.
    """
    if not host.IN_COMFY:
        return
    try:
        from aiohttp import web
        from server import PromptServer
    except ImportError:
        return
    if getattr(PromptServer, "instance", None) is None:
        return

    @PromptServer.instance.routes.get("/dv/models")
    async def _loaded_models(_request):
        rows = [
            {
                "class": type(p.model.inner).__name__,
                "device": str(p.model.device),
                "size_mb": round(p.model_size() / 2**20, 2),
            }
            for p in host.loaded_patchers()
        ]
        return web.json_response({"loaded": rows})

    @web.middleware
    async def _free_stops_parallel_workers(request, handler):
        # /free is core's; the pack's worker processes (DVParallel) are no models core can unload, so they are
        # stopped here, beside it. A middleware, added while the app is still being set up, sees the request
        # without replacing core's handler.
        if request.method == "POST" and request.path == "/free":
            import asyncio

            from .parallel import pool

            if pool._pools:
                await asyncio.get_running_loop().run_in_executor(None, pool.stop_when_idle)
        return await handler(request)

    try:
        PromptServer.instance.app.middlewares.append(_free_stops_parallel_workers)
    except RuntimeError:  # an app already running (a reload): /free then leaves the workers to exit with it
        pass

    @PromptServer.instance.routes.get("/dv/families")
    async def _families(_request):
        return web.json_response(families_json())

    @PromptServer.instance.routes.get("/dv/model_family")
    async def _model_family(request):
        return web.json_response(model_family_json(request.query.get("loader", ""), request.query.get("name", "")))


def _rules(family) -> dict[str, Any]:
    return {"label": family.label, "frame_multiple": family.frame_rule.multiple,
            "frame_offset": family.frame_rule.offset, "frame_minimum": family.frame_rule.minimum,
            "size_multiple": family.size_multiple}


def families_json() -> dict[str, Any]:
    """GET /dv/families: each family's frame and size rules, and each variant's, for the editor's DVSampler
    helper (the server still checks)."""
    from .families import all_families

    return {fam.id: {**_rules(fam), "variants": {v.variant: _rules(v) for v in fam.variant_specs() if v.variant}}
            for fam in all_families()}


def model_family_json(loader: str, name: str) -> dict[str, Any]:
    """GET /dv/model_family?loader=DVPipelineLoader&name=Wan2.2-TI2V-5B: the family and variant of a loader's
    current choice, read from the model's own config files."""
    from .model_loaders.loading import family_of_choice

    family = family_of_choice(loader, name)
    return {"family": family.id if family else None, "variant": (family.variant or None) if family else None}
