"""Collects the node classes of every module here into ComfyUI's mappings.

Registration is also the node boundary: each class's FUNCTION is wrapped so that a DVInputError raised
anywhere below names the node that ran. (VALIDATE_INPUTS and IS_CHANGED are left as they are: ComfyUI reads
their argument lists with getfullargspec, which a wrapper would hide; neither raises.)
"""

from ..errors import stamped
from . import controlnet, download, latents, loaders, memory, options, sampling, speed, vae, video

NODE_CLASS_MAPPINGS: dict[str, type] = {}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}


def _stamp_errors(cls: type) -> None:
    method = getattr(cls, cls.FUNCTION)
    if not getattr(method, "__dv_stamped__", False):
        setattr(cls, cls.FUNCTION, stamped(cls.__name__, method))


for _module in (loaders, sampling, vae, video, latents, options, controlnet, speed, memory, download):
    for _cls in _module.NODES:
        _stamp_errors(_cls)
        NODE_CLASS_MAPPINGS[_cls.__name__] = _cls
        NODE_DISPLAY_NAME_MAPPINGS[_cls.__name__] = _cls.DISPLAY_NAME
