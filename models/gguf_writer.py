"""Minimal GGUF v3 writer + numpy quantizers (no dependency on the gguf Python package).

File layout as llama.cpp's gguf_writer.py produces it (formats.md §1.4): header (magic, version 3,
u64 tensor count, u64 KV count) -> KVs in insertion order -> tensor infos (name, n_dims, ne[] with
ne0 first = reversed numpy shape, ggml type, offset) -> zero padding to ALIGNMENT (32) -> tensor
data, each tensor padded with zeros to a multiple of ALIGNMENT. Offsets are relative to the data
section start.

Quantizers follow the block layouts of formats.md §2.3: F16, Q8_0, Q4_K, Q6_K.
"""

import struct

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
ALIGNMENT = 32

# metadata value types
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR_FMT = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
               FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

# ggml types: id -> (name, block elements, block bytes)
F32, F16, Q8_0, Q4_K, Q6_K = 0, 1, 8, 12, 14
GGML_TYPES = {F32: ("F32", 1, 4), F16: ("F16", 1, 2), Q8_0: ("Q8_0", 32, 34),
              Q4_K: ("Q4_K", 256, 144), Q6_K: ("Q6_K", 256, 210)}

# general.file_type (llama_ftype)
FTYPE_ALL_F32, FTYPE_MOSTLY_F16, FTYPE_MOSTLY_Q8_0, FTYPE_MOSTLY_Q4_K_M = 0, 1, 7, 15


def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


# ---------------------------------------------------------------------------------------------
# quantizers: float32 rows (..., ne0) -> uint8 bytes, one row after the other


def _roundf(t):
    """C roundf: nearest, ties away from zero."""
    return np.sign(t) * np.floor(np.abs(t) + 0.5)


def quantize_q8_0(x):
    """ggml quantize_row_q8_0_ref: d = amax/127, q = round(x/d) (with the fp32 d)."""
    b = np.asarray(x, np.float32).reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = amax / 127.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(_roundf(b * inv[:, None]), -127, 127).astype(np.int8)  # roundf, like ggml
    out = np.empty((b.shape[0], 34), np.uint8)
    out[:, 0:2] = _f16(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(-1)


def _fit_scale_min(x, nmax, rmin=-1.0, rdelta=0.1, nstep=20):
    """Per row of x (n, k): fit x ~ scale*L - mn with integer L in 0..nmax and mn >= 0 by a grid
    of initial scales + weighted least squares (the idea of ggml's make_qkx2_quants).
    Returns (scale, mn), both >= 0."""
    x = x.astype(np.float64)
    w = np.sqrt((x * x).mean(axis=1, keepdims=True)) + np.abs(x)  # ggml's weights for Q4_K
    lo = np.minimum(x.min(axis=1), 0.0)
    hi = x.max(axis=1)
    rng = np.where(hi > lo, hi - lo, 1.0)
    best_s = (hi - lo) / nmax
    best_m = lo.copy()
    L0 = np.clip(np.rint((x - lo[:, None]) / np.where(best_s > 0, best_s, 1.0)[:, None]), 0, nmax)
    best_err = (w * (best_s[:, None] * L0 + lo[:, None] - x) ** 2).sum(axis=1)
    sw, sx = w.sum(axis=1), (w * x).sum(axis=1)
    for i in range(nstep + 1):
        iscale = (rmin + rdelta * i + nmax) / rng
        L = np.clip(np.rint(iscale[:, None] * (x - lo[:, None])), 0, nmax)
        sl, sl2, sxl = (w * L).sum(axis=1), (w * L * L).sum(axis=1), (w * L * x).sum(axis=1)
        D = sw * sl2 - sl * sl
        ok = D > 0
        s = np.where(ok, (sw * sxl - sx * sl) / np.where(ok, D, 1.0), 0.0)
        m = np.where(ok, (sl2 * sx - sl * sxl) / np.where(ok, D, 1.0), 0.0)
        pos = m > 0  # the offset must stay <= 0 (stored as a non-negative min)
        s = np.where(pos, sxl / np.where(sl2 > 0, sl2, 1.0), s)
        m = np.where(pos, 0.0, m)
        err = (w * (s[:, None] * L + m[:, None] - x) ** 2).sum(axis=1)
        better = ok & (err < best_err) & (s > 0)
        best_err = np.where(better, err, best_err)
        best_s = np.where(better, s, best_s)
        best_m = np.where(better, m, best_m)
    return best_s.astype(np.float32), (-best_m).astype(np.float32)


def quantize_q4_k(x):
    """Q4_K: 256-element super-blocks, 8 sub-blocks of 32 with 6-bit scale and min.
    x = d*sc*q - dmin*mn, q in 0..15. Scales/mins are fitted per sub-block (min forced <= 0),
    quantized to 6 bits against fp16 d/dmin, then the quants are recomputed with the stored
    scales (the second pass of ggml's reference quantizer)."""
    b = np.asarray(x, np.float32).reshape(-1, 8, 32)
    nb = b.shape[0]
    scale, mn = _fit_scale_min(b.reshape(-1, 32), nmax=15)
    scale, mn = scale.reshape(nb, 8), mn.reshape(nb, 8)
    d = _f16(scale.max(axis=1) / 63.0).astype(np.float32)
    dmin = _f16(mn.max(axis=1) / 63.0).astype(np.float32)
    sc = np.clip(_roundf(np.divide(scale, d[:, None], out=np.zeros_like(scale), where=d[:, None] != 0)), 0, 63)
    m = np.clip(_roundf(np.divide(mn, dmin[:, None], out=np.zeros_like(mn), where=dmin[:, None] != 0)), 0, 63)
    step = d[:, None] * sc
    off = dmin[:, None] * m
    q = np.divide(b + off[:, :, None], step[:, :, None], out=np.zeros_like(b), where=step[:, :, None] != 0)
    q = np.clip(_roundf(q), 0, 15).astype(np.uint8).reshape(nb, 256)
    sc, m = sc.astype(np.uint8), m.astype(np.uint8)
    out = np.zeros((nb, 144), np.uint8)
    out[:, 0:2] = _f16(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = _f16(dmin).view(np.uint8).reshape(-1, 2)
    s = np.zeros((nb, 12), np.uint8)
    for j in range(4):
        s[:, j] = (sc[:, j] & 63) | ((sc[:, j + 4] >> 4) << 6)
        s[:, j + 4] = (m[:, j] & 63) | ((m[:, j + 4] >> 4) << 6)
        s[:, j + 8] = (sc[:, j + 4] & 15) | ((m[:, j + 4] & 15) << 4)
    out[:, 4:16] = s
    for c in range(4):  # 64-element chunk c: sub-block 2c in low nibbles, 2c+1 in high nibbles
        out[:, 16 + 32 * c: 16 + 32 * c + 32] = q[:, 64 * c: 64 * c + 32] | (q[:, 64 * c + 32: 64 * c + 64] << 4)
    return out.reshape(-1)


def quantize_q6_k(x):
    """Q6_K: 256-element super-blocks, 16 groups of 16 with int8 scales; x = d*sc*(q-32)."""
    b = np.asarray(x, np.float32).reshape(-1, 16, 16)
    nb = b.shape[0]
    idx = np.abs(b).argmax(axis=2)
    mx = np.take_along_axis(b, idx[:, :, None], axis=2)[:, :, 0]  # signed value of max |x|
    gscale = mx / -32.0                                             # maps it to q = -32
    gi = np.abs(gscale).argmax(axis=1)
    max_scale = np.take_along_axis(gscale, gi[:, None], axis=1)[:, 0]
    iscale = np.divide(-128.0, max_scale, out=np.zeros_like(max_scale), where=max_scale != 0)
    d = _f16(np.divide(1.0, iscale, out=np.zeros_like(iscale), where=iscale != 0)).astype(np.float32)
    sc = np.clip(_roundf(iscale[:, None] * gscale), -128, 127).astype(np.int8)
    step = d[:, None] * sc.astype(np.float32)
    q = np.divide(b, step[:, :, None], out=np.zeros_like(b), where=step[:, :, None] != 0)
    L = (np.clip(_roundf(q), -32, 31) + 32).astype(np.uint8).reshape(nb, 256)
    out = np.zeros((nb, 210), np.uint8)
    for h in range(2):
        base = 128 * h
        l0, l1, l2, l3 = (L[:, base + k * 32: base + k * 32 + 32] for k in range(4))
        out[:, 64 * h: 64 * h + 32] = (l0 & 15) | ((l2 & 15) << 4)
        out[:, 64 * h + 32: 64 * h + 64] = (l1 & 15) | ((l3 & 15) << 4)
        out[:, 128 + 32 * h: 128 + 32 * h + 32] = (l0 >> 4) | ((l1 >> 4) << 2) | ((l2 >> 4) << 4) | ((l3 >> 4) << 6)
    out[:, 192:208] = sc.view(np.uint8)
    out[:, 208:210] = _f16(d).view(np.uint8).reshape(-1, 2)
    return out.reshape(-1)


def encode_tensor(arr, ggml_type):
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if ggml_type == F32:
        return arr.view(np.uint8).reshape(-1)
    if ggml_type == F16:
        return _f16(arr).view(np.uint8).reshape(-1)
    blk = GGML_TYPES[ggml_type][1]
    if arr.shape[-1] % blk:
        raise ValueError(f"ne0={arr.shape[-1]} is not a multiple of the {GGML_TYPES[ggml_type][0]} block {blk}")
    return {Q8_0: quantize_q8_0, Q4_K: quantize_q4_k, Q6_K: quantize_q6_k}[ggml_type](arr)


# ---------------------------------------------------------------------------------------------
# writer


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


class GGUFWriter:
    def __init__(self, path):
        self.path = path
        self.kvs = []      # (key, bytes of type + value)
        self.tensors = []  # (name, ne list, type, payload bytes)
        self._keys = set()

    def _add(self, key, payload):
        if key in self._keys:
            raise ValueError(f"duplicate key {key}")
        self._keys.add(key)
        self.kvs.append((key, payload))

    def add(self, key, vtype, value):
        if vtype == STRING:
            self._add(key, struct.pack("<I", STRING) + _str(value))
        else:
            self._add(key, struct.pack("<I", vtype) + struct.pack(_SCALAR_FMT[vtype], value))

    def add_array(self, key, etype, values):
        body = struct.pack("<IIQ", ARRAY, etype, len(values))
        if etype == STRING:
            body += b"".join(_str(v) for v in values)
        else:
            body += np.asarray(values, dtype=np.dtype(_SCALAR_FMT[etype])).tobytes()
        self._add(key, body)

    def add_tensor(self, name, arr, ggml_type):
        """arr: float array in PyTorch/numpy shape; stored with ne = reversed(shape)."""
        if len(name.encode()) >= 64:
            raise ValueError(f"tensor name too long: {name}")
        arr = np.asarray(arr, np.float32)
        self.tensors.append((name, list(arr.shape[::-1]), ggml_type, encode_tensor(arr, ggml_type).tobytes()))

    def write(self):
        pad = lambda n: (ALIGNMENT - n % ALIGNMENT) % ALIGNMENT  # noqa: E731
        head = bytearray(GGUF_MAGIC + struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kvs)))
        for key, payload in self.kvs:
            head += _str(key) + payload
        offset = 0
        for name, ne, t, data in self.tensors:
            head += _str(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne)
            head += struct.pack("<IQ", t, offset)
            offset += len(data) + pad(len(data))
        head += b"\0" * pad(len(head))
        with open(self.path, "wb") as f:
            f.write(head)
            for _, _, _, data in self.tensors:
                f.write(data)
                f.write(b"\0" * pad(len(data)))
