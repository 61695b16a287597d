# ferrobus: a minimal PEP 517 frontend that builds one wheel with the backend
# already installed on sys.path (a build environment of locked wheels), instead
# of pip's per-build isolated environment (resolved from the index every time).
# usage: python -S -B pep517.py SOURCE_DIR WHEEL_DIR
#        python -S -B pep517.py --requires SOURCE_DIR OUT_JSON
#          (writes what the backend's get_requires_for_build_wheel hook asks
#           for that the environment does not satisfy, for `ferrobus lock`)
import importlib
import importlib.metadata
import json
import os
import re
import sys
import tomllib

requires_only = sys.argv[1] == "--requires"
if requires_only:
    del sys.argv[1]
source, out = sys.argv[1], os.path.abspath(sys.argv[2])
# Run with -S: nothing of the interpreter's own site-packages (a host
# Python's may hold an older setuptools and its distutils shim). The build
# environment is on PYTHONPATH; its .pth files run as in a site directory
# (setuptools' distutils shim is one).
import site

for p in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    if p:
        site.addsitedir(p)
os.chdir(source)
system = {}
if os.path.exists("pyproject.toml"):
    with open("pyproject.toml", "rb") as f:
        system = tomllib.load(f).get("build-system", {})
name = system.get("build-backend", "setuptools.build_meta:__legacy__")
for p in reversed(system.get("backend-path", [])):
    sys.path.insert(0, os.path.abspath(p))
module, _, attrs = name.partition(":")
backend = importlib.import_module(module)
for a in filter(None, attrs.split(".")):
    backend = getattr(backend, a)


def unmet(reqs):
    """The requirements the environment does not satisfy."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        try:
            from setuptools._vendor.packaging.requirements import Requirement
        except ImportError:
            Requirement = None
    missing = []
    for req in reqs:
        dist = re.match(r"[A-Za-z0-9._-]+", req).group(0)
        try:
            have = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            missing.append(req)
            continue
        if Requirement is not None:
            r = Requirement(req)
            if r.marker is not None and not r.marker.evaluate():
                continue
            if r.specifier and not r.specifier.contains(have, prereleases=True):
                missing.append(req)
    return missing


# Requirements the backend asks for at build time must already be in the
# environment: it holds the build lock's wheels only.
hook = getattr(backend, "get_requires_for_build_wheel", None)
missing = unmet(hook({}) if hook else [])
if requires_only:
    with open(out, "w") as f:
        json.dump(missing, f)
    sys.exit(0)
if missing:
    sys.stderr.write(
        "ferrobus: the build backend %s also needs %s at build time, which the "
        "build lock does not hold for it: run `ferrobus lock` again\n"
        % (name, ", ".join(missing))
    )
    sys.exit(3)
print(backend.build_wheel(out, {}))
