"""Collects the node classes of every module here into ComfyUI's mappings."""

from . import controlnet, loaders, memory, options, sampling, speed, vae, video

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}
for _module in (loaders, sampling, vae, video, options, controlnet, speed, memory):
    for _cls in _module.NODES:
        NODE_CLASS_MAPPINGS[_cls.__name__] = _cls
        NODE_DISPLAY_NAME_MAPPINGS[_cls.__name__] = _cls.DISPLAY_NAME
