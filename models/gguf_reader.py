"""Minimal GGUF (v2/v3) reader with numpy dequantizers for F32, F16, Q8_0, Q4_K, Q6_K.

Independent of gguf_writer.py's quantizers: dequantization is written from the block layouts of
formats.md §2.3, so a writer/reader round trip checks both against the spec.

    r = GGUFReader("models/llava-tiny-f16.gguf")
    r.kv["llama.embedding_length"]; r.tensors["token_embd.weight"].ne; r.tensor("output.weight")
"""

import struct
from dataclasses import dataclass

import numpy as np

_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 8: ("Q8_0", 32, 34), 12: ("Q4_K", 256, 144), 14: ("Q6_K", 256, 210)}


@dataclass
class TensorInfo:
    name: str
    ne: list      # ggml order, ne0 first
    type: int
    offset: int   # absolute file offset
    nbytes: int

    @property
    def type_name(self):
        return _TYPES[self.type][0]


class GGUFReader:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        self.pos = 0
        if self._take(4) != b"GGUF":
            raise ValueError(f"{path}: bad magic")
        self.version = self._u("<I")
        if self.version not in (2, 3):
            raise ValueError(f"{path}: unsupported version {self.version}")
        n_tensors, n_kv = self._u("<Q"), self._u("<Q")
        self.kv, self.kv_types = {}, {}
        for _ in range(n_kv):
            key = self._str()
            vt = self._u("<I")
            if key in self.kv:
                raise ValueError(f"{path}: duplicate key {key}")
            self.kv[key] = self._value(vt)
            self.kv_types[key] = vt
        align = self.kv.get("general.alignment", 32)
        infos = []
        for _ in range(n_tensors):
            name = self._str()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            t, off = self._u("<I"), self._u("<Q")
            infos.append((name, ne, t, off))
        data_start = self.pos + (align - self.pos % align) % align
        self.tensors = {}
        for name, ne, t, off in infos:
            _, blk, bs = _TYPES[t]
            n = int(np.prod(ne))
            if ne[0] % blk:
                raise ValueError(f"{name}: ne0 {ne[0]} not a multiple of block {blk}")
            nbytes = n // blk * bs
            if off % align or data_start + off + nbytes > len(self.buf):
                raise ValueError(f"{name}: bad offset")
            self.tensors[name] = TensorInfo(name, ne, t, data_start + off, nbytes)

    # -------------------------------------------------------------- parsing helpers
    def _take(self, n):
        if self.pos + n > len(self.buf):
            raise ValueError("truncated file")
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def _u(self, fmt):
        return struct.unpack(fmt, self._take(struct.calcsize(fmt)))[0]

    def _str(self):
        return self._take(self._u("<Q")).decode("utf-8")

    def _value(self, vt):
        if vt == 8:
            return self._str()
        if vt == 9:
            et, n = self._u("<I"), self._u("<Q")
            if et == 8:
                return [self._str() for _ in range(n)]
            fmt = _SCALAR[et]
            a = np.frombuffer(self._take(n * struct.calcsize(fmt)), dtype=np.dtype(fmt))
            return a.tolist()
        return self._u(_SCALAR[vt])

    # -------------------------------------------------------------- tensors
    def raw(self, name):
        ti = self.tensors[name]
        return np.frombuffer(self.buf, np.uint8, ti.nbytes, ti.offset)

    def tensor(self, name):
        """Dequantized float32 array in numpy order (shape = reversed ne)."""
        ti = self.tensors[name]
        x = dequantize(self.raw(name), ti.type)
        return x.reshape(ti.ne[::-1])


def _h(b):  # two bytes -> f32, vectorized over rows
    return np.ascontiguousarray(b).view(np.float16).astype(np.float32).reshape(-1)


def dequantize(raw, t):
    if t == 0:
        return raw.view(np.float32).copy()
    if t == 1:
        return raw.view(np.float16).astype(np.float32)
    if t == 8:  # Q8_0: d f16, qs int8[32]
        b = raw.reshape(-1, 34)
        return (_h(b[:, 0:2])[:, None] * b[:, 2:].view(np.int8).astype(np.float32)).reshape(-1)
    if t == 12:  # Q4_K
        b = raw.reshape(-1, 144)
        d, dmin, s, qs = _h(b[:, 0:2]), _h(b[:, 2:4]), b[:, 4:16].astype(np.int32), b[:, 16:]
        sc = np.zeros((b.shape[0], 8), np.float32)
        mn = np.zeros((b.shape[0], 8), np.float32)
        for j in range(8):
            if j < 4:
                sc[:, j] = s[:, j] & 63
                mn[:, j] = s[:, j + 4] & 63
            else:
                sc[:, j] = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
                mn[:, j] = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
        q = np.zeros((b.shape[0], 256), np.float32)
        for c in range(4):
            chunk = qs[:, 32 * c: 32 * c + 32]
            q[:, 64 * c: 64 * c + 32] = chunk & 15
            q[:, 64 * c + 32: 64 * c + 64] = chunk >> 4
        e_sub = np.arange(256) // 32
        return (d[:, None] * sc[:, e_sub] * q - dmin[:, None] * mn[:, e_sub]).reshape(-1)
    if t == 14:  # Q6_K
        b = raw.reshape(-1, 210)
        ql, qh = b[:, 0:128].astype(np.int32), b[:, 128:192].astype(np.int32)
        sc = b[:, 192:208].view(np.int8).astype(np.float32)
        d = _h(b[:, 208:210])
        q = np.zeros((b.shape[0], 256), np.float32)
        for h in range(2):
            L, H = ql[:, 64 * h: 64 * h + 64], qh[:, 32 * h: 32 * h + 32]
            base = 128 * h
            q[:, base: base + 32] = ((L[:, 0:32] & 15) | (((H >> 0) & 3) << 4)) - 32
            q[:, base + 32: base + 64] = ((L[:, 32:64] & 15) | (((H >> 2) & 3) << 4)) - 32
            q[:, base + 64: base + 96] = ((L[:, 0:32] >> 4) | (((H >> 4) & 3) << 4)) - 32
            q[:, base + 96: base + 128] = ((L[:, 32:64] >> 4) | (((H >> 6) & 3) << 4)) - 32
        return (d[:, None] * sc[:, np.arange(256) // 16] * q).reshape(-1)
    raise ValueError(f"unsupported ggml type {t}")
