"""pathq layer --method maly-saab against an independent NumPy transcription of the null-space walk."""
import numpy as np

from cli_support import fails, ok, path, report, save

INF = float("inf")


def walk_numpy(W, X, K, step, box=False, rank_tol=1e-9, face_tol=1e-12):
    """docs/algorithms.md#maly-saab-walk on X itself, in code units of the grid {k*step : |k| <= K}:
    J = the shortest run of lowest-index free weights whose columns of X are dependent (SVD),
    z = its null vector with z_c = 1 for the last weight c, c sent toward its nearer level (up on a
    tie), the largest step that keeps every weight in its cell, every weight that reaches its face
    fixed; then round to nearest (ties up)."""
    n, n_out = W.shape
    scale = np.linalg.norm(X, axis=0).max()
    U = np.zeros_like(W)
    off = []
    for j in range(n_out):
        u = W[:, j] / step
        lo, hi = np.zeros(n), np.zeros(n)
        lo_level, hi_level, fixed = np.ones(n, bool), np.ones(n, bool), np.zeros(n, bool)
        for i in range(n):
            k = np.floor(u[i] + 0.5)
            near = -K <= k <= K and abs(u[i] - k) <= face_tol * max(1.0, abs(k))
            if near and (not box or abs(k) == K):
                u[i], fixed[i] = k, True
            elif u[i] > K:
                lo[i], hi[i], hi_level[i] = (-K if box else K), u[i], False
            elif u[i] < -K:
                lo[i], hi[i], lo_level[i] = u[i], (K if box else -K), False
            elif box:
                lo[i], hi[i] = -K, K
            else:
                lo[i] = np.floor(u[i])
                hi[i] = lo[i] + 1
        while True:
            free = np.flatnonzero(~fixed)
            J = None
            for k in range(1, len(free) + 1):
                if k > X.shape[0] or np.linalg.svd(X[:, free[:k]], compute_uv=False)[-1] <= rank_tol * scale:
                    J = free[:k]
                    break
            if J is None:
                break
            z = np.linalg.svd(X[:, J])[2][-1]
            z = z / z[-1]
            c = J[-1]
            down = u[c] - lo[c] if lo_level[c] else INF
            up = hi[c] - u[c] if hi_level[c] else INF
            if up > down:
                z = -z
            room = np.full(len(J), INF)
            for a, i in enumerate(J):
                if z[a] > 0:
                    room[a] = max(0.0, (hi[i] - u[i]) / z[a])
                elif z[a] < 0:
                    room[a] = max(0.0, (lo[i] - u[i]) / z[a])
            blocking = int(np.argmin(room))
            u[J] += room[blocking] * z
            for a, i in enumerate(J):
                if z[a] == 0:
                    continue
                face = hi[i] if z[a] > 0 else lo[i]
                if a == blocking or abs(u[i] - face) <= face_tol * max(1.0, abs(face)):
                    u[i], fixed[i] = face, True
        U[:, j] = u
        on = np.abs(u - np.floor(u + 0.5)) <= face_tol * np.maximum(1.0, np.abs(np.floor(u + 0.5)))
        on &= np.abs(np.floor(u + 0.5)) <= K
        off.append(np.flatnonzero(~on))
    codes = np.clip(np.floor(U + 0.5), -K, K)
    return U, codes, off


def margin(U, off):
    m = INF
    for j, S in enumerate(off):
        for i in S:
            m = min(m, abs(U[i, j] - np.floor(U[i, j]) - 0.5))
    return m


def bound_numpy(X, off, step):
    Kmat = X.T @ X
    total = 0.0
    for S in off:
        if len(S):
            total += np.linalg.eigvalsh(Kmat[np.ix_(S, S)]).max() * len(S) * step * step / 4
    return total


def layer(rng, n_in, n_out, m, K, step, box, rows=None):
    while True:
        W = 0.5 * rng.standard_normal((n_in, n_out))
        X = rng.standard_normal((m, n_in))
        U, codes, off = walk_numpy(W, X[:rows] if rows else X, K, step, box)
        if margin(U, off) > 1e-7:
            return W, X, U, codes, off


def run(W, X, K, step, *extra):
    ok("layer", "--method", "maly-saab", "--precision", "double", "--weights", save("W.npy", W),
       "--inputs", save("X.npy", X), "--levels", K, "--step", step, "--out", path("Q.npy"),
       "--codes", path("codes.npy"), "--report", path("r.json"), *extra)
    return np.load(path("Q.npy")), np.load(path("codes.npy")), report(path("r.json"))


rng = np.random.default_rng(20261124)

# The walk on all samples, grid and box cells.
for n_in, n_out, m, K, step, box in [(40, 3, 8, 3, 0.3, False), (60, 2, 12, 2, 0.4, True), (30, 4, 5, 7, 0.1, False)]:
    W, X, U, codes_ref, off = layer(rng, n_in, n_out, m, K, step, box)
    args = ["--cells", "box"] if box else []
    Q, codes, r = run(W, X, K, step, *args)
    assert Q.shape == W.shape and Q.dtype == np.float64 and codes.dtype == np.int32
    assert np.array_equal(codes, codes_ref), f"maly-saab differs from the NumPy walk at {n_in}x{n_out}, m={m}"
    assert np.array_equal(codes * step, Q)
    assert r["method"] == "maly-saab" and r["status"] == "success"
    assert r["cells"] == ("box" if box else "grid") and r["feature_order"] == "natural"
    assert r["rank"] == m and r["null_space"] == n_in - m and r["walk_samples"] == m
    assert r["off_grid"] == sum(len(s) for s in off)
    assert r["off_grid_max"] == max(len(s) for s in off)
    E = np.linalg.norm(X @ W - X @ Q) ** 2
    assert abs(r["relative_error"] - E / np.linalg.norm(X @ W) ** 2) <= 1e-9 * E / np.linalg.norm(X @ W) ** 2
    b = r["bound"]
    assert b["name"] == "maly_saab_deterministic"
    if r["saturated"] == 0:
        assert b["applicable"] and b["holds"]
        assert abs(b["error"] - bound_numpy(X, off, step)) <= 1e-9 * b["error"]
        assert r["off_grid_max"] <= m
    else:
        assert not b["applicable"]

# --act-order: the same walk on features sorted by decreasing ||X_t||^2.
W, X, _, _, _ = layer(rng, 36, 3, 7, 3, 0.3, False)
X = X * (0.3 + (np.arange(36) * 7 % 36) / 12.0)
perm = np.argsort(-(X * X).sum(axis=0), kind="stable")
U, codes_perm, off = walk_numpy(W[perm], X[:, perm], 3, 0.3)
assert margin(U, off) > 1e-7
_, codes, r = run(W, X, 3, 0.3, "--act-order")
assert r["feature_order"] == "descending_energy"
assert np.array_equal(codes[perm], codes_perm)

# --subset M: the walk on the first M rows of a layer with more samples than inputs.
W, X, U, codes_ref, off = layer(rng, 30, 3, 50, 3, 0.3, False, rows=6)
Q, codes, r = run(W, X, 3, 0.3, "--subset", 6)
assert np.array_equal(codes, codes_ref)
assert r["status"] == "success" and r["walk_samples"] == 6 and r["samples"] == 50 and r["rank"] == 6
s = r["subset"]
X6 = X[:6]
E6 = np.linalg.norm(X6 @ (W - Q)) ** 2
assert s["rows"] == 6 and abs(s["error"] - E6) <= 1e-9 * max(E6, 1e-30)
assert abs(s["bound"] - bound_numpy(X6, off, 0.3)) <= 1e-9 * s["bound"]
assert s["holds"] and (s["applicable"] == (r["saturated"] == 0))
assert not r["bound"]["applicable"] and "first 6 rows" in r["bound"]["note"]
assert np.linalg.norm(X6 @ W) > 0

# No null space (m >= N_in): plain MSQ, and the report says so.
W = 0.5 * rng.standard_normal((25, 3))
X = rng.standard_normal((40, 25))
Q, codes, r = run(W, X, 3, 0.3)
assert r["status"] == "numerical_issue" and "no null space" in r["message"] and r["msq_fallback"] == 1
assert r["moves"] == 0 and r["off_grid"] == 25 * 3  # nothing moved: every weight is still off the grid
assert np.array_equal(codes, np.clip(np.floor(W / 0.3 + 0.5), -3, 3))

# Bad input: one line on stderr, nothing written.
outs = [path("Q.npy"), path("r.json")]
base = ["layer", "--method", "maly-saab", "--weights", save("W.npy", W), "--out", path("Q.npy"), "--report", path("r.json")]
fails("--method maly-saab needs --inputs X.npy", *base, outputs=outs)
xin = ["--inputs", save("X.npy", X)]
fails("--subset must be in [1,", *base, *xin, "--subset", 0, outputs=outs)
fails("--subset 41 exceeds the 40 rows of --inputs", *base, *xin, "--subset", 41, outputs=outs)
fails("--subset expects an integer, got 'many'", *base, *xin, "--subset", "many", outputs=outs)
fails("--cells must be 'grid' or 'box', got 'ball'", *base, *xin, "--cells", "ball", outputs=outs)
fails("--block is not an option of --method maly-saab", *base, *xin, "--block", 8, outputs=outs)
fails("--threads must be in [0,", *base, *xin, "--threads", -1, outputs=outs)
print("ok")
