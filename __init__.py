"""ComfyUI-DiffusersVideo: diffusers video models as ComfyUI nodes. Registration only."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

# WEB_DIRECTORY joins when the pack ships its first frontend extension (issue: editor experience).
__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
