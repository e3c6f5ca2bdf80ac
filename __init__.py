"""ComfyUI-DiffusersVideo: diffusers video models as ComfyUI nodes. Registration only."""

from . import routes
from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

# The editor extension (web/js): DVSampler frame-count help and video preview defaults.
WEB_DIRECTORY = "./web"

routes.register()  # /dv/* on ComfyUI's server; nothing outside it

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
