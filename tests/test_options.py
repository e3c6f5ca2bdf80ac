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


WIRED = dataclasses.replace(
    FAKE,
    options=(
        OptionSpec("strength", "FLOAT", 1.0, "Strength.", 0.0, 1.0, 0.01),
        OptionSpec("last_image", "IMAGE", None, "The last frame."),
        OptionSpec("mask", "MASK", None, "Where to paint."),
    ),
)


def test_wire_options_are_optional_inputs_and_travel_as_tensors():
    import torch

    node = _make_options_node(WIRED)
    types = node.INPUT_TYPES()
    assert list(types["required"]) == ["strength"]
    assert types["optional"]["last_image"] == ("IMAGE", {"tooltip": "The last frame."})
    assert types["optional"]["mask"] == ("MASK", {"tooltip": "Where to paint."})
    image, mask = torch.rand(1, 16, 16, 3), torch.ones(2, 16, 16)
    (made,) = node().build(strength=0.5, last_image=image, mask=mask)
    values = dict(made.values)
    assert values["last_image"] is image and values["mask"] is mask
    (unwired,) = node().build(strength=0.5)
    assert "last_image" not in dict(unwired.values)  # an unwired input is no value, not None
    (chained,) = node().build(options=made, strength=0.2)  # a later node without the wire keeps the earlier one
    assert dict(chained.values)["last_image"] is image


@pytest.mark.parametrize("name, value, says", [
    ("last_image", "not an image", "not an IMAGE batch"),
    ("last_image", None, None),
    ("mask", __import__("torch").full((1, 8, 8), float("nan")), "NaN"),
    ("mask", __import__("torch").ones(1, 1, 8, 8), "not a MASK"),
])
def test_wire_options_refuse_what_they_cannot_take_by_name(name, value, says):
    node = _make_options_node(WIRED)
    if says is None:
        node().build(strength=1.0, **{name: value})
        return
    with pytest.raises(DVInputError) as info:
        node().build(strength=1.0, **{name: value})
    assert f"input '{name}'" in str(info.value) and says in str(info.value)
