"""Helpers for the pathq command-line tests: run the tool, check failures, make arrays."""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:  # the tests need Debian's python3-numpy
    print("numpy is not available: skipping")
    sys.exit(77)

PATHQ = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="pathq-cli-")


def path(name):
    return os.path.join(TMP, name)


def save(name, array):
    p = path(name)
    np.save(p, array)
    return p


def run(*args):
    """Runs pathq with args; returns (status, stdout, stderr)."""
    p = subprocess.run([PATHQ, *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def ok(*args):
    status, out, err = run(*args)
    assert status == 0, f"pathq {' '.join(map(str, args))} failed ({status}): {err}"
    return out


def fails(expected, *args, outputs=()):
    """pathq must exit non-zero with one line on stderr containing `expected`, and write none of `outputs`."""
    for o in outputs:
        if os.path.exists(o):
            os.remove(o)
    status, _, err = run(*args)
    assert status != 0, f"pathq {' '.join(map(str, args))} succeeded but should fail with '{expected}'"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("pathq: "), lines[0]
    assert expected in lines[0], f"expected '{expected}' in: {lines[0]}"
    for o in outputs:
        assert not os.path.exists(o), f"{o} was written by a failed run"
    leftovers = [f for f in os.listdir(TMP) if ".tmp" in f or f.startswith(".")]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def report(p):
    with open(p) as f:
        return json.load(f)
