"""The pack's HTTP routes on ComfyUI's server, for the editor extension and for diagnostics.

Registered from the package's __init__ (a no-op outside a running ComfyUI server). They live here rather than
in the host seam so that the seam imports nothing of the pack's model layer.
"""

from __future__ import annotations

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

    @PromptServer.instance.routes.get("/dv/families")
    async def _families(_request):
        """Each family's frame and size rules, for the editor's DVSampler helper (the server still checks)."""
        from .families import all_families

        return web.json_response({
            fam.id: {"label": fam.label, "frame_multiple": fam.frame_rule.multiple,
                     "frame_offset": fam.frame_rule.offset, "frame_minimum": fam.frame_rule.minimum,
                     "size_multiple": fam.size_multiple}
            for fam in all_families()
        })

    @PromptServer.instance.routes.get("/dv/model_family")
    async def _model_family(request):
        """The family of a loader's current choice: ?loader=DVPipelineLoader&name=CogVideoX-2b."""
        from .model_loaders.loading import family_of_choice

        family = family_of_choice(request.query.get("loader", ""), request.query.get("name", ""))
        return web.json_response({"family": family.id if family else None})
