"""gguf_read.py - a small, independent GGUF reader and numpy dequantizers for the golden reference.

Written from specs/formats.md §1 (file layout, value types, alignment) and §2.3 (block layouts),
not from the C engine, so the golden fixtures check the engine against an independent reading of
the same bytes. numpy only (no gguf package). Run `/usr/bin/python3 gguf_read.py --selftest` to
check the dequantizers on blocks built byte by byte, or `gguf_read.py FILE.gguf` to list a file.

Shapes: GGUF stores ne = [ne0, ne1, ...] with ne0 contiguous; tensor() returns the numpy array
with the reversed shape (ne[::-1]), so a matrix with ne = [K, M] comes back as [M, K] = [out, in].
"""
import struct
import sys

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# ---- metadata value types (§1.2) ----------------------------------------------------------------
VT_UINT8, VT_INT8, VT_UINT16, VT_INT16, VT_UINT32, VT_INT32, VT_FLOAT32, VT_BOOL, VT_STRING, \
    VT_ARRAY, VT_UINT64, VT_INT64, VT_FLOAT64 = range(13)
_SCALAR_FMT = {
    VT_UINT8: "<B", VT_INT8: "<b", VT_UINT16: "<H", VT_INT16: "<h", VT_UINT32: "<I", VT_INT32: "<i",
    VT_FLOAT32: "<f", VT_BOOL: "<B", VT_UINT64: "<Q", VT_INT64: "<q", VT_FLOAT64: "<d",
}

# ---- tensor types (§2.1): id -> (name, block elements, block bytes) ------------------------------
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 30: ("BF16", 1, 2),
}
TYPE_ID = {v[0]: k for k, v in GGML_TYPES.items()}


class GGUFError(Exception):
    pass


class Tensor:
    def __init__(self, name, ggml_type, ne, offset):
        self.name = name
        self.type = ggml_type
        self.ne = ne              # [ne0, ne1, ...] (ne0 contiguous)
        self.offset = offset      # relative to the data section
        tname, blck, bsize = GGML_TYPES[ggml_type]
        self.type_name = tname
        n = int(np.prod(ne, dtype=np.int64))
        if ne[0] % blck:
            raise GGUFError("tensor %s: ne0 %d not a multiple of block size %d" % (name, ne[0], blck))
        self.n_elements = n
        self.nbytes = n // blck * bsize


class GGUFFile:
    """Parses the whole file into memory (fixtures are small). kv: key -> python value;
    kv_types: key -> value type id (arrays: (VT_ARRAY, elem type)); tensors: name -> Tensor."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        self.kv = {}
        self.kv_types = {}
        self.tensors = {}
        self.tensor_order = []
        self._parse()

    # -- cursor helpers (every read is bounds-checked) --
    def _take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError("%s: truncated at offset %d (need %d bytes)" % (self.path, self.pos, n))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _scalar(self, vt):
        fmt = _SCALAR_FMT[vt]
        v = struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]
        if vt == VT_BOOL:
            if v not in (0, 1):
                raise GGUFError("%s: bool value %d" % (self.path, v))
            v = bool(v)
        return v

    def _string(self):
        n = struct.unpack("<Q", self._take(8))[0]
        return self._take(n).decode("utf-8", errors="surrogateescape")

    def _value(self, vt):
        if vt == VT_STRING:
            return self._string()
        if vt == VT_ARRAY:
            et = struct.unpack("<I", self._take(4))[0]
            n = struct.unpack("<Q", self._take(8))[0]
            if et == VT_ARRAY:
                raise GGUFError("%s: nested array" % self.path)
            if et == VT_STRING:
                return [self._string() for _ in range(n)]
            if et not in _SCALAR_FMT:
                raise GGUFError("%s: bad array element type %d" % (self.path, et))
            fmt = _SCALAR_FMT[et]
            size = struct.calcsize(fmt)
            raw = self._take(size * n)
            arr = np.frombuffer(raw, dtype=np.dtype(fmt))
            return [bool(x) for x in arr] if et == VT_BOOL else arr.tolist()
        if vt not in _SCALAR_FMT:
            raise GGUFError("%s: bad value type %d" % (self.path, vt))
        return self._scalar(vt)

    def _parse(self):
        if self._take(4) != GGUF_MAGIC:
            raise GGUFError("%s: bad magic" % self.path)
        self.version = struct.unpack("<I", self._take(4))[0]
        if self.version not in (2, 3):
            raise GGUFError("%s: unsupported version %d" % (self.path, self.version))
        n_tensors, n_kv = struct.unpack("<QQ", self._take(16))
        for _ in range(n_kv):
            key = self._string()
            vt = struct.unpack("<I", self._take(4))[0]
            if key in self.kv:
                raise GGUFError("%s: duplicate key %s" % (self.path, key))
            start = self.pos
            self.kv[key] = self._value(vt)
            if vt == VT_ARRAY:
                self.kv_types[key] = (VT_ARRAY, struct.unpack("<I", self.buf[start:start + 4])[0])
            else:
                self.kv_types[key] = vt
        self.alignment = DEFAULT_ALIGNMENT
        if "general.alignment" in self.kv:
            if self.kv_types["general.alignment"] != VT_UINT32:
                raise GGUFError("%s: general.alignment is not u32" % self.path)
            self.alignment = self.kv["general.alignment"]
            if self.alignment == 0 or self.alignment & (self.alignment - 1):
                raise GGUFError("%s: alignment %d not a power of two" % (self.path, self.alignment))
        for _ in range(n_tensors):
            name = self._string()
            n_dims = struct.unpack("<I", self._take(4))[0]
            if n_dims > 4:
                raise GGUFError("%s: tensor %s has %d dims" % (self.path, name, n_dims))
            ne = list(struct.unpack("<%dQ" % n_dims, self._take(8 * n_dims)))
            ttype, offset = struct.unpack("<IQ", self._take(12))
            if ttype not in GGML_TYPES:
                raise GGUFError("%s: tensor %s has unknown type %d" % (self.path, name, ttype))
            if name in self.tensors:
                raise GGUFError("%s: duplicate tensor %s" % (self.path, name))
            self.tensors[name] = Tensor(name, ttype, ne, offset)
            self.tensor_order.append(name)
        a = self.alignment
        self.data_start = self.pos + (a - self.pos % a) % a
        for t in self.tensors.values():
            if t.offset % a:
                raise GGUFError("%s: tensor %s offset %d not aligned" % (self.path, t.name, t.offset))
            if self.data_start + t.offset + t.nbytes > len(self.buf):
                raise GGUFError("%s: tensor %s data past the end of the file" % (self.path, t.name))

    # -- accessors --
    def get(self, key, default=None):
        return self.kv.get(key, default)

    def raw(self, name):
        t = self.tensors[name]
        s = self.data_start + t.offset
        return self.buf[s:s + t.nbytes]

    def tensor(self, name, dtype=np.float32):
        """Dequantized tensor as numpy with shape ne[::-1]."""
        t = self.tensors[name]
        x = dequantize(self.raw(name), t.type, t.n_elements)
        return x.reshape(tuple(reversed(t.ne))).astype(dtype, copy=False)

    def __contains__(self, name):
        return name in self.tensors


# ---- dequantizers (§2.2, §2.3); each returns float64 of n elements --------------------------------

def _f16(b):
    """uint8 [..., 2] (little-endian fp16 bytes) -> float64 [...]"""
    return np.ascontiguousarray(b).view("<f2")[..., 0].astype(np.float64)


def _blocks(raw, n, blck, bsize):
    nb = n // blck
    a = np.frombuffer(raw, dtype=np.uint8, count=nb * bsize)
    return a.reshape(nb, bsize)


def _nibbles_q4(qs):
    """qs uint8 [nb, 16] -> [nb, 32]: e < 16 low nibble of qs[e], e >= 16 high nibble of qs[e-16]."""
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32)


def _bits32(qh):
    """u32 [nb] -> [nb, 32] with bit e of qh at column e."""
    return ((qh[:, None] >> np.arange(32, dtype=np.uint32)[None, :]) & 1).astype(np.int32)


def deq_f32(raw, n):
    return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)


def deq_f16(raw, n):
    return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float64)


def deq_bf16(raw, n):
    u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
    return u.view(np.float32).astype(np.float64)


def deq_q4_0(raw, n):
    b = _blocks(raw, n, 32, 18)
    d = _f16(b[:, 0:2])
    q = _nibbles_q4(b[:, 2:18])
    return ((q - 8) * d[:, None]).reshape(-1)


def deq_q4_1(raw, n):
    b = _blocks(raw, n, 32, 20)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = _nibbles_q4(b[:, 4:20])
    return (q * d[:, None] + m[:, None]).reshape(-1)


def deq_q5_0(raw, n):
    b = _blocks(raw, n, 32, 22)
    d = _f16(b[:, 0:2])
    qh = np.ascontiguousarray(b[:, 2:6]).view("<u4")[:, 0]
    q = _nibbles_q4(b[:, 6:22]) | (_bits32(qh) << 4)
    return ((q - 16) * d[:, None]).reshape(-1)


def deq_q5_1(raw, n):
    b = _blocks(raw, n, 32, 24)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    qh = np.ascontiguousarray(b[:, 4:8]).view("<u4")[:, 0]
    q = _nibbles_q4(b[:, 8:24]) | (_bits32(qh) << 4)
    return (q * d[:, None] + m[:, None]).reshape(-1)


def deq_q8_0(raw, n):
    b = _blocks(raw, n, 32, 34)
    d = _f16(b[:, 0:2])
    q = b[:, 2:34].view(np.int8).astype(np.int32)
    return (q * d[:, None]).reshape(-1)


def _scale_min_k4(sc12):
    """Q4_K/Q5_K 12-byte packed 6-bit scales/mins: uint8 [nb, 12] -> (sc [nb, 8], mn [nb, 8])."""
    b = sc12.astype(np.int32)
    sc = np.empty((b.shape[0], 8), np.int32)
    mn = np.empty((b.shape[0], 8), np.int32)
    for s in range(4):
        sc[:, s] = b[:, s] & 63
        mn[:, s] = b[:, s + 4] & 63
    for s in range(4, 8):
        sc[:, s] = (b[:, s + 4] & 15) | ((b[:, s - 4] >> 6) << 4)
        mn[:, s] = (b[:, s + 4] >> 4) | ((b[:, s] >> 6) << 4)
    return sc, mn


def _q4k_quants(qs):
    """qs uint8 [nb, 128] -> [nb, 256]: chunk c (64 elements) = low nibbles of qs[32c:32c+32]
    (sub-block 2c) then high nibbles (sub-block 2c+1)."""
    parts = []
    for c in range(4):
        chunk = qs[:, 32 * c:32 * c + 32]
        parts.append(chunk & 15)
        parts.append(chunk >> 4)
    return np.concatenate(parts, axis=1).astype(np.int32)


def deq_q4_k(raw, n):
    b = _blocks(raw, n, 256, 144)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _scale_min_k4(b[:, 4:16])
    q = _q4k_quants(b[:, 16:144]).reshape(-1, 8, 32)
    x = d[:, None, None] * sc[:, :, None] * q - dmin[:, None, None] * mn[:, :, None]
    return x.reshape(-1)


def deq_q5_k(raw, n):
    b = _blocks(raw, n, 256, 176)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    sc, mn = _scale_min_k4(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int32)
    q = _q4k_quants(b[:, 48:176])
    hi = np.concatenate([(qh >> j) & 1 for j in range(8)], axis=1)  # sub-block j uses bit j of qh[l]
    q = (q + 16 * hi).reshape(-1, 8, 32)
    x = d[:, None, None] * sc[:, :, None] * q - dmin[:, None, None] * mn[:, :, None]
    return x.reshape(-1)


def deq_q6_k(raw, n):
    b = _blocks(raw, n, 256, 210)
    ql = b[:, 0:128].astype(np.int32)
    qh = b[:, 128:192].astype(np.int32)
    scales = b[:, 192:208].view(np.int8).astype(np.int32)
    d = _f16(b[:, 208:210])
    q = np.empty((b.shape[0], 256), np.int32)
    for h in range(2):
        L = ql[:, 64 * h:64 * h + 64]
        H = qh[:, 32 * h:32 * h + 32]
        base = 128 * h
        q[:, base + 0:base + 32] = (L[:, 0:32] & 15) | (((H >> 0) & 3) << 4)
        q[:, base + 32:base + 64] = (L[:, 32:64] & 15) | (((H >> 2) & 3) << 4)
        q[:, base + 64:base + 96] = (L[:, 0:32] >> 4) | (((H >> 4) & 3) << 4)
        q[:, base + 96:base + 128] = (L[:, 32:64] >> 4) | (((H >> 6) & 3) << 4)
    q = (q - 32).reshape(-1, 16, 16)
    x = d[:, None, None] * scales[:, :, None] * q
    return x.reshape(-1)


def deq_q2_k(raw, n):
    b = _blocks(raw, n, 256, 84)
    sc = b[:, 0:16].astype(np.int32)
    qs = b[:, 16:80].astype(np.int32)
    d, dmin = _f16(b[:, 80:82]), _f16(b[:, 82:84])
    q = np.empty((b.shape[0], 256), np.int32)
    for h in range(2):
        for j in range(4):
            e0 = 128 * h + 32 * j
            q[:, e0:e0 + 32] = (qs[:, 32 * h:32 * h + 32] >> (2 * j)) & 3
    q = q.reshape(-1, 16, 16)
    x = d[:, None, None] * (sc & 15)[:, :, None] * q - dmin[:, None, None] * (sc >> 4)[:, :, None]
    return x.reshape(-1)


def deq_q3_k(raw, n):
    b = _blocks(raw, n, 256, 110)
    hmask = b[:, 0:32].astype(np.int32)
    qs = b[:, 32:96].astype(np.int32)
    scb = b[:, 96:108].astype(np.int32)
    d = _f16(b[:, 108:110])
    q = np.empty((b.shape[0], 256), np.int32)
    for h in range(2):
        for j in range(4):
            e0 = 128 * h + 32 * j
            q2 = (qs[:, 32 * h:32 * h + 32] >> (2 * j)) & 3
            hb = (hmask >> (4 * h + j)) & 1
            q[:, e0:e0 + 32] = q2 - np.where(hb != 0, 0, 4)
    s = np.empty((b.shape[0], 16), np.int32)
    for g in range(16):
        low = (scb[:, g] & 15) if g < 8 else (scb[:, g - 8] >> 4)
        high = (scb[:, 8 + g % 4] >> (2 * (g // 4))) & 3
        s[:, g] = (low | (high << 4)) - 32
    x = d[:, None, None] * s[:, :, None] * q.reshape(-1, 16, 16)
    return x.reshape(-1)


_DEQ = {0: deq_f32, 1: deq_f16, 30: deq_bf16, 2: deq_q4_0, 3: deq_q4_1, 6: deq_q5_0, 7: deq_q5_1,
        8: deq_q8_0, 10: deq_q2_k, 11: deq_q3_k, 12: deq_q4_k, 13: deq_q5_k, 14: deq_q6_k}


def dequantize(raw, ggml_type, n):
    if ggml_type not in _DEQ:
        raise GGUFError("no dequantizer for type %s" % GGML_TYPES.get(ggml_type, (ggml_type,))[0])
    return _DEQ[ggml_type](raw, n)


# ---- self-test: blocks built byte by byte, checked against per-element formulas ----------------

def _h(x):
    return np.float16(x).tobytes()


def _selftest():
    rng = np.random.default_rng(1234)
    fails = []

    def check(name, got, want, tol=0.0):
        got = np.asarray(got, np.float64)
        want = np.asarray(want, np.float64)
        with np.errstate(invalid="ignore"):
            ok = got.shape == want.shape and np.all((got == want) | (np.abs(got - want) <= tol))
        if not ok:
            fails.append(name)
            print("FAIL %s\n got  %s\n want %s" % (name, got[:40], want[:40]))

    # F16 / BF16 scalar formats incl. a subnormal, inf and negative zero
    vals = [1.0, -2.5, 65504.0, 2.0 ** -24, 0.0, -0.0, np.inf]
    check("f16", deq_f16(np.array(vals, np.float16).tobytes(), len(vals)), vals)
    bf = bytes([0x80, 0x3F, 0x40, 0xC0, 0x01, 0x00])   # 0x3F80 = 1.0, 0xC040 = -3.0, 0x0001 = 2^-133
    check("bf16", deq_bf16(bf, 3), [1.0, -3.0, 2.0 ** -133])

    # Q4_0: d = 0.5, qs[e] = e | (15 - e) << 4 -> element e<16 = (e-8)*0.5, e>=16 = ((15-(e-16))-8)*0.5
    blk = _h(0.5) + bytes([e | (15 - e) << 4 for e in range(16)])
    want = [(e - 8) * 0.5 for e in range(16)] + [((15 - e) - 8) * 0.5 for e in range(16)]
    check("q4_0 hand", deq_q4_0(blk, 32), want)
    # Q4_1: d = 0.25, m = -1 -> x = nib*0.25 - 1
    blk = _h(0.25) + _h(-1.0) + bytes([e | (15 - e) << 4 for e in range(16)])
    want = [e * 0.25 - 1 for e in range(16)] + [(15 - e) * 0.25 - 1 for e in range(16)]
    check("q4_1 hand", deq_q4_1(blk, 32), want)
    # Q5_0: qh = 0xAAAAAAAA (odd elements have the 5th bit), d = 2
    qh = 0xAAAAAAAA
    blk = _h(2.0) + struct.pack("<I", qh) + bytes([e | (15 - e) << 4 for e in range(16)])
    nib = list(range(16)) + [15 - e for e in range(16)]
    want = [((nib[e] | ((qh >> e) & 1) << 4) - 16) * 2.0 for e in range(32)]
    check("q5_0 hand", deq_q5_0(blk, 32), want)
    blk = _h(2.0) + _h(0.5) + struct.pack("<I", qh) + bytes([e | (15 - e) << 4 for e in range(16)])
    want = [(nib[e] | ((qh >> e) & 1) << 4) * 2.0 + 0.5 for e in range(32)]
    check("q5_1 hand", deq_q5_1(blk, 32), want)
    # Q8_0: d = 0.125, qs = -16..15
    blk = _h(0.125) + np.arange(-16, 16, dtype=np.int8).tobytes()
    check("q8_0 hand", deq_q8_0(blk, 32), [q * 0.125 for q in range(-16, 16)])
    # two blocks back to back keep their own scales
    blk2 = _h(1.0) + np.arange(-16, 16, dtype=np.int8).tobytes()
    check("q8_0 2 blocks", deq_q8_0(blk + blk2, 64), [q * 0.125 for q in range(-16, 16)] + list(range(-16, 16)))

    # Q4_K: scales chosen so both packing branches matter. sc = [1,2,3,4, 33,34,35,36] (s>=4 need the
    # high bits from b[s-4] >> 6), mn = [5,6,7,8, 40,41,42,43].
    sc = [1, 2, 3, 4, 33, 34, 35, 36]
    mn = [5, 6, 7, 8, 40, 41, 42, 43]
    b = [0] * 12
    for s in range(4):
        b[s] = sc[s] | ((sc[s + 4] >> 4) << 6)
        b[s + 4] = mn[s] | ((mn[s + 4] >> 4) << 6)
        b[s + 8] = (sc[s + 4] & 15) | ((mn[s + 4] & 15) << 4)
    qs = rng.integers(0, 256, 128, dtype=np.uint8)
    d, dmin = 0.5, 0.25
    blk = _h(d) + _h(dmin) + bytes(b) + qs.tobytes()
    want = []
    for e in range(256):
        c, s = e // 64, e // 32
        byte = int(qs[32 * c + e % 32])
        q = byte & 15 if (e % 64) < 32 else byte >> 4
        want.append(d * sc[s] * q - dmin * mn[s])
    check("q4_K hand", deq_q4_k(blk, 256), want)
    # spot values computed by hand: e=0 -> 0.5*1*(qs[0]&15) - 0.25*5
    check("q4_K e0", deq_q4_k(blk, 256)[0], 0.5 * (int(qs[0]) & 15) - 1.25)

    # Q5_K: same scales, qh random
    qh = rng.integers(0, 256, 32, dtype=np.uint8)
    blk = _h(d) + _h(dmin) + bytes(b) + qh.tobytes() + qs.tobytes()
    want = []
    for e in range(256):
        c, s, l = e // 64, e // 32, e % 32
        byte = int(qs[32 * c + l])
        hi_half = (e % 64) >= 32
        q = (byte >> 4) if hi_half else (byte & 15)
        bit = (int(qh[l]) >> (2 * c + (1 if hi_half else 0))) & 1
        want.append(d * sc[s] * (q + 16 * bit) - dmin * mn[s])
    check("q5_K hand", deq_q5_k(blk, 256), want)

    # Q6_K
    ql = rng.integers(0, 256, 128, dtype=np.uint8)
    qh = rng.integers(0, 256, 64, dtype=np.uint8)
    scales = rng.integers(-128, 128, 16).astype(np.int8)
    blk = ql.tobytes() + qh.tobytes() + scales.tobytes() + _h(0.75)
    want = [0.0] * 256
    for h in range(2):
        for l in range(32):
            L, H = 64 * h, 32 * h
            for k, (lo_idx, shift_lo, shift_h) in enumerate([(l, 0, 0), (l + 32, 0, 2), (l, 4, 4), (l + 32, 4, 6)]):
                e = 128 * h + l + 32 * k
                nibv = (int(ql[L + lo_idx]) >> shift_lo) & 15
                hib = (int(qh[H + l]) >> shift_h) & 3
                want[e] = 0.75 * int(scales[e // 16]) * ((nibv | hib << 4) - 32)
    check("q6_K hand", deq_q6_k(blk, 256), want)

    # Q2_K
    scb = rng.integers(0, 256, 16, dtype=np.uint8)
    qs2 = rng.integers(0, 256, 64, dtype=np.uint8)
    blk = scb.tobytes() + qs2.tobytes() + _h(0.5) + _h(0.125)
    want = []
    for e in range(256):
        h, j, l = e // 128, (e % 128) // 32, e % 32
        q = (int(qs2[32 * h + l]) >> (2 * j)) & 3
        g = e // 16
        want.append(0.5 * (int(scb[g]) & 15) * q - 0.125 * (int(scb[g]) >> 4))
    check("q2_K hand", deq_q2_k(blk, 256), want)

    # Q3_K
    hm = rng.integers(0, 256, 32, dtype=np.uint8)
    qs3 = rng.integers(0, 256, 64, dtype=np.uint8)
    sc3 = rng.integers(0, 256, 12, dtype=np.uint8)
    blk = hm.tobytes() + qs3.tobytes() + sc3.tobytes() + _h(0.5)
    want = []
    for e in range(256):
        h, j, l = e // 128, (e % 128) // 32, e % 32
        q2 = (int(qs3[32 * h + l]) >> (2 * j)) & 3
        hb = (int(hm[l]) >> (4 * h + j)) & 1
        q = q2 - (0 if hb else 4)
        g = e // 16
        low = (int(sc3[g]) & 15) if g < 8 else (int(sc3[g - 8]) >> 4)
        high = (int(sc3[8 + g % 4]) >> (2 * (g // 4))) & 3
        want.append(0.5 * ((low | high << 4) - 32) * q)
    check("q3_K hand", deq_q3_k(blk, 256), want)

    # a minimal GGUF written here, parsed back: every scalar type, arrays, alignment padding
    import io
    import os
    import tempfile

    def s(x):
        x = x.encode()
        return struct.pack("<Q", len(x)) + x
    kvs = [("a.u8", VT_UINT8, struct.pack("<B", 7), 7), ("a.i8", VT_INT8, struct.pack("<b", -7), -7),
           ("a.u16", VT_UINT16, struct.pack("<H", 600), 600), ("a.i16", VT_INT16, struct.pack("<h", -600), -600),
           ("a.u32", VT_UINT32, struct.pack("<I", 70000), 70000), ("a.i32", VT_INT32, struct.pack("<i", -70000), -70000),
           ("a.f32", VT_FLOAT32, struct.pack("<f", 0.5), 0.5), ("a.bool", VT_BOOL, b"\x01", True),
           ("a.str", VT_STRING, s("h\u00e9llo"), "h\u00e9llo"),
           ("a.arr", VT_ARRAY, struct.pack("<IQ", VT_INT32, 3) + struct.pack("<3i", 1, -2, 3), [1, -2, 3]),
           ("a.sarr", VT_ARRAY, struct.pack("<IQ", VT_STRING, 2) + s("x") + s(""), ["x", ""]),
           ("a.u64", VT_UINT64, struct.pack("<Q", 1 << 40), 1 << 40), ("a.i64", VT_INT64, struct.pack("<q", -(1 << 40)), -(1 << 40)),
           ("a.f64", VT_FLOAT64, struct.pack("<d", 0.1), 0.1),
           ("general.alignment", VT_UINT32, struct.pack("<I", 64), 64)]
    out = io.BytesIO()
    out.write(GGUF_MAGIC + struct.pack("<IQQ", 3, 2, len(kvs)))
    for k, vt, payload, _ in kvs:
        out.write(s(k) + struct.pack("<I", vt) + payload)
    t0 = np.arange(6, dtype=np.float32)
    t1 = blk  # the Q3_K block above
    out.write(s("t0") + struct.pack("<I", 2) + struct.pack("<2Q", 3, 2) + struct.pack("<IQ", 0, 0))
    out.write(s("t1") + struct.pack("<I", 1) + struct.pack("<Q", 256) + struct.pack("<IQ", 11, 64))
    pos = out.tell()
    out.write(b"\0" * ((64 - pos % 64) % 64))
    out.write(t0.tobytes() + b"\0" * (64 - 24) + t1)
    fd, path = tempfile.mkstemp(suffix=".gguf")
    os.write(fd, out.getvalue())
    os.close(fd)
    try:
        g = GGUFFile(path)
        for k, vt, _, v in kvs:
            if g.kv[k] != v and not (isinstance(v, float) and abs(g.kv[k] - v) < 1e-7):
                fails.append("kv " + k)
                print("FAIL kv", k, g.kv[k], v)
        check("gguf t0", g.tensor("t0"), t0.reshape(2, 3))
        check("gguf t1", g.tensor("t1"), want)
        if g.data_start % 64:
            fails.append("data_start alignment")
    finally:
        os.unlink(path)

    print("gguf_read selftest: %d failures" % len(fails))
    return 1 if fails else 0


def _list(path):
    g = GGUFFile(path)
    print("%s: GGUF v%d, alignment %d, %d KVs, %d tensors" % (path, g.version, g.alignment, len(g.kv), len(g.tensors)))
    for k, v in g.kv.items():
        if isinstance(v, list) and len(v) > 6:
            v = "[%s, ... (%d)]" % (", ".join(repr(x) for x in v[:6]), len(v))
        print("  %-45s %s" % (k, v))
    for name in g.tensor_order:
        t = g.tensors[name]
        print("  %-32s %-5s %s" % (name, t.type_name, t.ne))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        sys.exit(_selftest())
    for p in sys.argv[1:]:
        _list(p)
