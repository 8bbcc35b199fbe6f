"""pathq layer --refine-passes / --refit-steps: the polished result against a NumPy coordinate
descent and least-squares refit, never a larger error, and the usage errors."""
from cli_support import fails, np, ok, path, report, save

rng = np.random.default_rng(17)
W = rng.standard_normal((24, 6))
X = rng.standard_normal((80, 24)) @ (np.eye(24) + 0.3 * rng.standard_normal((24, 24)))
w_path, x_path = save("W.npy", W), save("X.npy", X)
H = X.T @ X

base = ["layer", "--method", "gpfq", "--weights", w_path, "--inputs", x_path, "--bits", 3, "--precision", "double",
        "--scale-search", "none"]
ok(*base, "--out", path("Q0.npy"), "--codes", path("C0.npy"), "--report", path("r0.json"))
ok(*base, "--refine-passes", 50, "--out", path("Q1.npy"), "--codes", path("C1.npy"), "--report", path("r1.json"))
r0, r1 = report(path("r0.json")), report(path("r1.json"))
Q0, Q1 = np.load(path("Q0.npy")), np.load(path("Q1.npy"))
C1 = np.load(path("C1.npy"))
assert r1["relative_error"] < r0["relative_error"], (r0["relative_error"], r1["relative_error"])
assert r1["refine_changes"] > 0 and r1["refine_passes"] <= 50
assert r1["step"] == r0["step"]  # the grid is kept

# NumPy reference: from the method's codes, coordinate descent on each column's error
# (w - q)^T H (w - q), each weight moved to the grid level nearest its parabola's minimum.
step = np.asarray(r0["step"], dtype=float) * np.ones(6)
lo, hi = r0["code_range"]
C = np.load(path("C0.npy")).astype(float)
for j in range(6):
    for _ in range(50):
        changed = 0
        for t in range(24):
            q = C[:, j] * step[j]
            target = q[t] - (H[t] @ (q - W[:, j])) / H[t, t]
            c = np.clip(np.floor(target / step[j] + 0.5), lo, hi)  # the nearest level
            if abs(c * step[j] - target) < abs(C[t, j] * step[j] - target):
                C[t, j] = c
                changed += 1
        if not changed:
            break
assert np.array_equal(C, C1), (C, C1)
assert np.allclose(Q1, C1 * step)

# --refit-steps: each column's step is l^T H w / l^T H l for its levels l (where that lowers
# the error); with both, the error is below either alone.
ok(*base, "--refit-steps", "--out", path("Q2.npy"), "--codes", path("C2.npy"), "--report", path("r2.json"))
r2 = report(path("r2.json"))
C2 = np.load(path("C2.npy")).astype(float)
s2 = np.asarray(r2["step"], dtype=float)
for j in range(6):
    ls = C2[:, j] @ H @ W[:, j] / (C2[:, j] @ H @ C2[:, j])
    assert abs(s2[j] - ls) <= 1e-9 * ls or s2[j] == step[j], (j, s2[j], ls)
assert r2["relative_error"] <= r0["relative_error"]
assert np.array_equal(C2, np.load(path("C0.npy")))
# Both: refine, refit, refine; neither step raises the error, so the result is no worse than
# refining alone for as many sweeps.
ok(*base, "--refine-passes", 8, "--out", path("Q4.npy"), "--report", path("r4.json"))
ok(*base, "--refit-steps", "--refine-passes", 8, "--out", path("Q3.npy"), "--report", path("r3.json"))
r3, r4 = report(path("r3.json")), report(path("r4.json"))
assert r3["relative_error"] <= r4["relative_error"] * (1 + 1e-12), (r3["relative_error"], r4["relative_error"])
assert r3["refit_columns"] >= 0 and 0 < r3["refit_error_ratio"] <= 1

# Usage errors, before any file is written.
Q = path("Qbad.npy")
fails("--refine-passes must be in [1, 1000], got 0", *base, "--refine-passes", 0, "--out", Q, outputs=[Q])
fails("--refine-passes and --refit-steps apply to --method msq, gpfq, spfq and optq, not sigma-delta",
      "layer", "--method", "sigma-delta", "--weights", w_path, "--frame-size", 32, "--bits", 2, "--refit-steps",
      "--out", Q, outputs=[Q])
fails("--refine-passes and --refit-steps ignore the accumulator constraint", *base, "--refine-passes", 2,
      "--accumulator-bits", 16, "--input-bits", 8, "--out", Q, outputs=[Q])
fails("--refine-passes and --refit-steps need --inputs X.npy", "layer", "--method", "msq", "--weights", w_path,
      "--bits", 3, "--refine-passes", 2, "--out", Q, outputs=[Q])
print("ok")
