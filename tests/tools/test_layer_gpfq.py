"""pathq layer --method gpfq|msq against an independent NumPy transcription of the papers' loops."""
from cli_support import np, ok, path, report, save


def nearest(c, levels):
    return levels[np.argmin(np.abs(levels - c))]


def gpfq_numpy(W, X, Xq, levels):
    """docs/algorithms.md#gpfq-per-neuron-loop, literally: one neuron at a time, in the data domain."""
    n_in, n_out = W.shape
    Q = np.zeros_like(W)
    C = np.zeros_like(W)
    energy = (Xq * Xq).sum(axis=0)
    dead = energy <= 1e-12 * energy.max()
    for j in range(n_out):
        u = np.zeros(X.shape[0])
        for t in range(n_in):
            c = 0.0 if dead[t] else Xq[:, t] @ (u + W[t, j] * X[:, t]) / energy[t]
            q = nearest(c, levels)
            u = u + W[t, j] * X[:, t] - q * Xq[:, t]
            C[t, j], Q[t, j] = c, q
    return Q, C


def tie_free_layer(rng, n_in, n_out, m, K, step, quantized):
    while True:
        W = 0.5 * rng.standard_normal((n_in, n_out))
        X = rng.standard_normal((m, n_in))
        Xq = X + 0.2 * rng.standard_normal((m, n_in)) if quantized else X
        levels = step * np.arange(-K, K + 1)
        Q, C = gpfq_numpy(W, X, Xq, levels)
        u = C / step
        if np.min(np.abs(u - np.floor(u) - 0.5)) > 1e-9:
            return W, X, Xq, Q


rng = np.random.default_rng(20261123)
K, step = 3, 0.3
for n_in, n_out, m, quantized in [(33, 5, 40, True), (70, 3, 25, False), (150, 9, 120, True), (12, 1, 30, True)]:
    W, X, Xq, Q_ref = tie_free_layer(rng, n_in, n_out, m, K, step, quantized)
    args = ["layer", "--method", "gpfq", "--precision", "double", "--weights", save("W.npy", W),
            "--inputs", save("X.npy", X), "--levels", K, "--step", step,
            "--out", path("Q.npy"), "--codes", path("codes.npy"), "--report", path("r.json"), "--block", 16]
    if quantized:
        args += ["--quantized-inputs", save("Xq.npy", Xq)]
    ok(*args)
    Q = np.load(path("Q.npy"))
    codes = np.load(path("codes.npy"))
    assert Q.shape == W.shape and Q.dtype == np.float64
    assert codes.dtype == np.int32 and codes.shape == W.shape
    assert np.array_equal(Q, Q_ref), f"GPFQ differs from the NumPy loop at {n_in}x{n_out}"
    assert np.array_equal(codes * step, Q)
    r = report(path("r.json"))
    E = np.linalg.norm(X @ W - Xq @ Q) ** 2
    ref = np.linalg.norm(X @ W) ** 2
    assert r["method"] == "gpfq" and r["shape"] == [n_in, n_out]
    assert r["levels"] == 2 * K + 1 and r["bits_per_code"] == 3
    assert abs(r["step"] - step) < 1e-15
    assert abs(r["relative_error"] - E / ref) <= 1e-9 * E / ref
    assert abs(r["norm_ratio"] - np.sqrt(E / ref)) <= 1e-9
    assert r["samples"] == m and r["quantized_inputs"] == quantized
    assert set(r["seconds"]) == {"statistics", "quantization", "total"}
    assert r["bound"]["name"] == "gpfq_unsaturated"
    assert r["bound"]["applicable"] == (not quantized and r["saturated"] == 0)
    if r["bound"]["applicable"]:
        assert r["bound"]["holds"] and E <= r["bound"]["error"]

# MSQ: entrywise nearest with the layer radius rule step = C * mean_j max_t |W_tj| / K.
W = rng.standard_normal((40, 7)).astype(np.float32)
ok("layer", "--method", "msq", "--weights", save("W32.npy", W), "--bits", 3, "--scale", 0.9,
   "--out", path("Qm.npy"), "--report", path("rm.json"))
r = report(path("rm.json"))
K = 3
delta = np.float32(0.9 * np.abs(W).max(axis=0).mean() / K)
assert abs(r["step"] - delta) <= 1e-6 * delta
codes = np.clip(np.floor(W / delta + np.float32(0.5)), -K, K)
Qm = np.load(path("Qm.npy"))
assert Qm.dtype == np.float32
assert np.array_equal(Qm, (codes * delta).astype(np.float32))
assert r["relative_error"] is None and r["levels"] == 7
assert abs(r["weight_relative_error"] - np.sum((W - Qm) ** 2) / np.sum(W ** 2)) < 1e-6
print("ok")
