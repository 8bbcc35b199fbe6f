"""The Python module `pathq` against the tool `pathq layer` on the same arrays (every method: codes,
values and report identical), against NumPy (statistics), and on bad input."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import pathq

PATHQ_CLI = os.environ.get("PATHQ_CLI")
TMP = tempfile.mkdtemp(prefix="pathq-python-")


def layer(n_in=24, n_out=10, m=96, seed=3):
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32)
    X = (rng.standard_normal((m, n_in)) + 0.3 * rng.standard_normal((m, 1))).astype(np.float32)
    Xq = (X + 0.05 * rng.standard_normal(X.shape)).astype(np.float32)
    return W, X, Xq


# One configuration per method (and a few option variants), as keyword arguments.
CASES = [
    ("msq", {}),
    ("gpfq", {}),
    ("gpfq", {"act_order": True, "scale_search": "clip"}),
    ("optq", {"act_order": True, "grid": "asymmetric"}),
    ("optq", {"damp": 0.05, "group_size": 8, "static_groups": True}),
    ("spfq", {"seed": 7}),
    ("prune", {"sparsity": 0.5, "seed": 2}),
    ("sigma-delta", {"frame_size": 32}),
    ("maly-saab", {"bits": 3}),
]


def tool_flags(method, options):
    # quantize_layer's bits=4 is always passed unless levels= replaces it.
    flags = ["--method", method] + ([] if "bits" in options or "levels" in options else ["--bits", "4"])
    for k, v in options.items():
        name = "--" + k.replace("_", "-")
        if v is True:
            flags.append(name)
        elif v is not False and v is not None:
            flags += [name, str(v)]
    return flags


def run_tool(W, X, Xq, method, options, tag):
    paths = {}
    for name, a in (("W", W), ("X", X), ("Xq", Xq)):
        if a is not None:
            paths[name] = os.path.join(TMP, f"{tag}_{name}.npy")
            np.save(paths[name], a)
    out, codes, report = (os.path.join(TMP, f"{tag}_{s}") for s in ("Q.npy", "C.npy", "R.json"))
    cmd = [PATHQ_CLI, "layer", "--weights", paths["W"], "--out", out, "--codes", codes, "--report", report]
    if "X" in paths:
        cmd += ["--inputs", paths["X"]]
    if "Xq" in paths:
        cmd += ["--quantized-inputs", paths["Xq"]]
    cmd += tool_flags(method, options)
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(cmd)}: {p.stderr}"
    with open(report) as f:
        rep = json.load(f)
    return np.load(out), np.load(codes), rep


def without_seconds(report):
    return {k: v for k, v in report.items() if k != "seconds"}


def test_every_method_equals_the_tool():
    if not PATHQ_CLI:
        pytest.skip("PATHQ_CLI not set (the tool is not built)")
    W, X, Xq = layer()
    methods_seen = set()
    for i, (method, options) in enumerate(CASES):
        for quantized in (False, True):
            if quantized and method in ("msq", "sigma-delta", "maly-saab"):
                continue
            xq = Xq if quantized else None
            r = pathq.quantize_layer(W, X, xq, method=method, **options)
            Q, C, rep = run_tool(W, X, xq, method, options, f"case{i}{int(quantized)}")
            np.testing.assert_array_equal(r.codes, C.astype(np.int32), err_msg=f"{method} {options}")
            np.testing.assert_array_equal(r.values, Q, err_msg=f"{method} {options}")
            assert without_seconds(r.report) == without_seconds(rep), f"{method} {options}"
            assert r.values.shape == W.shape and r.values.dtype == np.float32
            methods_seen.add(method)
    assert methods_seen == set(pathq.methods())


def test_double_precision_and_levels():
    W, X, _ = layer(seed=5)
    r = pathq.quantize_layer(W.astype(np.float64), X.astype(np.float64), method="gpfq", levels=3,
                             precision="double")
    assert r.values.dtype == np.float64
    assert r.report["levels"] == 7 and r.report["precision"] == "double"
    assert set(np.unique(r.codes)) <= set(range(-3, 4))
    # values = codes * step, one step per column
    np.testing.assert_allclose(r.values, r.codes * r.steps, rtol=0, atol=1e-12)


def test_report_errors_against_numpy():
    W, X, Xq = layer(seed=9)
    X64, Xq64 = X.astype(np.float64), Xq.astype(np.float64)
    Y = X64 @ W.astype(np.float64)
    # Float statistics (the default in float) carry a relative error of order 1e-5 (gamma_128).
    for statistics, tol in (("float", 1e-5), ("double", 1e-9)):
        r = pathq.quantize_layer(W, X, Xq, method="optq", bits=3, statistics=statistics)
        err = np.sum((Y - Xq64 @ r.values.astype(np.float64)) ** 2)
        assert abs(r.report["error"] - err) <= tol * err
        assert abs(r.report["relative_error"] - err / np.sum(Y ** 2)) <= tol * err / np.sum(Y ** 2)


def test_layer_stats_against_numpy():
    _, X, Xq = layer(seed=11)
    for products in ("double", "float"):
        s = pathq.LayerStats(X.shape[1], products=products)
        s.add(X[:40], Xq[:40])
        s.add(X[40:], Xq[40:])
        assert s.samples == X.shape[0] and s.n_in == X.shape[1]
        X64, Xq64 = X.astype(np.float64), Xq.astype(np.float64)
        tol = 1e-12 if products == "double" else 1e-5
        for got, want in ((s.H, Xq64.T @ Xq64), (s.G, Xq64.T @ X64), (s.K, X64.T @ X64)):
            np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(want).max())


def raises(exc, needle, fn):
    try:
        fn()
    except exc as e:
        assert needle in str(e), f"'{needle}' not in '{e}'"
        return
    raise AssertionError(f"no {exc.__name__} ('{needle}')")


def test_bad_input_names_the_problem():
    W, X, Xq = layer()
    raises(TypeError, "W must be a numpy array", lambda: pathq.quantize_layer([[1.0]], X))
    raises(ValueError, "W must be 2-D", lambda: pathq.quantize_layer(W[:, 0], X))
    raises(TypeError, "dtype float32 or float64", lambda: pathq.quantize_layer(W.astype(np.int32), X))
    raises(ValueError, "X has 24 columns but W has 23 rows", lambda: pathq.quantize_layer(W[:23], X))
    raises(ValueError, "Xq is", lambda: pathq.quantize_layer(W, X, Xq[:10]))
    raises(ValueError, "needs X", lambda: pathq.quantize_layer(W, method="gpfq"))
    raises(ValueError, "unknown --method 'gptq'", lambda: pathq.quantize_layer(W, X, method="gptq"))
    raises(ValueError, "--bits must be in [2, 24], got 40", lambda: pathq.quantize_layer(W, X, bits=40))
    raises(ValueError, "--damp is not an option of --method gpfq", lambda: pathq.quantize_layer(W, X, damp=0.1))
    raises(ValueError, "unknown option --colour", lambda: pathq.quantize_layer(W, X, colour=1))
    raises(TypeError, "names a file", lambda: pathq.quantize_layer(W, X, out="q.npy"))
    raises(ValueError, "non-finite", lambda: pathq.quantize_layer(W, np.full_like(X, np.nan)))
    raises(ValueError, "every input feature is dead", lambda: pathq.quantize_layer(W, np.zeros_like(X)))
    raises(ValueError, "products must be", lambda: pathq.LayerStats(4, products="half"))

