"""pathq layer: --statistics float|double, and the report's errors (from the method's own pass for
GPFQ and OPTQ with X alone, from the statistics otherwise) against NumPy on the written Q."""
from cli_support import np, ok, path, fails, report, save

rng = np.random.default_rng(11)
n_in, n_out, m = 48, 20, 160
W = save("W.npy", (rng.standard_normal((n_in, n_out)) * 0.3).astype(np.float32))
Xa = rng.standard_normal((m, n_in)) + 0.7 * rng.standard_normal((m, 1))
Xa[:, 5] = 0.0  # a dead feature
X = save("X.npy", Xa.astype(np.float32))
Xq = save("Xq.npy", (Xa + 0.1 * rng.standard_normal((m, n_in))).astype(np.float32))
W64 = np.load(W).astype(np.float64)
X64 = np.load(X).astype(np.float64)
Xq64 = np.load(Xq).astype(np.float64)


def numpy_error(Q, quantized):
    Y = X64 @ W64
    R = Y - (Xq64 if quantized else X64) @ Q
    return float(np.sum(R * R)), float(np.sum(Y * Y))


def run(method_args, extra=(), quantized=False):
    q, r = path("Q.npy"), path("r.json")
    args = ["layer", *method_args, "--weights", W, "--inputs", X, "--bits", 3, "--out", q, "--report", r, *extra]
    if quantized:
        args += ["--quantized-inputs", Xq]
    ok(*args)
    return np.load(q).astype(np.float64), report(r)


for method_args in (["--method", "gpfq"], ["--method", "optq", "--act-order"], ["--method", "msq"]):
    for quantized in (False, True):
        for precision in ("float", "double"):
            Q, rep = run(method_args, ["--precision", precision], quantized)
            assert rep["statistics"] == precision, rep["statistics"]  # the default follows --precision
            error, reference = numpy_error(Q, quantized)
            tol = 1e-4 if precision == "float" else 1e-9
            assert abs(rep["error"] - error) <= tol * reference, (method_args, quantized, precision, rep["error"], error)
            assert abs(rep["reference"] - reference) <= tol * reference, (rep["reference"], reference)
            assert abs(rep["relative_error"] - error / reference) <= tol, (rep["relative_error"], error / reference)

# Float statistics against double statistics, both in double precision: the same layer error to
# within the statistics' bound (here far below 1e-5 relative).
_, rep_f = run(["--method", "gpfq"], ["--precision", "double", "--statistics", "float"])
_, rep_d = run(["--method", "gpfq"], ["--precision", "double", "--statistics", "double"])
assert rep_f["statistics"] == "float" and rep_d["statistics"] == "double"
assert abs(rep_f["relative_error"] - rep_d["relative_error"]) <= 1e-5 * rep_d["relative_error"] + 1e-7, (
    rep_f["relative_error"], rep_d["relative_error"])

fails("--statistics must be 'double' or 'float', got 'half'", "layer", "--method", "gpfq", "--weights", W,
      "--inputs", X, "--statistics", "half", "--out", path("Q2.npy"), outputs=[path("Q2.npy")])
print("ok")
