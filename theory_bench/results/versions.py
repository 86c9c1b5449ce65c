"""The installed version of each of a list of packages: what results, manifests and metrics files record."""
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
