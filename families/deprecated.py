"""Classes of the seed families that diffusers moved to `pipelines/deprecated` (0.38) and may drop.

I2VGen-XL, ModelScope text-to-video and Text2Video-Zero live there now. Their families import them through
here, from where they live (the deprecated module first, the old top-level name second), so a diffusers
release without one fails only the family that needs it, at its first use, with the release that last had
it; the rest of the pack loads and runs. The same lookup answers the editor and the tests.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import DVInputError

# class -> the module it lives in since diffusers 0.38.
MOVED = {
    "I2VGenXLPipeline": "diffusers.pipelines.deprecated.i2vgen_xl.pipeline_i2vgen_xl",
    "TextToVideoSDPipeline": "diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_synth",
    "TextToVideoZeroPipeline": "diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero",
    "CrossFrameAttnProcessor": "diffusers.pipelines.deprecated.text_to_video_synthesis.pipeline_text_to_video_zero",
}
# The newest diffusers release these families are tested with, all of the classes above present. A later
# release that drops one is named by the user's own installed version in the message.
LAST_KNOWN_RELEASE = "0.42.1"


def moved_class(name: str, family_label: str, input_name: str = "model") -> Any:
    """The diffusers class `name` wherever the installed release keeps it, or a DVInputError naming the
    family, the class and the last release known to have it."""
    import diffusers

    try:
        return getattr(importlib.import_module(MOVED[name]), name)
    except (ImportError, AttributeError):
        pass
    try:  # a release that kept the top-level alias but moved the module again
        return getattr(diffusers, name)
    except (ImportError, AttributeError, RuntimeError):  # diffusers' lazy module wraps import errors in RuntimeError
        pass
    raise DVInputError(
        input_name,
        f"{family_label} runs through diffusers' {name}, which the installed diffusers {diffusers.__version__} "
        "no longer has (diffusers moved it to pipelines/deprecated in 0.38 and may have removed it since).",
        f"diffusers {LAST_KNOWN_RELEASE} or an earlier release from 0.38 on (pip install "
        f"'diffusers=={LAST_KNOWN_RELEASE}'), or a model of another family: the rest of the pack works either way.",
    )
