# ferrobus: a minimal PEP 517 frontend that builds one wheel with the backend
# already installed on sys.path (a cached backend environment), instead of
# pip's per-build isolated environment (installed afresh on every build).
# usage: python -B pep517.py SOURCE_DIR WHEEL_DIR
import importlib
import importlib.metadata
import os
import re
import sys
import tomllib

source, out = sys.argv[1], os.path.abspath(sys.argv[2])
os.chdir(source)
with open("pyproject.toml", "rb") as f:
    system = tomllib.load(f).get("build-system", {})
name = system.get("build-backend", "setuptools.build_meta:__legacy__")
for p in reversed(system.get("backend-path", [])):
    sys.path.insert(0, os.path.abspath(p))
module, _, attrs = name.partition(":")
backend = importlib.import_module(module)
for a in filter(None, attrs.split(".")):
    backend = getattr(backend, a)

# Requirements the backend asks for at build time must already be in the
# environment: they are installed from [build-system] requires only.
hook = getattr(backend, "get_requires_for_build_wheel", None)
missing = []
for req in hook({}) if hook else []:
    dist = re.match(r"[A-Za-z0-9._-]+", req).group(0)
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        missing.append(req)
if missing:
    sys.stderr.write(
        "ferrobus: the build backend %s also needs %s at build time; "
        "list it in [build-system] requires\n" % (name, ", ".join(missing))
    )
    sys.exit(3)
print(backend.build_wheel(out, {}))
