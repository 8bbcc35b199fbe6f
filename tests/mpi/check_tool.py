"""`mpirun -np R pathq layer --mpi` against `pathq layer` in one process, R = 2 and 3.

The calibration rows are small integers, so the statistics summed across ranks are exact and the
runs must agree bit for bit: codes, weights, steps (the errors to rounding). 600 neurons are 3 panels of 256, 256 and 88,
and 301 rows split unevenly; a 2-row file leaves a rank with no rows.

    python3 tests/mpi/check_tool.py build/tools/pathq mpirun
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

PATHQ, MPIRUN = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="pathq-mpi-")


def path(name):
    return os.path.join(TMP, name)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def layer(args, ranks, tag):
    out, codes, rep = path(tag + "-Q.npy"), path(tag + "-C.npy"), path(tag + "-R.json")
    cmd = [PATHQ, "layer", *args, "--out", out, "--codes", codes, "--report", rep]
    if ranks:
        cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), *cmd, "--mpi"]
    status, _, err = run(cmd)
    assert status == 0, f"{' '.join(cmd)} failed ({status}): {err}"
    with open(rep) as f:
        return np.load(out), np.load(codes), json.load(f)


rng = np.random.default_rng(5)
n_in, n_out = 48, 600
W = rng.standard_normal((n_in, n_out)).astype(np.float32)
X = rng.integers(-3, 4, size=(301, n_in)).astype(np.float32)
Xq = (X + rng.integers(-1, 2, size=X.shape)).astype(np.float32)
X2 = X[:2]
for name, a in (("W", W), ("X", X), ("Xq", Xq), ("X2", X2)):
    np.save(path(name + ".npy"), a)

CASES = [
    ("msq", []),
    ("gpfq", []),
    ("gpfq", ["--act-order", "--quantized-inputs", path("Xq.npy")]),
    ("optq", ["--act-order"]),
    ("optq", ["--group-size", "16", "--grid", "asymmetric", "--quantized-inputs", path("Xq.npy")]),
    ("optq", ["--precision", "double", "--statistics", "double"]),
    ("spfq", ["--seed", "3"]),                       # rank 0 quantizes (statistics split)
    ("gpfq", ["--scale-search", "column"]),          # rank 0 quantizes (statistics split)
    ("maly-saab", []),
    ("prune", ["--sparsity", "0.3"]),
]
for i, (method, extra) in enumerate(CASES):
    args = ["--method", method, "--bits", "3", "--weights", path("W.npy"), "--inputs", path("X.npy"), *extra]
    Q1, C1, R1 = layer(args, 0, f"{i}-one")
    for ranks in (2, 3):
        QR, CR, RR = layer(args, ranks, f"{i}-np{ranks}")
        what = f"{method} {' '.join(extra)} on {ranks} ranks"
        assert np.array_equal(CR, C1), what + ": codes differ"
        assert np.array_equal(QR, Q1), what + ": weights differ"
        assert RR["ranks"] == ranks, what
        split = RR["neuron_split"]
        assert split == (method in ("msq", "gpfq", "optq") and "--scale-search" not in extra), what
        assert split or "neuron_split_note" in RR, what
        for key in ("samples", "saturated", "step", "levels", "status", "bits_per_weight", "weight_relative_error"):
            assert RR[key] == R1[key], f"{what}: {key} {RR[key]} != {R1[key]}"
        # The errors are sums of per-neuron figures computed by products over each rank's columns
        # (another GEMM blocking than over all the columns): equal to rounding.
        for key in ("error", "reference", "relative_error"):
            assert abs(RR[key] - R1[key]) <= 1e-9 * abs(R1[key]), f"{what}: {key} {RR[key]} != {R1[key]}"
        if R1["bound"] is not None:
            assert abs(RR["bound"]["error"] - R1["bound"]["error"]) <= 1e-12 * abs(R1["bound"]["error"]), what
            assert RR["bound"]["applicable"] == R1["bound"]["applicable"], what

# A rank with no rows (2 rows on 3 ranks).
args = ["--method", "gpfq", "--bits", "3", "--weights", path("W.npy"), "--inputs", path("X2.npy")]
Q1, C1, R1 = layer(args, 0, "two-one")
QR, CR, RR = layer(args, 3, "two-np3")
assert np.array_equal(CR, C1) and RR["samples"] == 2

# Errors: one clear line from the lowest failing rank, no output written.
status, _, err = run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", PATHQ, "layer", "--mpi",
                      "--method", "gpfq", "--weights", path("W.npy"), "--inputs", path("W.npy"), "--out", path("bad.npy")])
assert status != 0 and "has 600 columns but --weights has 48 rows" in err, err
assert err.count("pathq: ") == 1, err
assert not os.path.exists(path("bad.npy"))
# A failure on one rank only (a NaN in the last rank's rows): that rank reports it, every rank stops.
Xbad = X.copy()
Xbad[-1, 3] = np.nan
np.save(path("Xbad.npy"), Xbad)
status, _, err = run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", PATHQ, "layer", "--mpi",
                      "--method", "gpfq", "--weights", path("W.npy"), "--inputs", path("Xbad.npy"), "--out", path("bad.npy")])
assert status != 0 and "rank 1: " in err and "non-finite" in err and "(300, 3)" in err, err
assert err.count("pathq: ") == 1 and not os.path.exists(path("bad.npy")), err
print("check_tool: all checks passed")
