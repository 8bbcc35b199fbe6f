"""pathq layer --method spfq|prune against an independent NumPy transcription of SPFQ's two phases."""
from cli_support import fails, np, ok, path, report, save

MASK = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def uniforms(seed, n_in, n_out):
    """U[t, j]: the draw for feature t of neuron j (stream j of `seed`, counter t)."""
    U = np.zeros((n_in, n_out))
    for j in range(n_out):
        key = splitmix64(splitmix64(seed) ^ ((j * 0xD1B54A32D192ED03 + 0x8CB92BA72F3D8DD7) & MASK))
        for t in range(n_in):
            bits = splitmix64(key ^ splitmix64((t * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & MASK))
            U[t, j] = (bits >> 11) * 2.0 ** -53
    return U


def stochastic_level(z, levels, r):
    """Stochastic rounding onto sorted `levels`: the upper neighbour b with probability (z-a)/(b-a)."""
    if z <= levels[0]:
        return levels[0]
    if z >= levels[-1]:
        return levels[-1]
    i = np.searchsorted(levels, z, side="right")
    a, b = levels[i - 1], levels[i]
    if a == z:
        return a
    return b if r < (z - a) / (b - a) else a


def align(W, X, Xq, order, ridge=1e-6):
    """Phase 1 (docs/algorithms.md#spfq-two-phases) in the data domain; order None means the direct solve."""
    energy = (Xq * Xq).sum(axis=0)
    if order is None:
        H = Xq.T @ Xq
        return np.linalg.solve(H + ridge * np.mean(np.diag(H)) * np.eye(len(H)), Xq.T @ X @ W)
    Wt = np.zeros_like(W)
    for j in range(W.shape[1]):
        U = np.zeros(X.shape[0])
        for p in range(order):
            for t in range(W.shape[0]):
                U += W[t, j] * X[:, t] if p == 0 else Wt[t, j] * Xq[:, t]
                Wt[t, j] = U @ Xq[:, t] / energy[t]
                U -= Wt[t, j] * Xq[:, t]
    return Wt


def phase_two(Wt, Xq, T, gain=1.0):
    """u <- 0; c_t = w~_t + gain <Xq_t, u>/||Xq_t||^2; q_t = T(c_t, t, j); u += (w~_t - q_t) Xq_t."""
    energy = (Xq * Xq).sum(axis=0)
    Q, C = np.zeros_like(Wt), np.zeros_like(Wt)
    for j in range(Wt.shape[1]):
        u = np.zeros(Xq.shape[0])
        for t in range(Wt.shape[0]):
            c = Wt[t, j] + gain * (Xq[:, t] @ u) / energy[t]
            Q[t, j], C[t, j] = T(c, t, j), c
            u += (Wt[t, j] - Q[t, j]) * Xq[:, t]
    return Q, C


def run(method, W, X, Xq, *extra):
    args = ["layer", "--method", method, "--precision", "double", "--weights", save("W.npy", W),
            "--inputs", save("X.npy", X), "--quantized-inputs", save("Xq.npy", Xq), "--out", path("Q.npy"),
            "--codes", path("codes.npy"), "--report", path("r.json"), *extra]
    ok(*args)
    return np.load(path("Q.npy")), np.load(path("codes.npy")), report(path("r.json"))


rng = np.random.default_rng(20261124)
n_in, n_out, m = 36, 5, 30
W = 0.5 * rng.standard_normal((n_in, n_out))
X = rng.standard_normal((m, n_in))
Xq = X + 0.2 * rng.standard_normal((m, n_in))
E_ref = np.linalg.norm(X @ W) ** 2

# SPFQ on {k step : |k| <= K}, orders 1, 2 and inf, gain 1 and 0.6.
K, step, seed = 5, 0.3, 11
levels = step * np.arange(-K, K + 1)
U = uniforms(seed, n_in, n_out)
for order, gain in [(1, 1.0), (2, 1.0), (None, 1.0), (2, 0.6)]:
    Wt = align(W, X, Xq, order)
    Q_ref, C = phase_two(Wt, Xq, lambda c, t, j: stochastic_level(c, levels, U[t, j]), gain)
    Q, codes, r = run("spfq", W, X, Xq, "--levels", K, "--step", step, "--seed", seed,
                      "--order", "inf" if order is None else order, "--gain", gain, "--block", 8)
    assert np.array_equal(Q, Q_ref), f"SPFQ differs from the NumPy loop at order {order}, gain {gain}"
    assert np.array_equal(codes * step, Q)
    assert r["method"] == "spfq" and r["order"] == ("inf" if order is None else order) and r["seed"] == seed
    assert r["gain"] == gain
    assert r["saturated"] == int(np.sum(np.abs(C) > K * step))
    E = np.linalg.norm(X @ W - Xq @ Q) ** 2
    assert abs(r["relative_error"] - E / E_ref) <= 1e-9 * E / E_ref
    E_align = np.linalg.norm(X @ W - Xq @ Wt) ** 2
    assert abs(r["alignment_relative_error"] - E_align / E_ref) <= 1e-6 * E_align / E_ref + 1e-12
    assert r["contract_deviation"] == step
    b = r["bound"]
    assert b["name"] == "spfq_tail" and b["applicable"] == (gain == 1.0 and r["saturated"] == 0)
    assert r["bound_probability"] >= 0.99 - 1e-12
    if b["applicable"]:
        assert b["holds"] and E <= b["error"]

# The same seed gives the same codes on any thread count; another seed differs.
codes = [run("spfq", W, X, Xq, "--bits", 3, "--seed", s, "--threads", t, "--order", 3)[1]
         for s, t in [(4, 1), (4, 2), (5, 1)]]
assert np.array_equal(codes[0], codes[1]) and not np.array_equal(codes[0], codes[2])

# The K rule: K from the finite-alphabet rule, and nothing clipped.
Q, codes, r = run("spfq", W, X, Xq, "--auto-levels", 3, "--step", 0.25, "--seed", 2, "--order", 2)
K_auto = r["auto_levels"]["levels_per_side"]
assert r["levels"] == 2 * K_auto + 1 and r["saturated"] == 0 and r["auto_levels"]["p"] == 3
assert K_auto > np.abs(align(W, X, Xq, 2)).max() / 0.25

# prune: quantization + pruning on {0} U {+-(lam + k delta) : 0 <= k < K}, L0 and L1, prune only.
lam, delta, K = 0.3, 0.15, 3
dz = np.concatenate([-(lam + delta * np.arange(K))[::-1], [0.0], lam + delta * np.arange(K)])
soft = lambda c: np.sign(c) * max(abs(c) - lam, 0.0)


def l0(c):
    return 0.0 if abs(c) <= lam else np.sign(c) * (lam + delta * min(abs(np.floor(soft(c) / delta + 0.5)), K - 1))


def l1(c):
    return np.sign(c) * delta * min(abs(np.floor(soft(c) / delta + 0.5)), K)


def prune_only(c, r):
    return c if abs(c) > lam else stochastic_level(c, np.array([-lam, 0.0, lam]), r)


U = uniforms(3, n_in, n_out)
Wt = align(W, X, Xq, 2)
for mode, quantized, T, tol in [("stochastic", True, lambda c, t, j: stochastic_level(c, dz, U[t, j]), 1e-12),
                                ("l0", True, lambda c, t, j: l0(c), 1e-12),
                                ("l1", True, lambda c, t, j: l1(c), 1e-12),
                                ("stochastic", False, lambda c, t, j: prune_only(c, U[t, j]), 1e-6),
                                ("l0", False, lambda c, t, j: 0.0 if abs(c) <= lam else c, 1e-6)]:
    Q_ref, C = phase_two(Wt, Xq, T)
    levels_args = ["--levels", K, "--step", delta] if quantized else []
    Q, codes, r = run("prune", W, X, Xq, "--threshold", lam, "--mode", mode, "--seed", 3, "--order", 2, *levels_args)
    assert np.max(np.abs(Q - Q_ref)) <= tol, f"prune {mode} differs from the NumPy loop"
    assert np.array_equal(Q == 0, Q_ref == 0)
    assert abs(r["sparsity"] - np.mean(Q == 0)) < 1e-12 and r["threshold"] == lam
    assert r["operator"] == mode and r["levels_per_side"] == (K if quantized else 0)
    if quantized and mode != "l1":
        assert r["grid"] == "dead_zone" and r["levels"] == 2 * K + 1 and r["bits_per_code"] == 3
        assert np.allclose(np.sign(codes) * (lam + (np.abs(codes) - 1) * delta) * (codes != 0), Q, atol=1e-14)
    assert r["bound"]["applicable"] == (mode == "stochastic" and r["saturated"] == 0)

# A target sparsity instead of a threshold.
Q, codes, r = run("prune", W, X, Xq, "--sparsity", 0.5, "--mode", "l0", "--order", 2)
assert abs(np.mean(Q == 0) - 0.5) <= 0.01 and r["target_sparsity"] == 0.5 and r["search_runs"] >= 1

# The 1-bit operator on {-alpha, +alpha} (--step 2 alpha), gain 0.5.
alpha = 1.2
U = uniforms(8, n_in, n_out)
Q_ref, C = phase_two(Wt, Xq, lambda c, t, j: stochastic_level(c, np.array([-alpha, alpha]), U[t, j]), 0.5)
Q, codes, r = run("prune", W, X, Xq, "--one-bit", "--step", 2 * alpha, "--seed", 8, "--order", 2, "--gain", 0.5)
assert np.array_equal(Q, Q_ref) and r["operator"] == "one_bit" and r["alpha"] == alpha
assert r["levels"] == 2 and r["saturated"] == int(np.sum(np.abs(C) > alpha))
assert not r["bound"]["applicable"]  # gain != 1

# Float: the default precision writes float32.
ok("layer", "--method", "prune", "--weights", save("W32.npy", W.astype(np.float32)), "--inputs", save("X.npy", X),
   "--threshold", 0.2, "--out", path("Q32.npy"), "--report", path("r32.json"))
assert np.load(path("Q32.npy")).dtype == np.float32 and report(path("r32.json"))["precision"] == "float"

# Bad input: one line naming the problem, nothing written.
base = ["layer", "--weights", path("W.npy"), "--inputs", path("X.npy"), "--out", path("bad.npy")]
outs = [path("bad.npy")]
fails("--order must be in [1, 1000000], got 0", *base, "--method", "spfq", "--order", 0, outputs=outs)
fails("--order expects an integer, got 'two'", *base, "--method", "spfq", "--order", "two", outputs=outs)
fails("--gain must be in [0, 2], got 3", *base, "--method", "spfq", "--gain", 3, outputs=outs)
fails("--auto-levels needs --step DELTA", *base, "--method", "spfq", "--auto-levels", 2, outputs=outs)
fails("give --auto-levels or --levels/--bits, not both", *base, "--method", "spfq", "--auto-levels", 2,
      "--step", 0.1, "--bits", 3, outputs=outs)
fails("--method prune needs --threshold LAMBDA or --sparsity S", *base, "--method", "prune", outputs=outs)
fails("give --threshold or --sparsity, not both", *base, "--method", "prune", "--threshold", 0.1,
      "--sparsity", 0.5, outputs=outs)
fails("--sparsity must be in (0, 1), got 1.5", *base, "--method", "prune", "--sparsity", 1.5, outputs=outs)
fails("--mode must be 'stochastic', 'l1' or 'l0', got 'l2'", *base, "--method", "prune", "--threshold", 0.1,
      "--mode", "l2", outputs=outs)
fails("--one-bit does not take --threshold", *base, "--method", "prune", "--one-bit", "--threshold", 0.1, outputs=outs)
fails("--step-rule must be 'layer'", *base, "--method", "prune", "--threshold", 0.1, "--scale", 1,
      "--step-rule", "column", outputs=outs)
fails("must lie below the largest level C R", *base, "--method", "prune", "--threshold", 50, "--levels", 3,
      outputs=outs)
fails("--method spfq needs --inputs X.npy", "layer", "--method", "spfq", "--weights", path("W.npy"),
      "--out", path("bad.npy"), outputs=outs)
fails("--one-bit is not an option of --method spfq", *base, "--method", "spfq", "--one-bit", outputs=outs)
print("ok")
