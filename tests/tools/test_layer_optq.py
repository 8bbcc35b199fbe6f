"""pathq layer --method optq against a NumPy transcription of GPTQ's Cholesky-form loop."""
from cli_support import fails, np, ok, path, report, save


def fit(v, kind, bits, C):
    """Step and zero point per column of v (features x neurons)."""
    if kind == "asymmetric":
        lo = np.minimum(v.min(axis=0), 0.0)
        hi = np.maximum(v.max(axis=0), 0.0)
        levels = 2 ** bits - 1
        span = hi - lo
        safe = np.where(span > 0, span, 1.0)
        step = np.where(span > 0, C * span / levels, 1.0)
        zero = np.where(span > 0, np.minimum(levels, np.floor(-lo / safe * levels + 0.5)), 0.0)
        return step, zero
    radius = 2 ** (bits - 1) - 1 if kind == "symmetric" else 2 ** (bits - 1) - 0.5
    m = np.abs(v).max(axis=0)
    return np.where(m > 0, C * m / radius, 1.0), np.zeros(v.shape[1])


def code_range(kind, bits):
    if kind == "symmetric":
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    if kind == "even":
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def gptq_numpy(W, X, kind, bits, C=1.0, group=0, static=True, act_order=False, damp=0.01, target=None):
    """docs/algorithms.md#optq-algorithm, unblocked: H^-1 = U^T U,
    w_{t+1:} -= U[t, t+1:] (w_t - q_t) / U[t, t].
    H = X^T X (pass Xq for a partly quantized network); the grid is fitted to W, the walk runs on
    `target` (W when None)."""
    n, N = W.shape
    H = X.T @ X
    diag0 = np.diag(H).copy()
    groups = (n + group - 1) // group if group else 1
    step = np.zeros((groups, N))
    zero = np.zeros((groups, N))
    for k in range(groups):
        rows = slice(k * group, (k + 1) * group) if group else slice(0, n)
        step[k], zero[k] = fit(W[rows], kind, bits, C)
    W = (W if target is None else target).copy()
    dead = diag0 <= 1e-12 * diag0.max()
    H[dead, :] = 0
    H[:, dead] = 0
    H[dead, dead] = 1
    W[dead, :] = 0
    perm = np.argsort(-diag0, kind="stable") if act_order else np.arange(n)
    H = H[np.ix_(perm, perm)]
    Wp = W[perm].copy()
    H += damp * np.mean(np.diag(H)) * np.eye(n)
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    lo, hi = code_range(kind, bits)
    codes = np.zeros((n, N), dtype=np.int64)
    U_codes = np.zeros((n, N))
    for i in range(n):
        if group and not static and i % group == 0:
            step[i // group], zero[i // group] = fit(Wp[i:i + group], kind, bits, C)
        k = (perm[i] // group if static else i // group) if group else 0
        u = Wp[i] / step[k] + zero[k]
        c = np.clip(np.floor(u + 0.5), lo, hi)
        q = (c - zero[k]) * step[k]
        codes[perm[i]] = c
        U_codes[perm[i]] = u
        err = (Wp[i] - q) / U[i, i]
        Wp[i + 1:] -= np.outer(U[i, i + 1:], err)
    Q = np.zeros((n, N))
    for t in range(n):
        k = t // group if group else 0
        Q[t] = (codes[t] - zero[k]) * step[k]
    return codes, Q, step, zero, U_codes


def float_outputs_target(W, X, Xq, damp=0.01):
    """W* = (H + lambda I)^-1 (G W + lambda W), H = Xq^T Xq and G = Xq^T X with the dead features'
    rows and columns of H removed (unit diagonal) and their rows of G zeroed."""
    H = Xq.T @ Xq
    G = Xq.T @ X
    diag0 = np.diag(H).copy()
    dead = diag0 <= 1e-12 * diag0.max()
    H[dead, :] = 0
    H[:, dead] = 0
    H[dead, dead] = 1
    G[dead, :] = 0
    lam = damp * np.mean(np.diag(H))
    return np.linalg.solve(H + lam * np.eye(len(H)), G @ W + lam * W)


def layer(rng, n_in, n_out, m, dead=()):
    W = rng.standard_normal((n_in, n_out))
    X = rng.standard_normal((m, n_in)) @ (np.eye(n_in) + 0.3 * rng.standard_normal((n_in, n_in)) / np.sqrt(n_in))
    X *= 0.5 + rng.random(n_in)
    for t in dead:
        X[:, t] = 0
    return W, X


def tie_margin(u):
    return np.min(np.abs(u - np.floor(u) - 0.5))


rng = np.random.default_rng(20261124)
cases = [
    # (n_in, n_out, m, kind, bits, C, group, static, act_order, dead, block)
    (40, 5, 60, "asymmetric", 3, 1.0, 0, True, False, (), 16),
    (53, 4, 70, "asymmetric", 4, 1.0, 0, True, True, (7,), 8),
    (48, 3, 30, "symmetric", 3, 1.0, 8, False, False, (), 5),
    (61, 6, 90, "even", 3, 0.9, 16, True, True, (0, 30), 7),
    (37, 2, 50, "asymmetric", 2, 0.8, 10, False, False, (), 128),
]
for n_in, n_out, m, kind, bits, C, group, static, act, dead, block in cases:
    while True:
        W, X = layer(rng, n_in, n_out, m, dead)
        codes_ref, Q_ref, step_ref, zero_ref, u = gptq_numpy(W, X, kind, bits, C, group, static, act)
        if tie_margin(u) > 1e-9:
            break
    args = ["layer", "--method", "optq", "--precision", "double", "--weights", save("W.npy", W),
            "--inputs", save("X.npy", X), "--grid", kind, "--bits", bits, "--block", block,
            "--out", path("Q.npy"), "--codes", path("codes.npy"), "--report", path("r.json")]
    if kind == "asymmetric":
        args += ["--scale", C]
    else:
        args += ["--scale", C, "--step-rule", "column"]
    if group:
        args += ["--group-size", group]
    if static and group:
        args += ["--static-groups"]
    if act:
        args += ["--act-order"]
    ok(*args)
    label = f"{kind} {bits} bits group {group} static {static} act-order {act} {n_in}x{n_out}"
    codes = np.load(path("codes.npy"))
    Q = np.load(path("Q.npy"))
    assert codes.dtype == np.int32 and codes.shape == W.shape
    assert np.array_equal(codes, codes_ref), f"OPTQ codes differ from the NumPy GPTQ loop: {label}"
    assert np.allclose(Q, Q_ref, rtol=0, atol=1e-12 * np.abs(Q_ref).max()), label
    for t in dead:
        assert np.all(Q[t] == 0), label
    r = report(path("r.json"))
    assert r["method"] == "optq" and r["shape"] == [n_in, n_out] and r["status"] == "success", label
    levels = 2 ** bits - 1 if kind == "symmetric" else 2 ** bits
    assert r["grid"] == kind and r["levels"] == levels and r["bits_per_code"] == bits, label
    assert r["group_size"] == group and r["dead_inputs"] == len(dead), label
    assert r["groups"] == ("none" if not group else "static" if static else "dynamic"), label
    assert r["feature_order"] == ("descending_energy" if act else "natural"), label
    assert r["objective"] == "outputs", label
    assert r["damping"] == 0.01 and r["damping_retries"] == 0, label
    groups = (n_in + group - 1) // group if group else 1
    zeros = groups * n_out if kind == "asymmetric" else 0
    expected_bpw = bits + (groups * n_out * 16 + zeros * bits) / (n_in * n_out)
    assert abs(r["bits_per_weight"] - expected_bpw) < 1e-12, (label, r["bits_per_weight"], expected_bpw)
    if kind == "asymmetric":
        assert "zero_point" in r
    E = np.linalg.norm(X @ (W - Q)) ** 2
    ref = np.linalg.norm(X @ W) ** 2
    assert abs(r["relative_error"] - E / ref) <= 1e-9 * E / ref, label
    assert r["bound"]["name"] == "optq_unsaturated"
    if r["bound"]["applicable"]:
        assert r["bound"]["holds"] and E <= r["bound"]["error"], label

# A partly quantized network (--quantized-inputs Xq != X): the default objective, outputs, runs
# GPTQ on W* = (H + lambda I)^-1 (G W + lambda W) with the grid of W; --objective inputs is
# classic GPTQ on W with H = Xq^T Xq, the codes of the tool before the objective existed.
for n_in, n_out, m, kind, bits, group, static, act, dead in [(40, 5, 80, "asymmetric", 3, 0, True, False, ()),
                                                             (48, 4, 90, "symmetric", 3, 16, True, True, (3,)),
                                                             (45, 3, 70, "asymmetric", 3, 15, False, False, ())]:
    while True:
        W, X = layer(rng, n_in, n_out, m)
        Xq = X + 0.2 * rng.standard_normal(X.shape)
        for t in dead:
            Xq[:, t] = 0  # dead in the quantized network only
        target = float_outputs_target(W, X, Xq)
        out_ref = gptq_numpy(W, Xq, kind, bits, 1.0, group, static, act, target=target)
        in_ref = gptq_numpy(W, Xq, kind, bits, 1.0, group, static, act)
        if min(tie_margin(out_ref[4]), tie_margin(in_ref[4])) > 1e-9:
            break
    label = f"Xq != X: {kind} group {group} static {static} act-order {act}"
    args = ["layer", "--method", "optq", "--precision", "double", "--weights", save("Wq.npy", W), "--inputs",
            save("Xo.npy", X), "--quantized-inputs", save("Xq.npy", Xq), "--grid", kind, "--bits", bits,
            "--scale", 1]
    if kind != "asymmetric":
        args += ["--step-rule", "column"]
    if group:
        args += ["--group-size", group] + (["--static-groups"] if static else [])
    if act:
        args += ["--act-order"]
    errors = {}
    for objective, ref in (("outputs", out_ref), ("inputs", in_ref), (None, out_ref)):
        flag = ["--objective", objective] if objective else []
        ok(*args, *flag, "--out", path("Qq.npy"), "--codes", path("cq.npy"), "--report", path("rq.json"))
        r = report(path("rq.json"))
        assert r["objective"] == (objective or "outputs"), (label, r["objective"])
        assert r["quantized_inputs"] is True and r["status"] == "success", label
        assert not r["bound"]["applicable"], label
        assert np.array_equal(np.load(path("cq.npy")), ref[0]), f"{label}: --objective {objective} codes"
        assert np.allclose(np.load(path("Qq.npy")), ref[1], rtol=0, atol=1e-12 * np.abs(ref[1]).max()), label
        Q = np.load(path("Qq.npy"))
        E = np.linalg.norm(X @ W - Xq @ Q) ** 2
        assert abs(r["error"] - E) <= 1e-9 * E, (label, r["error"], E)
        errors[objective or "default"] = E
    assert not np.array_equal(out_ref[0], in_ref[0]), label
    assert errors["outputs"] < errors["inputs"], (label, errors)

# Xq = X: both objectives give the same codes.
W, X = layer(rng, 30, 4, 50)
codes = {}
for objective in ("outputs", "inputs"):
    ok("layer", "--method", "optq", "--precision", "double", "--weights", save("We.npy", W), "--inputs",
       save("Xe.npy", X), "--bits", 3, "--objective", objective, "--out", path("Qe.npy"), "--codes", path("ce.npy"),
       "--report", path("re.json"))
    assert report(path("re.json"))["objective"] == objective
    codes[objective] = np.load(path("ce.npy"))
assert np.array_equal(codes["outputs"], codes["inputs"])

# float precision: same algorithm in single precision.
W, X = layer(rng, 64, 8, 100)
ok("layer", "--method", "optq", "--weights", save("W32.npy", W.astype(np.float32)), "--inputs",
   save("X32.npy", X.astype(np.float32)), "--bits", 4, "--grid", "asymmetric", "--act-order",
   "--out", path("Q32.npy"), "--report", path("r32.json"))
r = report(path("r32.json"))
assert r["precision"] == "float" and r["status"] == "success" and np.load(path("Q32.npy")).dtype == np.float32
assert r["relative_error"] < 0.05

# A singular H with almost no damping: the factorization is retried at higher damping and reported.
W = rng.standard_normal((40, 3))
X = rng.standard_normal((5, 40))
ok("layer", "--method", "optq", "--precision", "double", "--weights", save("Ws.npy", W), "--inputs",
   save("Xs.npy", X), "--damp", 1e-17, "--damp-retries", 12, "--out", path("Qs.npy"), "--report", path("rs.json"))
r = report(path("rs.json"))
assert r["status"] == "numerical_issue" and "raised to" in r["message"], r
assert r["damping"] > 1e-17 and r["damping_retries"] >= 1

# Bad input: one line on stderr naming the problem, nothing written.
Wp, Xp = save("W.npy", W), save("X.npy", rng.standard_normal((20, 40)))
outs = [path("bad.npy")]
base = ["layer", "--method", "optq", "--weights", Wp, "--inputs", Xp, "--out", path("bad.npy")]
fails("--method optq needs --inputs", "layer", "--method", "optq", "--weights", Wp, "--out", path("bad.npy"), outputs=outs)
fails("--static-groups goes with --group-size", *base, "--static-groups", outputs=outs)
fails("needs --static-groups", *base, "--group-size", 8, "--act-order", outputs=outs)
fails("--grid must be", *base, "--grid", "ternary", outputs=outs)
fails("give --bits B, not --levels", *base, "--grid", "even", "--levels", 3, outputs=outs)
fails("--step does not apply", *base, "--grid", "asymmetric", "--step", 0.1, outputs=outs)
fails("--damp must be >= 0", *base, "--damp", -1, outputs=outs)
fails("--damp-retries must be in [0, 30]", *base, "--damp-retries", 31, outputs=outs)
fails("--objective must be 'outputs' or 'inputs', got 'floats'", *base, "--objective", "floats", outputs=outs)
fails("--group-size must be in", *base, "--group-size", 0, outputs=outs)
fails("dynamic groups refit each column", *base, "--group-size", 8, "--step-rule", "layer", "--scale", 1,
      outputs=outs)
print("ok")
