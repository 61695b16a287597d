"""Configuration files of a Windows bundle, kept as dpkg keeps conffiles.

Written by ferrobus into the bundle (ferrobus\\conffiles.py) and run by the
MSI's custom actions with the bundle's own Python (through the script host
ferrobus\\config.exe, output in %TEMP%\\<name>-config.log), as the installing
account:

  conffiles.py install DEFAULTS DEST   after the files are installed
  conffiles.py remove  DEFAULTS DEST   on uninstall (not when an upgrade
                                       removes the version it replaces)
  conffiles.py purge   DEFAULTS DEST   on uninstall with PURGE=1

DEFAULTS is the bundle's copy of every [[config]] file (defaults\\...), DEST
the live directory (%ProgramData%\\<name>). A file the user never edited
follows the package: installed when missing, replaced by a new default,
removed on uninstall. An edited file is never touched: a new default is
written beside it as <file>.new. DEST\\logs (the service hosts' output) is
the product's, removed on uninstall. What was installed is recorded in
DEST\\.ferrobus-conffiles.json (path -> sha256 of the default installed),
dropped on uninstall: a file a later install finds that is not its default is
taken as edited and kept.
"""

import hashlib
import json
import os
import shutil
import sys

STATE = ".ferrobus-conffiles.json"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def defaults(root):
    """Every default file: relative path (with /) -> absolute path."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root).replace(os.sep, "/")] = p
    return dict(sorted(out.items()))


def load_state(dest):
    try:
        with open(os.path.join(dest, STATE), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_state(dest, state):
    path = os.path.join(dest, STATE)
    if not state:
        if os.path.exists(path):
            os.remove(path)
        return
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def install(src, dest):
    os.makedirs(os.path.join(dest, "logs"), exist_ok=True)
    state = load_state(dest)
    for rel, default in defaults(src).items():
        target = os.path.join(dest, *rel.split("/"))
        new = sha256(default)
        if not os.path.exists(target):
            action = "installed"
        else:
            have = sha256(target)
            if have == new:
                action = "unchanged"
            elif have == state.get(rel):
                action = "updated (it was not edited)"
            else:
                shutil.copyfile(default, target + ".new")
                print(f"{target}: edited, kept; the new default is {target}.new")
                continue
        if action != "unchanged":
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(default, target + ".tmp")
            os.replace(target + ".tmp", target)
        state[rel] = new
        print(f"{target}: {action}")
    save_state(dest, state)


def remove(src, dest, purge):
    state = load_state(dest)
    for rel, default in defaults(src).items():
        target = os.path.join(dest, *rel.split("/"))
        for stale in (target + ".new", target + ".tmp"):
            if os.path.exists(stale):
                os.remove(stale)
        if not os.path.exists(target):
            continue
        have = sha256(target)
        if purge or have in (state.get(rel), sha256(default)):
            os.remove(target)
            print(f"{target}: removed")
        else:
            print(f"{target}: edited, kept")
    # No state survives an uninstall: a file found on a later install that is
    # not the default is taken as edited and kept, as it should be.
    save_state(dest, {})
    shutil.rmtree(os.path.join(dest, "logs"), ignore_errors=True)
    # Empty directories go, deepest first, DEST itself last.
    for d, _, _ in sorted(os.walk(dest), key=lambda w: -len(w[0])):
        try:
            os.rmdir(d)
        except OSError:
            pass


def main(argv):
    if len(argv) != 4 or argv[1] not in ("install", "remove", "purge"):
        print("usage: conffiles.py install|remove|purge DEFAULTS DEST", file=sys.stderr)
        return 2
    op, src, dest = argv[1], argv[2], argv[3]
    if op == "install":
        install(src, dest)
    else:
        remove(src, dest, purge=op == "purge")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
