"""pathq layer AXE flags: an independent NumPy transcription of accumulator-aware GPFQ, the
accumulator report recomputed from the codes, the overflow an unconstrained run risks, bad flags."""
from cli_support import fails, np, ok, path, report, save

LIMITS = {}


def datapath(P, N, signed):
    xmin = -(2 ** (N - 1)) if signed else 0
    xmax = 2 ** (N - 1) - 1 if signed else 2 ** N - 1
    return 2 ** (P - 1) - 1, xmin, xmax


def l1_threshold(a, z):
    """Duchi et al. (2008): theta with sum(max(a - theta, 0)) = z, or 0 inside the ball."""
    if a.sum() <= z:
        return 0.0
    u = np.sort(a)[::-1]
    css = np.cumsum(u)
    rho = np.nonzero(u * np.arange(1, len(u) + 1) > css - z)[0][-1]
    return (css[rho] - z) / (rho + 1)


def axe_gpfq_numpy(W, X, Xq, step, K, P, N, signed, T):
    """GPFQ (docs/algorithms.md#gpfq-per-neuron-loop) with the AXE step
    (docs/algorithms.md#axe-constrained-step), one neuron at a time."""
    n_in, n_out = W.shape
    T = T or n_in
    tiles = -(-n_in // T)
    M, xmin, xmax = datapath(P, N, signed)
    Z = (2.0 ** P - 2) / (xmax - xmin)
    codes = np.zeros((n_in, n_out), dtype=np.int64)
    margin = np.inf
    for j in range(n_out):
        theta = np.zeros(tiles)
        for k in range(tiles):
            v = np.zeros(T)
            seg = W[k * T:(k + 1) * T, j] / step
            v[:len(seg)] = seg
            theta[k] = l1_threshold(np.abs(v - v.mean()), Z)
        p = np.zeros(tiles)
        n = np.zeros(tiles)
        u = np.zeros(X.shape[0])
        for t in range(n_in):
            k = t // T
            c = Xq[:, t] @ (u + W[t, j] * X[:, t]) / (Xq[:, t] @ Xq[:, t])
            a = c / step
            a = np.sign(a) * max(abs(a) - theta[k], 0.0)
            up = (M - xmax * p[k] - xmin * n[k]) / xmax
            lo = (-M - xmax * n[k] - xmin * p[k]) / xmax
            if xmin < 0:
                up = min(up, (-M - xmin * p[k] - xmax * n[k]) / xmin)
                lo = max(lo, (M - xmax * p[k] - xmin * n[k]) / xmin)
            a_max, a_min = max(up - 0.5, 0.0), min(lo + 0.5, 0.0)
            if abs(a) < K + 0.5:
                margin = min(margin, abs(a - np.floor(a) - 0.5))
            if a > a_max:
                q = np.floor(a_max + 0.5)
            elif a < a_min:
                q = -np.floor(-a_min + 0.5)  # the tie at an integer Lo goes to Lo itself
            else:
                q = np.floor(a + 0.5)
            q = int(min(K, max(-K, q)))
            if q > 0:
                p[k] += q
            else:
                n[k] += q
            u = u + W[t, j] * X[:, t] - q * step * Xq[:, t]
            codes[t, j] = q
    return codes, margin


def worst_case_numpy(codes, P, N, signed, T):
    """Per neuron: the largest |tile sum| over all inputs in range, from positive/negative code sums."""
    M, xmin, xmax = datapath(P, N, signed)
    n_in = codes.shape[0]
    T = T or n_in
    worst = np.zeros(codes.shape[1], dtype=np.int64)
    outer = np.zeros(codes.shape[1], dtype=np.int64)
    for j in range(codes.shape[1]):
        for k in range(0, n_in, T):
            q = codes[k:k + T, j].astype(np.int64)
            p, n = q[q > 0].sum(), q[q < 0].sum()
            worst[j] = max(worst[j], xmax * p + xmin * n, -(xmin * p + xmax * n))
        q = codes[:, j].astype(np.int64)
        p, n = q[q > 0].sum(), q[q < 0].sum()
        outer[j] = max(xmax * p + xmin * n, -(xmin * p + xmax * n))
    return worst, outer, M


def adversarial_partial_sums_fit(codes, P, N, signed, T):
    """x = x_max where q > 0, x_min elsewhere (and the reverse): every partial sum within ±M."""
    M, xmin, xmax = datapath(P, N, signed)
    n_in = codes.shape[0]
    T = T or n_in
    for j in range(codes.shape[1]):
        q = codes[:, j].astype(np.int64)
        for x in (np.where(q > 0, xmax, xmin), np.where(q > 0, xmin, xmax)):
            for k in range(0, n_in, T):
                partial = np.cumsum(x[k:k + T] * q[k:k + T])
                if np.abs(partial).max() > M:
                    return False
    return True


def bits_for(v):
    b = 1
    while 2 ** (b - 1) - 1 < v:
        b += 1
    return b


rng = np.random.default_rng(20260417)
K, step = 7, 0.35
cases = [(64, 5, 40, 10, 4, False, 0), (60, 4, 40, 8, 4, False, 16), (50, 4, 30, 9, 3, True, 0),
         (48, 3, 30, 7, 3, True, 12)]
for n_in, n_out, m, P, N, signed, T in cases:
    for attempt in range(50):
        W = 0.8 * rng.standard_normal((n_in, n_out))
        X = np.abs(rng.standard_normal((m, n_in)))
        Xq = X + 0.1 * rng.standard_normal((m, n_in))
        ref, margin = axe_gpfq_numpy(W, X, Xq, step, K, P, N, signed, T)
        if margin > 1e-8:
            break
    else:
        raise AssertionError("no tie-free layer found")
    common = ["layer", "--method", "gpfq", "--precision", "double", "--weights", save("W.npy", W),
              "--inputs", save("X.npy", X), "--quantized-inputs", save("Xq.npy", Xq),
              "--levels", K, "--step", step, "--block", 16]
    axe = ["--accumulator-bits", P, "--input-bits", N] + (["--input-signed"] if signed else []) + \
          (["--tile", T] if T else [])
    ok(*common, *axe, "--out", path("Q.npy"), "--codes", path("codes.npy"), "--report", path("r.json"))
    codes = np.load(path("codes.npy"))
    what = f"{n_in}x{n_out} P={P} N={N} signed={signed} T={T}"
    assert np.array_equal(codes, ref), f"AXE-GPFQ differs from the NumPy loop at {what}"
    assert np.array_equal(np.load(path("Q.npy")), codes * step)
    r = report(path("r.json"))
    acc = r["accumulator"]
    worst, outer, M = worst_case_numpy(codes, P, N, signed, T)
    assert acc["constrained"] is True
    assert acc["accumulator_bits"] == P and acc["input_bits"] == N and acc["input_signed"] == signed
    assert acc["input_range"] == list(datapath(P, N, signed)[1:])
    assert acc["limit"] == M
    assert acc["tile"] == (T or n_in) and acc["tiles"] == -(-n_in // (T or n_in))
    assert acc["worst_case"] == worst.tolist(), what
    assert acc["worst_case_max"] == worst.max() <= M
    assert acc["fits"] is True and acc["overflow_risk"] is False and acc["neurons_over"] == 0
    assert acc["bits_needed"] == bits_for(worst.max()) <= P
    assert acc["outer_worst_case"] == outer.tolist()
    assert acc["outer_bits_needed"] == bits_for(outer.max()) <= acc["outer_accumulator_bits"]
    assert acc["l1_norm_max"] == np.abs(codes).sum(axis=0).max()
    assert adversarial_partial_sums_fit(codes, P, N, signed, T)
    assert r["bound"]["applicable"] is False and "accumulator" in r["bound"]["note"]
    E = np.linalg.norm(X @ W - Xq @ (codes * step)) ** 2
    assert abs(r["relative_error"] - E / np.linalg.norm(X @ W) ** 2) <= 1e-9

    # The same layer without the constraint: the report flags the overflow it risks.
    ok(*common, *axe, "--unconstrained", "--out", path("Qu.npy"), "--codes", path("cu.npy"),
       "--report", path("ru.json"))
    cu = np.load(path("cu.npy"))
    ru = report(path("ru.json"))["accumulator"]
    worst_u, _, _ = worst_case_numpy(cu, P, N, signed, T)
    assert ru["constrained"] is False
    assert ru["worst_case"] == worst_u.tolist()
    assert ru["fits"] is False and ru["overflow_risk"] is True and ru["neurons_over"] > 0, what
    assert not adversarial_partial_sums_fit(cu, P, N, signed, T)
    # Without AXE flags the report has no accumulator field, and the codes are those of --unconstrained.
    ok(*common, "--out", path("Qp.npy"), "--codes", path("cp.npy"), "--report", path("rp.json"))
    assert "accumulator" not in report(path("rp.json"))
    assert np.array_equal(np.load(path("cp.npy")), cu)

# Float precision, layer radius steps: still within the accumulator.
W = rng.standard_normal((200, 8)).astype(np.float32)
X = np.abs(rng.standard_normal((100, 200))).astype(np.float32)
ok("layer", "--method", "gpfq", "--weights", save("W32.npy", W), "--inputs", save("X32.npy", X), "--bits", 4,
   "--accumulator-bits", 14, "--input-bits", 8, "--tile", 64, "--out", path("Q32.npy"), "--codes", path("c32.npy"),
   "--report", path("r32.json"))
acc = report(path("r32.json"))["accumulator"]
c32 = np.load(path("c32.npy"))
worst, _, M = worst_case_numpy(c32, 14, 8, False, 64)
assert acc["fits"] and acc["worst_case"] == worst.tolist() and worst.max() <= M
assert acc["tiles"] == 4 and acc["outer_accumulator_bits"] == 16

# OPTQ takes the same flags.
ok("layer", "--method", "optq", "--weights", save("W32.npy", W), "--inputs", save("X32.npy", X), "--bits", 4,
   "--accumulator-bits", 14, "--input-bits", 8, "--out", path("Qo.npy"), "--codes", path("co.npy"),
   "--report", path("ro.json"))
acc = report(path("ro.json"))["accumulator"]
worst, _, M = worst_case_numpy(np.load(path("co.npy")), 14, 8, False, 0)
assert acc["constrained"] and acc["fits"] and acc["worst_case"] == worst.tolist() and worst.max() <= M
ok("layer", "--method", "optq", "--weights", save("W32.npy", W), "--inputs", save("X32.npy", X), "--bits", 4,
   "--accumulator-bits", 14, "--input-bits", 8, "--unconstrained", "--out", path("Qo.npy"), "--report", path("ro.json"))
assert report(path("ro.json"))["accumulator"]["fits"] is False

# Bad flags: one line, nothing written.
base = ["layer", "--method", "gpfq", "--weights", save("W.npy", W), "--inputs", save("X.npy", X), "--bits", 4,
        "--out", path("bad.npy")]
outs = [path("bad.npy")]
fails("--input-bits goes with --accumulator-bits", *base, "--input-bits", 8, outputs=outs)
fails("--tile goes with --accumulator-bits", *base, "--tile", 8, outputs=outs)
fails("--input-signed goes with --accumulator-bits", *base, "--input-signed", outputs=outs)
fails("--unconstrained goes with --accumulator-bits", *base, "--unconstrained", outputs=outs)
fails("--accumulator-bits needs --input-bits", *base, "--accumulator-bits", 16, outputs=outs)
fails("--accumulator-bits must be in [2, 62], got 1", *base, "--accumulator-bits", 1, "--input-bits", 8, outputs=outs)
fails("--accumulator-bits must be in [2, 62], got 64", *base, "--accumulator-bits", 64, "--input-bits", 8,
      outputs=outs)
fails("--input-bits must be in [2, 30], got 1", *base, "--accumulator-bits", 16, "--input-bits", 1,
      "--input-signed", outputs=outs)
fails("--input-bits must be in [1, 30], got 31", *base, "--accumulator-bits", 16, "--input-bits", 31, outputs=outs)
fails("--tile must be in [1,", *base, "--accumulator-bits", 16, "--input-bits", 8, "--tile", 0, outputs=outs)
fails("--accumulator-bits is not an option of --method msq", "layer", "--method", "msq", "--weights", path("W.npy"),
      "--accumulator-bits", 16, "--input-bits", 8, "--out", path("bad.npy"), outputs=outs)
fails("accumulator constraints need a symmetric grid with zero point 0", "layer", "--method", "optq", "--weights",
      path("W.npy"), "--inputs", path("X.npy"), "--grid", "asymmetric", "--accumulator-bits", 16, "--input-bits", 8,
      "--out", path("bad.npy"), outputs=outs)
print("ok")
