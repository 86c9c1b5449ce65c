"""Every experiment's quick form end to end, through the store: its claims pass (each holds and
fails on its falsifying variant) and its figures are written. ``-m slow`` runs the full forms."""
import pytest

from tests.doc_links import theory_sections
from theory_bench import experiments
from theory_bench.analysis.claims import sections
from theory_bench.experiments.pipeline import run_experiment


SLOW_QUICK_FORMS = ("zoo", "fp8", "fp8_scaling", "finetune")


def quick_forms():
    """Every experiment; the quick forms of the zoo (two minutes of other people's optimizers) and of
    fp8 (two minutes of training) are behind ``-m slow``: tests/test_zoo.py and tests/test_fp8.py run
    a subset of each by default."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_QUICK_FORMS else n for n in experiments.names()]


@pytest.mark.parametrize("name", quick_forms())
def test_quick_form_end_to_end(name, tmp_path):
    if experiments.missing(name):
        pytest.skip(f"{name} needs {', '.join(experiments.missing(name))}")
    claims, paths = run_experiment(name, quick=True, jobs=None, out=tmp_path / "results",
                                   figures_dir=tmp_path / "figures", progress=False)
    assert claims or getattr(experiments.get(name), "MEASURED_ONLY", False)      # finetune reports, no theorem claims
    for c in claims:
        assert sections(c) and set(sections(c)) <= theory_sections(), f"{c.id}: section {c.section!r} not in docs/theory.md"
        assert c.holds, f"{c.id}: {c.measured} not {c.allowed} ({c.measured.setup})"
        assert not c.variant_holds, f"{c.id}: variant {c.variant} also {c.allowed}: {c.variant_measured}"
    figs = [p for p in paths if p.suffix != ".md"]
    assert {p.suffix for p in figs} == {".png", ".pdf"} and all(p.stat().st_size > 1000 for p in figs)
    for table in (p for p in paths if p.suffix == ".md"):      # a results table (ablation)
        lines = table.read_text().splitlines()
        assert lines[0].startswith("| variant") and all(r.count("|") == lines[0].count("|") for r in lines[1:3])
    assert (tmp_path / "results" / name / "manifest.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", experiments.names())
def test_full_form(name, tmp_path):
    if experiments.missing(name):
        pytest.skip(f"{name} needs {', '.join(experiments.missing(name))}")
    claims, _ = run_experiment(name, quick=False, jobs=None, out=tmp_path / "results",
                               figures_dir=tmp_path / "figures", progress=False)
    assert all(c.status == "passed" for c in claims), [(c.id, c.status) for c in claims]
