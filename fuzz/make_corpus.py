"""Writes the seed corpora of the fuzz harnesses (fuzz/corpus/<reader>/): a few small valid files
per format, and a few of the ways they go wrong. Deterministic; run with Debian's python3:

    /usr/bin/python3 fuzz/make_corpus.py
"""
import gzip
import io
import json
import os
import struct
import zipfile

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(reader, name, data):
    d = os.path.join(ROOT, reader)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_bytes(a, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, a)
    else:
        np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


rng = np.random.default_rng(2024)

# .npy
put("npy", "f4_2x3.npy", npy_bytes(rng.standard_normal((2, 3)).astype("<f4")))
put("npy", "f8_3x2_fortran.npy", npy_bytes(np.asfortranarray(rng.standard_normal((3, 2)))))
put("npy", "i1_4.npy", npy_bytes(np.array([-128, -1, 0, 127], dtype="i1")))
put("npy", "u1_scalar.npy", npy_bytes(np.array(7, dtype="u1")))
put("npy", "i8_2x2.npy", npy_bytes(np.array([[1, -2], [3, 2**40]], dtype="<i8")))
put("npy", "i2_v2.npy", npy_bytes(np.array([[1, 2, 3]], dtype="<i2"), version=(2, 0)))
put("npy", "f8_0x3.npy", npy_bytes(np.zeros((0, 3))))
put("npy", "f8_2x2x2.npy", npy_bytes(np.zeros((2, 2, 2))))
put("npy", "big_endian.npy", npy_bytes(np.array([1.0, 2.0], dtype=">f8")))
put("npy", "truncated.npy", npy_bytes(rng.standard_normal((4, 4)))[:150])

# .npz
def npz_bytes(compressed, **arrays):
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    return buf.getvalue()


put("npz", "stored.npz", npz_bytes(False, W=rng.standard_normal((3, 2)).astype("<f4"), b=np.arange(2, dtype="<i4")))
put("npz", "deflated.npz", npz_bytes(True, X=np.zeros((4, 3)), y=np.array([1, 2], dtype="u1")))
put("npz", "empty.npz", npz_bytes(False))
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:  # a member that is not .npy
    z.writestr(zipfile.ZipInfo("notes.txt", date_time=(1980, 1, 1, 0, 0, 0)), b"hello")
put("npz", "not_npy_member.npz", buf.getvalue())
put("npz", "truncated.npz", npz_bytes(True, W=np.ones((2, 2)))[:-30])


# safetensors
def safetensors_bytes(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


f32 = rng.standard_normal((2, 2)).astype("<f4")
put("safetensors", "f32_meta.safetensors",
    safetensors_bytes({"fc.weight": ("F32", [2, 2], f32.tobytes())}, {"format": "pt"}))
put("safetensors", "mixed.safetensors", safetensors_bytes({
    "a": ("F16", [3], np.array([1.0, -2.5, 65504.0], dtype="<f2").tobytes()),
    "b": ("BF16", [2], bytes([0x80, 0x3f, 0x00, 0xc0])),
    "c": ("I8", [2, 1], bytes([0x7f, 0x80])),
    "d": ("BOOL", [2], bytes([0, 1])),
    "e": ("F64", [], struct.pack("<d", 3.5)),
    "f": ("U16", [0, 4], b""),
}))
put("safetensors", "escapes.safetensors",
    safetensors_bytes({"na\u00efve \"q\"\n": ("I32", [1], struct.pack("<i", -5))}, {"k\u00e9y": "v\\al"}))
overlap = b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
put("safetensors", "overlap.safetensors", struct.pack("<Q", len(overlap)) + overlap + b"xy")
put("safetensors", "empty.safetensors", safetensors_bytes({}))


# IDX
def idx_bytes(type_byte, fmt, shape, values):
    head = bytes([0, 0, type_byte, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    return head + b"".join(struct.pack(">" + fmt, v) for v in values)


images = idx_bytes(0x08, "B", [3, 2, 2], list(range(0, 240, 20)))
put("idx", "images_u8.idx", images)
put("idx", "labels_i32.idx", idx_bytes(0x0C, "i", [4], [0, 9, -1, 5]))
put("idx", "f64_2x2.idx", idx_bytes(0x0E, "d", [2, 2], [0.5, -1.0, 1e300, 0.0]))
put("idx", "i16_2.idx", idx_bytes(0x0B, "h", [2], [-300, 300]))
put("idx", "images_u8.idx.gz", gzip.compress(images, mtime=0))
put("idx", "truncated.idx", images[:10])

# pathq layer argument lists, one argument per line
args = {
    "gpfq.txt": "layer --method gpfq --weights W.npy --inputs X.npy --bits 4 --out Q.npy --report r.json",
    "msq_levels.txt": "layer --method msq --weights W.npy --levels 3 --step 0.25 --out Q.npy --codes c.npy",
    "gpfq_scale.txt": "layer --method gpfq --weights W.npy --inputs X.npy --scale 1.5 --step-rule column "
                      "--precision double --threads 2 --block 3 --act-order --out Q.npy",
    "spfq.txt": "layer --method spfq --weights W.npy --inputs X.npy --order inf --gain 0.5 --seed 9 --out Q.npy",
    "optq.txt": "layer --method optq --weights W.npy --inputs X.npy --bits 3 --out Q.npy",
    "prune.txt": "layer --method prune --weights W.npy --inputs X.npy --out Q.npy",
    "sigma_delta.txt": "layer --method sigma-delta --weights W.npy --frame-size 48 --rows --out Q.npy",
    # Found by the sanitizer suite: the memory estimate read --frame-size through a dangling pointer.
    "regression_frame_size_dangling.txt": "layer --method sigma-delta --weights W.npy --frame-size 100000000000 "
                                          "--max-memory-mb 0 --out Q.npy",
    # Found by the fuzzer: a legitimate but slow job (a frame of 10^7 vectors) ran past libFuzzer's
    # 30 s timeout; the harness leaves frames beyond 2^16 vectors out.
    "regression_frame_size_slow.txt": "layer --method sigma-delta --weights W.npy --frame-size 10000000 --out Q.npy",
    "maly_saab.txt": "layer --method maly-saab --weights W.npy --out Q.npy",
    "memory.txt": "layer --method gpfq --weights W.npy --inputs X.npy --max-memory-mb 1 --out Q.npy",
    "bad_bits.txt": "layer --method gpfq --weights W.npy --inputs X.npy --bits 99 --out Q.npy",
    "polish.txt": "layer --method optq --weights W.npy --inputs X.npy --bits 2 --refine-passes 3 --refit-steps "
                  "--out Q.npy",
}
for name, line in args.items():  # the harness puts "pathq layer" in front
    put("layer_args", name, "\n".join(line.split(" ")[1:]).encode())
