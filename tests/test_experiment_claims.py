"""Every claim of THEORY 3-5, in its quick form: it holds, and it fails on its falsifying variant."""
import pytest

from experiments import dimension, divergence, regret, stationarity

MODULES = {"regret": regret, "dimension": dimension, "divergence": divergence, "stationarity": stationarity}


@pytest.fixture(scope="module", params=list(MODULES))
def claims(request):
    return MODULES[request.param].claims(quick=True, jobs=2)


def test_every_claim_passes_and_its_variant_fails(claims):
    assert claims
    for c in claims:
        assert c.holds, f"{c.id}: {c.measured} not {c.allowed} ({c.measured.setup})"
        assert not c.variant_holds, f"{c.id}: variant {c.variant} also {c.allowed}: {c.variant_measured}"
        assert c.status == "passed"
