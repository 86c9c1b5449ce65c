"""Reading the docs as a test does: headings and their GitHub anchors, links, section references."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THEORY = ROOT / "docs" / "theory.md"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SECTION_REF = re.compile(r"docs/theory\.md (§\d+(?:\.\d+)*(?:,? (?:and )?§\d+(?:\.\d+)*)*)")


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path):
    return [m.group(1) for m in re.finditer(r"^#{1,6} (.+)$", Path(path).read_text(), re.M)]


def anchors(path):
    return {slug(h) for h in headings(path)}


def theory_sections():
    """The numbered sections of docs/theory.md: ``{"3.1", "3.3.1", ...}``."""
    return {m.group(1) for h in headings(THEORY) if (m := re.match(r"(\d+(?:\.\d+)*)\.? ", h))}


def section_refs(text):
    """Every section named in ``docs/theory.md §3.1, §3.3.2`` style references."""
    return [s for m in SECTION_REF.finditer(text) for s in re.findall(r"§(\d+(?:\.\d+)*)", m.group(1))]


def tracked_files():
    """The files a clone has: ``git ls-files``, or every file when there is no git checkout."""
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        return [ROOT / n for n in names.split()]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]


def broken_links(md, root=ROOT):
    """Relative links (and #anchors) of a Markdown file that do not resolve inside ``root``."""
    md = Path(md)
    out = []
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", md.read_text(), flags=re.S))   # code is not links
    for target in LINK.findall(prose):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (md.parent / path).resolve() if path else md
        if not dest.is_relative_to(root) or not dest.exists():
            out.append(f"{md.relative_to(root)}: {target} (no such file in the repository)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{md.relative_to(root)}: {target} (no heading with that anchor)")
    return out
