"""Which optional packages are installed, and at which versions (for manifests, tables and the
experiments that need packages of their own, such as the zoo)."""
from importlib import metadata


def package_versions(packages):
    """``{package: installed version or None}``."""
    out = {}
    for pkg in packages:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def missing_packages(packages):
    """Those of ``packages`` that are not installed."""
    return [pkg for pkg, v in package_versions(packages).items() if v is None]
