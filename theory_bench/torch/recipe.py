"""Where precision enters a training run: one switch per place (docs/fp8.md).

``Recipe(inputs, grads, state, weights, rounding="nearest", scaling="per_tensor", state_scaling="per_tensor")``:

- ``inputs``: the format both inputs of every converted matmul (weights and activations) are cast
  to before it, the product accumulated in fp32 as tensor cores do;
- ``grads``: the format the gradient of every converted matmul's output is cast to before the two
  backward matmuls (the FP8 recipes' E5M2: more range, less precision);
- ``state``: the format each optimizer state tensor is stored in (rounded after every step);
- ``weights``: the format of the master weights (every parameter, rounded after every step);
- ``rounding``: ``"nearest"`` or ``"stochastic"``, for the state and the master weights (casts of
  matmul inputs and gradients round to nearest, as hardware does);
- ``scaling`` / ``state_scaling``: ``"per_tensor"`` multiplies a tensor by the power of two that
  maps its amax into ``(max/2, max]`` of the format before the cast (and divides after), or ``"none"``.

``RECIPES`` holds the settings of the ``fp8`` experiment: ``fp32`` (nothing cast), ``bf16`` (the
usual mixed precision: bf16 matmuls and gradients, fp32 state and weights), ``fp8`` (E4M3 matmul
inputs, E5M2 gradients, E4M3 state, BF16 master weights) and ``fp8-bf16-state`` (the same with
the state in BF16).
"""
from dataclasses import asdict, dataclass

from theory_bench.engine.precision import check_rounding, check_scaling, get_format


@dataclass(frozen=True)
class Recipe:
    inputs: str = "e4m3"
    grads: str = "e5m2"
    state: str = "e4m3"
    weights: str = "bf16"
    rounding: str = "nearest"
    scaling: str = "per_tensor"
    state_scaling: str = "per_tensor"

    def __post_init__(self):
        for place in ("inputs", "grads", "state", "weights"):
            object.__setattr__(self, place, get_format(getattr(self, place)).name)
        if self.rounding == "stochastic":
            check_rounding(self.rounding, self.state, self.weights,
                           fix="set state= or weights= to a format such as 'bf16' or 'e4m3'")
        else:
            check_rounding(self.rounding)
        check_scaling(self.scaling)
        check_scaling(self.state_scaling)

    @property
    def casts_matmuls(self):
        return self.inputs != "fp64" and not (self.inputs == "fp32" and self.grads == "fp32")

    def config(self):
        return asdict(self)


RECIPES = {
    "fp32": Recipe(inputs="fp32", grads="fp32", state="fp32", weights="fp32"),
    "bf16": Recipe(inputs="bf16", grads="bf16", state="fp32", weights="fp32", scaling="none"),
    "fp8": Recipe(),
    "fp8-bf16-state": Recipe(state="bf16"),
}


def get_recipe(recipe):
    """A ``Recipe``, or the one ``RECIPES`` names; else a ValueError listing them."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; use one of {', '.join(map(repr, RECIPES))} or a "
                         "theory_bench.torch.fp8.Recipe(...)")
    return RECIPES[recipe]
