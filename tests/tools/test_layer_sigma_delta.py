"""pathq layer --method sigma-delta against an independent NumPy transcription of frame Sigma-Delta."""
import math

from cli_support import fails, np, ok, path, report, save


def harmonic_frame(n, p):
    """docs/algorithms.md#frame-sigma-delta-frames: column k - 1 is e_k, k = 1..p."""
    k = np.arange(1, p + 1)
    rows = []
    if n % 2 == 1:
        rows.append(np.full(p, 1 / math.sqrt(n)))
    for j in range(1, n // 2 + 1):
        rows.append(math.sqrt(2 / n) * np.cos(2 * math.pi * j * k / p))
        rows.append(math.sqrt(2 / n) * np.sin(2 * math.pi * j * k / p))
    return np.array(rows)


def sigma_delta_numpy(V, p, L, steps):
    """Each column x of V: c = F^T x; u = 0; v = u + c_k; code = clip(floor(v/step), -L, L-1);
    u = v - (code + 1/2) step; x_q = (n/p) F q. Returns codes (p x count), V_q and min tie distance."""
    n, count = V.shape
    F = harmonic_frame(n, p)
    codes = np.zeros((p, count), dtype=np.int64)
    closest = np.inf
    for j in range(count):
        c = F.T @ V[:, j]
        u = 0.0
        for k in range(p):
            v = u + c[k]
            closest = min(closest, abs(v / steps[j] - round(v / steps[j])))
            codes[k, j] = min(max(math.floor(v / steps[j]), -L), L - 1)
            u = v - (codes[k, j] + 0.5) * steps[j]
    Q = (codes + 0.5) * steps[None, :]
    return codes, (n / p) * F @ Q, closest


def variation(n, p):
    F = harmonic_frame(n, p)
    return np.linalg.norm(np.diff(F, axis=1), axis=0).sum()


rng = np.random.default_rng(20261124)
cases = [  # (N_in, N_out, p, level flags, L, step flags, rows)
    (9, 5, 40, ["--levels", 1], 1, [], False),
    (13, 7, 64, ["--levels", 3], 3, ["--scale", 2], False),
    (11, 4, 30, ["--bits", 3], 4, ["--scale", 1, "--step-rule", "column"], False),
    (6, 9, 50, ["--levels", 2], 2, ["--step", 4.0], True),
    (8, 5, 12, [], 1, [], True),
]
for n_in, n_out, p, level_flags, L, step_flags, rows in cases:
    while True:
        W = rng.standard_normal((n_in, n_out))
        V = W.T if rows else W
        norms = np.linalg.norm(V, axis=0)
        if "--step" in step_flags:
            steps = np.full(V.shape[1], float(step_flags[1]))
        else:
            C = float(step_flags[1]) if "--scale" in step_flags else 1.0
            per_vector = "column" in step_flags
            steps = C * (norms if per_vector else np.full(V.shape[1], norms.max())) / (L - 0.5)
        codes, Vq, closest = sigma_delta_numpy(V, p, L, steps)
        if closest > 1e-9:
            break
    args = ["layer", "--method", "sigma-delta", "--precision", "double", "--weights", save("W.npy", W),
            "--frame-size", p, *level_flags, *step_flags, "--out", path("Q.npy"), "--codes", path("codes.npy"),
            "--report", path("r.json")]
    if rows:
        args.append("--rows")
    ok(*args)
    Q = np.load(path("Q.npy"))
    got = np.load(path("codes.npy"))
    Wq = Vq.T if rows else Vq
    assert Q.shape == W.shape and Q.dtype == np.float64
    assert got.dtype == np.int32 and got.shape == (p, V.shape[1]), got.shape
    assert np.array_equal(got, codes), f"codes differ from the NumPy loop at {n_in}x{n_out}, p = {p}"
    assert np.allclose(Q, Wq, rtol=0, atol=1e-12 * (1 + np.abs(Wq).max()))
    r = report(path("r.json"))
    n = V.shape[0]
    assert r["method"] == "sigma-delta" and r["shape"] == [n_in, n_out]
    assert r["grid"] == "midrise" and r["levels"] == 2 * L and r["code_range"] == [-L, L - 1]
    assert r["frame"] == "harmonic" and r["frame_size"] == p and r["frame_dimension"] == n
    assert r["axis"] == ("rows" if rows else "columns") and r["codes_shape"] == [p, V.shape[1]]
    assert abs(r["bits_per_weight"] - p * math.log2(2 * L) / n) < 1e-12
    step = r["step"] if isinstance(r["step"], list) else [r["step"]] * V.shape[1]
    assert np.allclose(step, steps, rtol=1e-14, atol=0)
    sigma = variation(n, p)
    assert abs(r["frame_variation"] - sigma) < 1e-9 * sigma
    bounds = steps * n / (2 * p) * (sigma + 1)
    errors = np.linalg.norm(V - Vq, axis=0)
    assert r["stable"] is True and r["status"] == "success" and r["vector_bound_holds"] is True
    assert abs(r["max_vector_bound"] - bounds.max()) < 1e-9 * bounds.max()
    assert abs(r["max_vector_error"] - errors.max()) < 1e-9 * (1 + errors.max())
    assert np.all(errors <= bounds)
    assert abs(r["weight_error"] - np.linalg.norm(W - Q)) < 1e-9 * (1 + np.linalg.norm(W - Q))
    assert r["weight_error"] <= r["weight_bound"]
    assert abs(r["weight_relative_error"] - np.sum((W - Q) ** 2) / np.sum(W ** 2)) < 1e-9
    assert r["relative_error"] is None and r["bound"] is None

# With inputs: the layer error and the data bound ||X||_2^2 ||W - W_q||_F^2.
W = rng.standard_normal((15, 6))
X = rng.standard_normal((40, 15))
ok("layer", "--method", "sigma-delta", "--precision", "double", "--weights", save("W.npy", W),
   "--inputs", save("X.npy", X), "--frame-size", 120, "--levels", 2, "--out", path("Q.npy"), "--report", path("r.json"))
r = report(path("r.json"))
Q = np.load(path("Q.npy"))
E = np.linalg.norm(X @ W - X @ Q) ** 2
assert abs(r["error"] - E) <= 1e-9 * E and abs(r["relative_error"] - E / np.linalg.norm(X @ W) ** 2) < 1e-9
assert r["bound"]["name"] == "sigma_delta_data" and r["bound"]["applicable"] and r["bound"]["holds"]
lam = np.linalg.eigvalsh(X.T @ X).max()
assert lam * r["weight_bound"] ** 2 <= r["bound"]["error"] * (1 + 1e-12)
assert r["bound"]["error"] <= 2 * lam * r["weight_bound"] ** 2

# Float: the same layer, codes agree with double away from ties.
ok("layer", "--method", "sigma-delta", "--weights", save("W32.npy", W.astype(np.float32)), "--frame-size", 120,
   "--levels", 2, "--out", path("Q32.npy"), "--codes", path("c32.npy"), "--report", path("r32.json"))
assert np.load(path("Q32.npy")).dtype == np.float32
r32 = report(path("r32.json"))
assert r32["precision"] == "float" and r32["stable"] is True and r32["vector_bound_holds"] is True

# A step below the stable one: the state grows, the report says so, the bound does not apply.
ok("layer", "--method", "sigma-delta", "--weights", save("W.npy", W), "--inputs", save("X.npy", X),
   "--frame-size", 200, "--levels", 1, "--scale", 0.25, "--out", path("Q.npy"), "--report", path("r.json"))
r = report(path("r.json"))
assert r["status"] == "numerical_issue" and "bound does not apply" in r["message"]
assert r["stable"] is False and r["max_state_over_step"] > 0.5 and r["bound"]["applicable"] is False

# Bad input: one line, nothing written.
w = save("W.npy", W)
out = path("Qbad.npy")
fails("needs --frame-size", "layer", "--method", "sigma-delta", "--weights", w, "--out", out, outputs=[out])
fails("--frame-size must be > n = 15", "layer", "--method", "sigma-delta", "--weights", w, "--frame-size", 15,
      "--out", out, outputs=[out])
fails("N_out, with --rows), got 6", "layer", "--method", "sigma-delta", "--weights", w, "--frame-size", 6, "--rows",
      "--out", out, outputs=[out])
fails("--levels must be in [1,", "layer", "--method", "sigma-delta", "--weights", w, "--frame-size", 40,
      "--levels", 0, "--out", out, outputs=[out])
fails("--frame-size expects an integer", "layer", "--method", "sigma-delta", "--weights", w, "--frame-size", "many",
      "--out", out, outputs=[out])
fails("--rows is not an option of --method msq", "layer", "--method", "msq", "--weights", w, "--rows",
      "--out", out, outputs=[out])
fails("--step-rule goes with --scale", "layer", "--method", "sigma-delta", "--weights", w, "--frame-size", 40,
      "--step-rule", "column", "--out", out, outputs=[out])
print("ok")
