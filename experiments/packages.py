"""Which packages are installed, at which versions, and the git commit (for manifests, tables, reports
and the experiments that need packages of their own, such as the zoo)."""
import platform
import subprocess

from theory_bench.results.versions import package_versions


def missing_packages(packages):
    """Those of ``packages`` that are not installed."""
    return [pkg for pkg, v in package_versions(packages).items() if v is None]


def versions():
    """Python and the core packages, for manifests and reports."""
    return {"python": platform.python_version(), **package_versions(
        ("theory-bench", "numpy", "numba", "scipy", "cvxpy", "clarabel", "pandas", "pyarrow", "matplotlib"))}


def git_commit(cwd="."):
    """The checkout's commit, or None outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip()
    except Exception:
        return None
