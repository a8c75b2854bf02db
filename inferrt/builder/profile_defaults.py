"""``IOptimizationProfile.fill_defaults(network)``: complete a profile from the network's declared inputs.

TensorRT's profile has no such method; Polygraphy's ``Profile.fill_defaults`` does this for TensorRT, and inferrt
offers it on the profile itself with the same meaning: every network input the profile does not mention gets
min = opt = max = its declared shape with each dynamic dimension (-1) replaced by ``default_shape_value``; a shape
tensor input gets ``default_shape_value`` for each of its values. Inputs already set are left as they are.
"""
from __future__ import annotations

#: the value Polygraphy (constants.DEFAULT_SHAPE_VALUE) and trtexec use for a dynamic dimension nobody specified
DEFAULT_SHAPE_VALUE = 1


def fill_defaults(profile, network, default_shape_value: int = DEFAULT_SHAPE_VALUE):
    """Fill ``profile`` for the inputs of ``network`` it does not cover; returns the profile."""
    value = int(default_shape_value)
    if value < 0:
        raise ValueError(f"fill_defaults: default_shape_value must be >= 0, got {default_shape_value}")
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        name = tensor.name
        if name in profile._shapes or name in profile._shape_values:
            continue
        shape = tuple(tensor.shape)
        if tensor.is_shape_tensor:
            count = shape[0] if len(shape) > 0 else 1
            if count < 0:
                raise ValueError(f"fill_defaults: shape tensor input {name!r} has a dynamic length {shape}; set its "
                                 f"values with set_shape_input(name, min, opt, max)")
            values = (value,) * count
            profile.set_shape_input(name, values, values, values)
        else:
            filled = tuple(value if d < 0 else d for d in shape)
            profile.set_shape(name, filled, filled, filled)
    return profile
