"""Options nodes generated from a family's OptionSpecs, and how DVSampler receives them."""

from __future__ import annotations

import dataclasses

import pytest
from diffusers_video.errors import DVInputError
from diffusers_video.families import FAMILIES, OptionSpec
from diffusers_video.nodes.options import _make_options_node
from diffusers_video.nodes.sampling import DVSampler

BASE = FAMILIES[0]
FAKE = dataclasses.replace(
    BASE,
    id="fake",
    label="Fake",
    options=(
        OptionSpec("motion_bucket_id", "INT", 127, "How much motion.", 0, 255, 1),
        OptionSpec("decode_timestep", "FLOAT", 0.05, "Decode timestep.", 0.0, 1.0, 0.01),
    ),
    options_node="DVFakeOptions",
)


def test_widgets_follow_the_specs():
    node = _make_options_node(FAKE)
    assert node.__name__ == "DVFakeOptions"
    required = node.INPUT_TYPES()["required"]
    assert required["motion_bucket_id"] == ("INT", {"default": 127, "tooltip": "How much motion.", "min": 0,
                                                    "max": 255, "step": 1})
    assert list(required) == ["motion_bucket_id", "decode_timestep"]


def test_options_chain_and_later_values_win():
    node = _make_options_node(FAKE)
    (first,) = node().build(motion_bucket_id=10, decode_timestep=0.1)
    (second,) = node().build(options=first, motion_bucket_id=200, decode_timestep=0.1)
    assert dict(second.values) == {"motion_bucket_id": 200, "decode_timestep": 0.1}
    assert second.family_ids == ("fake",)


def test_sampler_refuses_options_of_another_family():
    (opts,) = _make_options_node(FAKE)().build(motion_bucket_id=1, decode_timestep=0.0)

    class Model:  # only the family is read before the check
        family = BASE

    with pytest.raises(DVInputError) as info:
        DVSampler().sample(_as_dv_model(Model), 64, 48, 9, 1, 1.0, 0, options=opts)
    assert "DVSampler: input 'options'" in str(info.value) and "Fake" in str(info.value)


def _as_dv_model(stub):
    from diffusers_video.model_loaders.components import DVModel

    return DVModel(managed=None, family=stub.family, geometry=stub.family.geometry, source="stub")
