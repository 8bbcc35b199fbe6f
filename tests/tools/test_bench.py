"""pathq bench: the table of seconds and ratios to one GEMM, its rows, and its bad options."""
import re

from cli_support import fails, ok

out = ok("bench", "--size", 128, "--repeats", 1, "--threads", 2)
lines = out.strip().splitlines()
assert lines[0].startswith("pathq bench: N_in = N_out = 128, m = 256 samples, 2 thread(s), best of 1"), lines[0]
assert lines[1].split() == ["precision", "what", "seconds", "reference", "ratio"], lines[1]

rows = {}
for line in lines[2:-1]:
    parts = line.split()
    assert len(parts) == 5, line
    precision, what, seconds, reference, ratio = parts[0], parts[1], *map(float, parts[2:])
    assert seconds > 0 and reference > 0, line
    # The ratio printed is seconds / reference (to the printed rounding).
    assert abs(ratio - seconds / reference) <= 0.01 + 1e-3 * ratio, line
    rows[(precision, what)] = (seconds, reference, ratio)

expected = {("double", "gemm_xtx"), ("double", "statistics")}
for precision in ("float", "double"):
    expected |= {(precision, w) for w in ("gemm", "gpfq", "optq", "spfq")}
assert set(rows) == expected, sorted(rows)
for precision in ("float", "double"):
    assert rows[(precision, "gemm")][2] == 1.0
    gemm = rows[(precision, "gemm")][0]
    # The reference is a GEMM of the method's multiply-add count: N^3, or 4 N^3 / 3 for OPTQ.
    for w, madds in (("gpfq", 1.0), ("optq", 4.0 / 3.0), ("spfq", 1.0)):
        assert abs(rows[(precision, w)][1] - madds * gemm) <= 1e-5 * madds * gemm + 1e-9, (precision, w)
assert rows[("double", "statistics")][1] == rows[("double", "gemm_xtx")][0]

m = re.match(r"threads\s+gpfq float\s+1 thread (\S+) s, 2 threads (\S+) s, speed-up (\S+), codes identical: yes$",
             lines[-1])
assert m, lines[-1]
t1, t2, speedup = map(float, m.groups())
assert t1 > 0 and t2 > 0 and abs(speedup - t1 / t2) <= 0.01 + 1e-3 * speedup, lines[-1]

fails("--size must be in [8, 16384], got 2", "bench", "--size", 2)
fails("unknown option --frobnicate", "bench", "--frobnicate", 1)
help_text = ok("bench", "--help")
assert "usage: pathq bench" in help_text
print("ok")
