"""The README and docs/ stand on their own: every example runs and prints what it says, every link
resolves to a file of the repository, every reference to docs/theory.md names a section it has,
every claim is explained there, and nothing points outside the repository."""
import re
import subprocess
import sys

import pytest

from tests.doc_links import (ROOT, THEORY, broken_links, section_refs, slug, theory_sections,
                             tracked_files)

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))


def blocks(md, marker=""):
    """The python blocks of a Markdown file, or the first that contains ``marker``."""
    found = re.findall(r"```python\n(.*?)```", md.read_text(), re.S)
    return [b for b in found if marker in b]


def run_block(md, marker, tmp_path, cwd=None):
    script = tmp_path / "block.py"
    script.write_text(blocks(md, marker)[0])
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=cwd or tmp_path)
    assert done.returncode == 0, f"the block of {md.name} at {marker!r} failed:\n{done.stderr[-3000:]}"
    return done.stdout


def printed(out):
    return dict(line.split() for line in out.strip().splitlines())


def test_quick_start_runs_outside_the_checkout(tmp_path):
    """The README's ten lines, run from an empty folder as a new user would."""
    code = blocks(README)[0]
    assert len(code.strip().splitlines()) <= 10
    values = printed(run_block(README, "", tmp_path))
    assert abs(float(values["SignSGD"]) - 0.65) < 1e-3
    assert float(values["StoSignSGD"]) < 0.01


def test_minimize_example_prints_what_it_says(tmp_path):
    values = printed(run_block(ROOT / "docs" / "minimize.md", "@njit", tmp_path))
    assert abs(float(values["SignSGD"]) - 0.65) < 1e-3 and float(values["StoSignSGD"]) < 0.01


def test_problems_example_runs(tmp_path):
    gap, regret = map(float, run_block(ROOT / "docs" / "problems.md", 'problems.make("hinge"', tmp_path).split())
    assert 0 <= gap < 0.2 and regret > 1000          # SignSGD on the skewed adversary: linear regret


def test_sign_convert_example_prints_what_it_says(tmp_path):
    out = printed(run_block(ROOT / "docs" / "sign_conversion.md", "sign_convert(SGD(lr=p.lr))", tmp_path))
    assert out == {"bit_for_bit": "True", "bits": "65.0"}


def test_precision_example_prints_what_it_says(tmp_path):
    lines = run_block(ROOT / "docs" / "precision.md", "Precision(grad=", tmp_path).strip().splitlines()
    assert lines[0] == "[3.125e-01 4.480e+02 0.000e+00]"
    (_, adam_gap, adam_step), (_, sto_gap, sto_step) = (line.split() for line in lines[1:])
    assert float(adam_gap) > 0.5 and int(adam_step) > 100 and float(sto_gap) < 0.1 and int(sto_step) == 1


def test_testing_api_example_passes_under_pytest(tmp_path):
    (tmp_path / "test_my_optimizer.py").write_text(blocks(ROOT / "docs" / "testing.md", "MyStoSign")[0])
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--theory-bench-update",
                          "test_my_optimizer.py"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (tmp_path / "test_my_optimizer.py.theory-bench.json").exists()


def test_torch_examples_run_and_the_user_test_file_passes(tmp_path):
    pytest.importorskip("torch")
    run_block(ROOT / "docs" / "torch.md", "CosineAnnealingLR", tmp_path)
    moved = run_block(ROOT / "docs" / "torch.md", "sign_convert(torch.optim.Adam", tmp_path)
    assert "-0.0100" in moved
    (tmp_path / "test_torch_optimizers.py").write_text(blocks(ROOT / "docs" / "torch.md", "TorchSignSGD")[0])
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_torch_optimizers.py"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and "2 passed" in out.stdout, out.stdout[-2000:]


def test_fp8_example_prints_what_it_says(tmp_path):
    """docs/fp8.md: AdamW with e4m3 state makes no progress on the digits CNN, with an exploded
    update; with bf16 state it trains; StoSignSGD trains in both with updates of about lr."""
    pytest.importorskip("torch")
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in
            run_block(ROOT / "docs" / "fp8.md", "convert_to_fp8(build", tmp_path).strip().splitlines()}
    loss = {k: float(v[0]) for k, v in rows.items()}
    update = {k: float(v[1]) for k, v in rows.items()}
    assert not loss["AdamW", "fp8"] < 2.0 and update["AdamW", "fp8"] > 1e6          # chance (2.30) or NaN
    assert loss["AdamW", "fp8-bf16-state"] < 0.5 and update["AdamW", "fp8-bf16-state"] < 10
    for recipe in ("fp8", "fp8-bf16-state"):
        assert loss["StoSignSGD", recipe] < 0.5 and update["StoSignSGD", recipe] <= 2


def test_distributed_examples_print_what_they_say(tmp_path):
    rows = dict(line.split(maxsplit=1) for line in
                run_block(ROOT / "docs" / "distributed.md", "noisy_linear", tmp_path).strip().splitlines())
    vote, sto = ([float(g) for g in rows[m].split()] for m in ("majority", "stosign"))
    assert min(vote) > 4.5 and sto[0] > sto[1] > sto[2] > sto[3]
    pytest.importorskip("torch")
    out = run_block(ROOT / "docs" / "distributed.md", "mp.spawn(train", tmp_path)
    assert float(out.split()[1]) < 1.0


@pytest.mark.parametrize("md", [README, *DOCS], ids=lambda p: p.name)
def test_every_link_resolves_inside_the_repository(md):
    assert not broken_links(md), "\n".join(broken_links(md))


def test_the_link_check_catches_a_broken_link(tmp_path):
    """A clone's docs/ with a link to a missing heading and one that leaves the clone."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "theory.md").write_text(THEORY.read_text())
    probe = tmp_path / "docs" / "probe.md"
    outside = "../../" + "shared/notes.md"
    probe.write_text(f"[a](theory.md#no-such-heading) [b]({outside}) [c](theory.md#31-regret-of-stosignsgd-derived-here)")
    found = broken_links(probe, root=tmp_path)
    assert len(found) == 2 and "no heading" in found[0] and "no such file" in found[1]


def test_anchors_follow_github():
    assert slug("3.1 Regret of StoSignSGD (*derived here*)") == "31-regret-of-stosignsgd-derived-here"
    assert slug("2.2 Sign conversion (any optimizer -> unbiased sign optimizer)") == \
        "22-sign-conversion-any-optimizer---unbiased-sign-optimizer"


def test_theory_references_name_existing_sections():
    """``docs/theory.md §X`` anywhere in the code, tests and docs names a numbered section."""
    sections = theory_sections()
    assert {"1", "2.1", "2.2", "3.1", "3.2", "3.3.1", "3.3.2", "3.3.3", "3.4", "4", "5", "8.6"} <= sections
    bad, count = [], 0
    for path in tracked_files():
        if path.suffix in (".py", ".md") and path.exists():
            for s in section_refs(path.read_text()):
                count += 1
                if s not in sections:
                    bad.append(f"{path.relative_to(ROOT)}: §{s}")
    assert count > 50 and not bad, bad


def test_nothing_points_outside_the_repository():
    """Users clone the repository alone: no file may send them to the folder of notes beside the clone."""
    outside = re.compile("|".join([re.escape("../" + "shared"), "(THEORY|DESIGN)" + r"\.md", r"THEORY \d"]))
    hits = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in tracked_files() if p.exists()
            and p.suffix not in (".png", ".pdf") for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
            if outside.search(line)]
    assert not hits, "\n".join(hits)


def test_every_claim_in_the_readme_is_explained_in_the_theory():
    table = README.read_text().split("<!-- claims:begin -->")[1].split("<!-- claims:end -->")[0]
    ids = [row.split("|")[1].strip() for row in table.strip().splitlines()[2:]]
    assert len(ids) >= 38
    theory = THEORY.read_text()
    patterns = [re.escape(i).replace(r"\*", ".+") for i in re.findall(r"`([A-Za-z0-9_*-]+-[A-Za-z0-9_*-]+)`", theory)]
    missing = [i for i in ids if not any(re.fullmatch(p, i) for p in patterns)]
    assert not missing, f"claims without a paragraph in docs/theory.md §8: {missing}"


def test_readme_is_a_front_page_with_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) < 250
    commands = re.findall(r"^pip install .*$", text, re.M)
    assert len(commands) == 2 and "theory-bench reproduce --quick" in commands[0] and "pytest" in commands[1]
    test_command = commands[1].split("#")[0].strip().split("&&")[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_scale_example_prints_what_it_says(tmp_path):
    out = printed(run_block(ROOT / "docs" / "scale.md", "one_sample_l1_grad", tmp_path))
    assert out == {"kept_iterates": "False", "warning": "RecordWarning", "loss_fell": "True"}
