"""pathq layer --scale-search: a NumPy transcription of the clip search, the radius and column
searches' reports, the defaults, and bad input."""
from cli_support import fails, np, ok, path, report, save

rng = np.random.default_rng(5)
N_in, N_out, m = 24, 6, 50
W = rng.standard_normal((N_in, N_out))
X = rng.standard_normal((m, N_in)) * np.linspace(0.3, 2.0, N_in)
Wp, Xp = save("W.npy", W), save("X.npy", X)


def clip_search(W, K, d, points=100, min_ratio=0.2):
    """Per column: the ratio r in 1 .. min_ratio of least sum_t d_t (w_t - q_t)^2, q on step r max|w|/K."""
    Q = np.zeros_like(W)
    for j in range(W.shape[1]):
        s0 = np.abs(W[:, j]).max() / K
        best, best_q = np.inf, None
        for k in range(points):
            r = 1.0 - (1.0 - min_ratio) * k / (points - 1)
            s = r * s0
            q = np.clip(np.floor(W[:, j] / s + 0.5), -K, K) * s
            e = np.sum(d * (W[:, j] - q) ** 2)
            if e < best:
                best, best_q = e, q
        Q[:, j] = best_q
    return Q


common = ["layer", "--precision", "double", "--weights", Wp, "--bits", "3", "--scale", "1", "--step-rule", "column"]

# Data-free MSQ: unit weights.
ok(*common, "--method", "msq", "--scale-search", "clip", "--out", path("q1.npy"), "--report", path("r1.json"))
Q1 = np.load(path("q1.npy"))
assert np.allclose(Q1, clip_search(W, 3, np.ones(N_in)), atol=1e-12), "msq clip search (no inputs)"
assert report(path("r1.json"))["scale_search"] == "clip"

# With inputs: weights diag(X^T X); the layer error does not exceed that of the max-based step.
ok(*common, "--method", "msq", "--inputs", Xp, "--scale-search", "clip", "--out", path("q2.npy"),
   "--report", path("r2.json"))
Q2 = np.load(path("q2.npy"))
assert np.allclose(Q2, clip_search(W, 3, np.sum(X * X, axis=0)), atol=1e-12), "msq clip search (diag H)"
ok(*common, "--method", "msq", "--inputs", Xp, "--out", path("q0.npy"), "--report", path("r0.json"))
r0, r2 = report(path("r0.json")), report(path("r2.json"))
assert r0["scale_search"] == "none"
assert r2["relative_error"] < r0["relative_error"], (r2["relative_error"], r0["relative_error"])
ok(*common, "--method", "msq", "--inputs", Xp, "--scale-search", "none", "--out", path("q3.npy"))
assert np.array_equal(np.load(path("q3.npy")), np.load(path("q0.npy"))), "none is the default"

# OPTQ and GPFQ take the searched grid: the steps are those of the clip search.
for method in ("gpfq", "optq"):
    ok(*common, "--method", method, "--inputs", Xp, "--scale-search", "clip", "--out", path("q4.npy"),
       "--report", path("r4.json"))
    step = np.array(report(path("r4.json"))["step"])
    s_msq = np.array(report(path("r2.json"))["step"])
    assert np.allclose(step, s_msq, rtol=1e-15), (method, step, s_msq)

# Radius search: one run per C in 0.5 .. 1.5, the least layer error kept.
ok(*common, "--method", "gpfq", "--inputs", Xp, "--scale-search", "radius", "--out", path("q5.npy"),
   "--report", path("r5.json"))
r5 = report(path("r5.json"))
assert r5["radius_candidates"] == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
assert len(r5["radius_errors"]) == 11
k = int(np.argmin(r5["radius_errors"]))
assert r5["radius_scale"] == r5["radius_candidates"][k]
assert abs(r5["error"] - min(r5["radius_errors"])) <= 1e-9 * r5["error"]
ok(*common, "--method", "gpfq", "--inputs", Xp, "--out", path("q6.npy"), "--report", path("r6.json"))
assert abs(report(path("r6.json"))["error"] - r5["radius_errors"][5]) <= 1e-9 * r5["radius_errors"][5]
assert r5["error"] <= report(path("r6.json"))["error"]
s6 = np.array(report(path("r6.json"))["step"])
assert np.allclose(np.array(r5["step"]), s6 * r5["radius_scale"], rtol=1e-12)

# Column search: each neuron's C from the same candidates, by the error the method reaches; never
# worse than the radius search (the best single C) nor than no search.
ok(*common, "--method", "gpfq", "--inputs", Xp, "--scale-search", "column", "--out", path("q10.npy"),
   "--report", path("r10.json"))
r10 = report(path("r10.json"))
assert r10["scale_search"] == "column"
assert len(r10["column_scale"]) == N_out
assert all(c in r10["radius_candidates"] for c in r10["column_scale"])
assert r10["radius_errors"] == r5["radius_errors"]
assert r10["error"] <= r5["error"] * (1 + 1e-12), (r10["error"], r5["error"])
s10 = np.array(r10["step"])
assert np.allclose(s10, s6 * np.array(r10["column_scale"]), rtol=1e-12)

# Default: no search, and the per-column step rule with C = 1 (the plain rule), for every method.
ok("layer", "--method", "msq", "--precision", "double", "--weights", Wp, "--bits", "3", "--out", path("q7.npy"),
   "--report", path("r7.json"))
r7 = report(path("r7.json"))
assert r7["scale_search"] == "none"
assert np.allclose(np.array(r7["step"]), np.abs(W).max(axis=0) / 3, rtol=1e-15)
ok(*common, "--method", "msq", "--out", path("q7b.npy"))
assert np.array_equal(np.load(path("q7.npy")), np.load(path("q7b.npy"))), "the default is --scale 1 --step-rule column"
ok("layer", "--method", "msq", "--precision", "double", "--weights", Wp, "--bits", "3", "--step", "0.5",
   "--out", path("q8.npy"), "--report", path("r8.json"))
assert report(path("r8.json"))["scale_search"] == "none"
ok("layer", "--method", "spfq", "--weights", Wp, "--inputs", Xp, "--bits", "3", "--out", path("q9.npy"),
   "--report", path("r9.json"))
assert report(path("r9.json"))["scale_search"] == "none"

# Bad input.
outs = [path("bad.npy")]
fails("--scale-search must be 'none', 'clip', 'radius' or 'column', got 'max'", *common, "--method", "msq",
      "--scale-search", "max", "--out", path("bad.npy"), outputs=outs)
fails("--scale-search radius needs --inputs", *common, "--method", "msq", "--scale-search", "radius",
      "--out", path("bad.npy"), outputs=outs)
fails("--scale-search column needs --inputs", *common, "--method", "msq", "--scale-search", "column",
      "--out", path("bad.npy"), outputs=outs)
fails("--scale-search applies to --method msq, gpfq and optq", *common, "--method", "spfq", "--inputs", Xp,
      "--scale-search", "clip", "--out", path("bad.npy"), outputs=outs)
print("ok")
