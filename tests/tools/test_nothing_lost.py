"""Nothing lost: outputs are written to a temporary file and renamed into place, an output may not
overwrite an input (however it is spelled), and a failed run leaves every output as it was and no
temporary file behind. (test_layer_errors.py checks that each bad input writes nothing.)"""
import os

from cli_support import TMP, np, ok, path, fails, run, save

rng = np.random.default_rng(5)
W = save("W.npy", rng.standard_normal((16, 4)))
X = save("X.npy", rng.standard_normal((50, 16)))
Wnan = rng.standard_normal((16, 4))
Wnan[3, 2] = np.nan
Wnan = save("Wnan.npy", Wnan)
inputs = {p: open(p, "rb").read() for p in (W, X)}


def leftovers():
    return [f for f in os.listdir(TMP) if "pathq-tmp" in f]


def unchanged_inputs():
    for p, data in inputs.items():
        assert open(p, "rb").read() == data, f"input {p} was modified"


Q, C, R = path("Q.npy"), path("C.npy"), path("r.json")
job = ["layer", "--method", "gpfq", "--weights", W, "--inputs", X]

# 1. Replacing an output is a rename: a hard link to the old file still sees the old bytes (an
#    in-place rewrite would change them), and the new file is complete.
old = b"previous contents"
for p in (Q, C, R):
    with open(p, "wb") as f:
        f.write(old)
    os.link(p, p + ".old")
ok(*job, "--out", Q, "--codes", C, "--report", R)
for p in (Q, C, R):
    assert open(p + ".old", "rb").read() == old, f"{p} was rewritten in place, not replaced by a rename"
    assert os.stat(p).st_ino != os.stat(p + ".old").st_ino
    os.remove(p + ".old")
assert np.load(Q).shape == (16, 4) and np.load(C).shape == (16, 4)
assert not leftovers(), leftovers()

# 2. A failed run leaves the previous outputs exactly as they were, and no temporary file.
before = {p: open(p, "rb").read() for p in (Q, C, R)}
fails("W has a non-finite entry", "layer", "--method", "gpfq", "--weights", Wnan, "--inputs", X,
      "--out", Q, "--codes", C, "--report", R)
fails("--bits must be in [2, 24]", *job, "--bits", 40, "--out", Q, "--codes", C, "--report", R)
for p, data in before.items():
    assert open(p, "rb").read() == data, f"a failed run changed {p}"

# 3. All outputs or none: when one output cannot be written (its directory is missing), the
#    others are not written either.
Q2 = path("Q2.npy")
fails("cannot", *job, "--out", Q2, "--report", os.path.join(TMP, "missing", "r.json"), outputs=[Q2])
assert not leftovers(), leftovers()
#    ... nor when the directory is not writable (skipped when running as root, who may write anyway).
ro = path("readonly")
os.mkdir(ro)
os.chmod(ro, 0o555)
if not os.access(ro, os.W_OK):
    fails("cannot", *job, "--out", Q2, "--codes", os.path.join(ro, "C.npy"), outputs=[Q2])
os.chmod(ro, 0o755)

# 4. An output may not overwrite an input, whatever the spelling: the same path, a path through
#    '..', a symbolic link to the input, or the quantized inputs.
link = path("link-to-X.npy")
os.symlink(X, link)
Xq = save("Xq.npy", np.load(X) * 0.5)
inputs[Xq] = open(Xq, "rb").read()
spellings = [
    ("--out", W),
    ("--codes", X),
    ("--report", os.path.join(TMP, "sub", "..", "W.npy")),
    ("--out", link),
    ("--codes", Xq),
]
os.mkdir(path("sub"))
for flag, target in spellings:
    args = {"--out": Q, "--codes": C, "--report": R}
    args[flag] = target
    flat = [x for kv in args.items() for x in kv]
    status, _, err = run(*job, "--quantized-inputs", Xq, *flat)
    assert status != 0 and "would overwrite an input" in err, (flag, target, status, err)
    unchanged_inputs()
assert not leftovers(), leftovers()
print("ok")
