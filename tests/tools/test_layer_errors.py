"""pathq layer: every bad input exits non-zero with one line naming the problem and writes nothing."""
import os

from cli_support import TMP, np, ok, path, fails, save

rng = np.random.default_rng(7)
W = save("W.npy", rng.standard_normal((8, 3)))
X = save("X.npy", rng.standard_normal((20, 8)))
X7 = save("X7.npy", rng.standard_normal((20, 7)))
Xq19 = save("Xq19.npy", rng.standard_normal((19, 8)))
Wnan = rng.standard_normal((8, 3))
Wnan[2, 1] = np.nan
Wnan = save("Wnan.npy", Wnan)
Xinf = rng.standard_normal((20, 8))
Xinf[0, 0] = np.inf
Xinf = save("Xinf.npy", Xinf)
Wempty = save("Wempty.npy", np.zeros((8, 0)))
Wstr = save("Wstr.npy", np.array([["a", "b"]]))
W3d = save("W3d.npy", np.zeros((2, 2, 2)))
with open(path("trunc.npy"), "wb") as f:
    f.write(open(W, "rb").read()[:200])
with open(path("garbage.npy"), "wb") as f:
    f.write(b"not an npy file at all")

Q = path("Q.npy")
out = ["--out", Q, "--report", path("r.json"), "--codes", path("c.npy")]
outs = [Q, path("r.json"), path("c.npy")]
base = ["layer", "--method", "gpfq", "--weights", W, "--inputs", X]

fails("X7.npy has 7 columns but --weights has 8 rows", "layer", "--method", "gpfq", "--weights", W, "--inputs", X7, *out, outputs=outs)
fails("is 19 x 8 but --inputs is 20 x 8", *base, "--quantized-inputs", Xq19, *out, outputs=outs)
fails("W has a non-finite entry", "layer", "--method", "msq", "--weights", Wnan, *out, outputs=outs)
fails("X has a non-finite entry", "layer", "--method", "gpfq", "--weights", W, "--inputs", Xinf, *out, outputs=outs)
fails("W is empty", "layer", "--method", "msq", "--weights", Wempty, *out, outputs=outs)
fails("truncated", "layer", "--method", "msq", "--weights", path("trunc.npy"), *out, outputs=outs)
fails("magic", "layer", "--method", "msq", "--weights", path("garbage.npy"), *out, outputs=outs)
fails("dtype", "layer", "--method", "msq", "--weights", Wstr, *out, outputs=outs)
fails("expected a 1-D or 2-D array, found shape (2, 2, 2)", "layer", "--method", "msq", "--weights", W3d, *out, outputs=outs)
fails("missing.npy", "layer", "--method", "msq", "--weights", path("missing.npy"), *out, outputs=outs)
fails("--bits must be in [2, 24], got 1", *base, "--bits", 1, *out, outputs=outs)
fails("--bits must be in [2, 24], got 30", *base, "--bits", 30, *out, outputs=outs)
fails("--levels must be in [1, 1073741823], got 0", *base, "--levels", 0, *out, outputs=outs)
fails("--step must be positive, got -0.5", *base, "--levels", 3, "--step", -0.5, *out, outputs=outs)
fails("--step expects a finite number, got 'nan'", *base, "--levels", 3, "--step", "nan", *out, outputs=outs)
fails("--scale must be positive", *base, "--scale", 0, *out, outputs=outs)
fails("give --levels or --bits, not both", *base, "--levels", 3, "--bits", 3, *out, outputs=outs)
fails("unknown --method 'nope'", "layer", "--method", "nope", "--weights", W, *out, outputs=outs)
fails("unknown option --frobnicate", *base, "--frobnicate", 1, *out, outputs=outs)
fails("--act-order is not an option of --method msq", "layer", "--method", "msq", "--weights", W, "--act-order", *out, outputs=outs)
fails("--method gpfq needs --inputs", "layer", "--method", "gpfq", "--weights", W, *out, outputs=outs)
fails("--out is required", *base)
fails("--precision must be 'float' or 'double'", *base, "--precision", "half", *out, outputs=outs)
fails("would overwrite an input", *base, "--out", X)
fails("name the same file", *base, "--out", Q, "--codes", Q, outputs=[Q])
fails("--block needs a value", *base, *out, "--block")
fails("unknown command 'frob'", "frob")
fails("cannot", "layer", "--method", "msq", "--weights", W, "--out", os.path.join(TMP, "no", "such", "dir", "Q.npy"))
# The inputs are untouched and a good run still works.
ok(*base, *out)
assert all(os.path.exists(o) for o in outs)
print("ok")
