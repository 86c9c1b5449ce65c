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
  maps its amax into ``(max/2, max]`` of the format before the cast (and divides after), or ``"none"``;
  the state also takes ``"absmax"`` (one float32 scale ``amax / max`` per tensor, TransformerEngine)
  and ``"block"`` (one per block of 256 values, torchao's ``AdamWFp8``): ``state_scaling.store``;
- ``state_formats``: per state name, a format that replaces ``state`` for it, as pairs
  (``(("exp_avg_sq", "fp16"),)``: MS-AMP's O2 keeps Adam's second moment in FP16, unscaled).

``RECIPES`` holds the settings of the ``fp8`` experiment: ``fp32`` (nothing cast), ``bf16`` (the
usual mixed precision: bf16 matmuls and gradients, fp32 state and weights), ``fp8`` (E4M3 matmul
inputs, E5M2 gradients, E4M3 state with a power-of-two scale per tensor, BF16 master weights) and
``fp8-bf16-state`` (the same with the state in BF16); and the state layouts of the FP8 systems the
field runs, with the same matmuls and weights: ``fp8-block`` (E4M3 state, one absmax scale per block
of 256: torchao's ``AdamWFp8``), ``fp8-msamp`` (the first moment and StoSignSGD's ``m`` in E4M3
with an absmax scale per tensor, Adam's second moment and StoSignSGD's envelope ``G`` in FP16:
MS-AMP's O2) and ``fp8-te`` (E4M3 state, an absmax/448 scale per tensor: TransformerEngine).
"""
from dataclasses import asdict, dataclass

from theory_bench.engine.precision import check_rounding, check_scaling, get_format
from theory_bench.torch.state_scaling import check_state_scaling


@dataclass(frozen=True)
class Recipe:
    inputs: str = "e4m3"
    grads: str = "e5m2"
    state: str = "e4m3"
    weights: str = "bf16"
    rounding: str = "nearest"
    scaling: str = "per_tensor"
    state_scaling: str = "per_tensor"
    state_formats: tuple = ()

    def __post_init__(self):
        for place in ("inputs", "grads", "state", "weights"):
            object.__setattr__(self, place, get_format(getattr(self, place)).name)
        try:
            formats = tuple((str(k), get_format(f).name) for k, f in dict(self.state_formats).items())
        except (TypeError, ValueError) as err:
            raise ValueError(f"state_formats must be pairs (state name, format), e.g. (('exp_avg_sq', 'fp16'),); "
                             f"got {self.state_formats!r} ({err})") from None
        object.__setattr__(self, "state_formats", formats)
        if self.rounding == "stochastic":
            check_rounding(self.rounding, self.state, self.weights,
                           fix="set state= or weights= to a format such as 'bf16' or 'e4m3'")
        else:
            check_rounding(self.rounding)
        check_scaling(self.scaling)
        check_state_scaling(self.state_scaling)
        if self.rounding == "stochastic" and self.state_scaling in ("absmax", "block"):
            raise ValueError(f"stochastic rounding is emulated with state_scaling 'none' or 'per_tensor', not "
                             f"{self.state_scaling!r}; use rounding='nearest' (as torchao and TransformerEngine do)")

    def state_format(self, key):
        """The format the state tensor ``key`` is stored in, and its scaling (an override: unscaled)."""
        own = dict(self.state_formats).get(key)
        return (self.state, self.state_scaling) if own is None else (own, "none")
    @property
    def casts_matmuls(self):
        return self.inputs != "fp64" and not (self.inputs == "fp32" and self.grads == "fp32")

    def config(self):
        out = asdict(self)
        if not self.state_formats:          # the keys of runs stored before state_formats existed stay the same
            del out["state_formats"]
        return out


RECIPES = {
    "fp32": Recipe(inputs="fp32", grads="fp32", state="fp32", weights="fp32"),
    "bf16": Recipe(inputs="bf16", grads="bf16", state="fp32", weights="fp32", scaling="none"),
    "fp8": Recipe(),
    "fp8-bf16-state": Recipe(state="bf16"),
    "fp8-block": Recipe(state_scaling="block"),
    "fp8-msamp": Recipe(state_scaling="absmax", state_formats=(("exp_avg_sq", "fp16"), ("G", "fp16"))),
    "fp8-te": Recipe(state_scaling="absmax"),
}


def get_recipe(recipe):
    """A ``Recipe``, or the one ``RECIPES`` names; else a ValueError listing them."""
    if isinstance(recipe, Recipe):
        return recipe
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; use one of {', '.join(map(repr, RECIPES))} or a "
                         "theory_bench.torch.fp8.Recipe(...)")
    return RECIPES[recipe]
