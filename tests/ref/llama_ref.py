"""llama_ref.py - LLaMA forward in PyTorch float64 from GGUF weights: the golden reference.

Written from specs/formats.md §3 (hparams and defaults §3.1, tensor names/shapes §3.2, forward §3.3,
NORM adjacent-pair RoPE on the converter-permuted Q/K rows §3.4), independently of the C engine.
Weights are the exact dequantized values of the GGUF bytes (gguf_read.py), math is float64, so the
only differences to the engine are its own rounding (fp32 accumulation, int8/fp16 activations in
quantized/F16 dot products, F16 KV storage).

kv_f16=True emulates the engine's default F16 KV cache: K (after RoPE) and V are rounded to fp16
when they enter the cache, exactly the values the engine stores. This removes the largest single
systematic difference (fp16 has a 2^-11 relative step, far above fp32 rounding), so fixtures made
with it can use tighter bounds for an F16-KV engine; fixtures are made both ways.

Interface (tokenizer-free):
    m = LlamaRef.from_gguf(path, kv_f16=True)
    m.reset()
    logits = m.eval_tokens([1, 5, 9], want_all=True)   # [3, n_vocab]
    logits = m.eval_embd(rows)                          # rows: [n, n_embd] (image embeddings)
    ids, steps = m.greedy(prompt_ids, 16)               # greedy continuation, full cache
Run `/usr/bin/python3 llama_ref.py --selftest` for the self-checks (in-memory random model).
"""
import math
import sys

import numpy as np
import torch

DT = torch.float64


class HParams:
    def __init__(self, n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, eps, rope_base=10000.0,
                 n_rot=None, freq_scale=1.0, n_ctx_train=2048):
        self.n_vocab, self.n_embd, self.n_layer = n_vocab, n_embd, n_layer
        self.n_head, self.n_head_kv, self.n_ff = n_head, n_head_kv, n_ff
        self.eps, self.rope_base, self.freq_scale = eps, rope_base, freq_scale
        self.head_dim = n_embd // n_head
        self.n_rot = n_rot if n_rot is not None else self.head_dim
        self.n_ctx_train = n_ctx_train


def hparams_from_gguf(g):
    """§3.1: any integer width accepted (python ints); defaults: head_count_kv = head_count,
    rope base 10000, n_rot = head dim, linear rope scaling freq_scale = 1/factor."""
    arch = g.get("general.architecture")
    if arch != "llama":
        raise ValueError("%s: general.architecture is %r, not llama" % (g.path, arch))
    p = "llama."
    n_embd = int(g.kv[p + "embedding_length"])
    n_head = int(g.kv[p + "attention.head_count"])
    n_ff = g.kv[p + "feed_forward_length"]
    if isinstance(n_ff, list):
        if len(set(n_ff)) != 1:
            raise ValueError("per-layer n_ff not supported by the reference")
        n_ff = n_ff[0]
    freq_scale = 1.0
    if g.get(p + "rope.scaling.type") == "linear" and g.get(p + "rope.scaling.factor"):
        freq_scale = 1.0 / float(g.kv[p + "rope.scaling.factor"])
    elif g.get(p + "rope.scale_linear"):
        freq_scale = 1.0 / float(g.kv[p + "rope.scale_linear"])
    tokens = g.get("tokenizer.ggml.tokens")
    n_vocab = int(g.get(p + "vocab_size", len(tokens) if tokens else g.tensors["token_embd.weight"].ne[1]))
    return HParams(n_vocab=n_vocab, n_embd=n_embd, n_layer=int(g.kv[p + "block_count"]), n_head=n_head,
                   n_head_kv=int(g.get(p + "attention.head_count_kv", n_head)), n_ff=int(n_ff),
                   eps=float(g.kv[p + "attention.layer_norm_rms_epsilon"]),
                   rope_base=float(g.get(p + "rope.freq_base", 10000.0)),
                   n_rot=g.get(p + "rope.dimension_count"), freq_scale=freq_scale,
                   n_ctx_train=int(g.kv[p + "context_length"]))


def rmsnorm(x, w, eps):
    """y = x / sqrt(mean(x^2) + eps) * w, per row."""
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def rope_norm(x, pos, n_rot, base, freq_scale):
    """NORM (adjacent pair) RoPE, §3.4. x: [T, n_heads, head_dim]; pos: [T] ints.
    pair i (0 <= i < n_rot/2) rotates (x[2i], x[2i+1]) by theta = p * freq_scale * base^(-2i/n_rot)."""
    T, H, D = x.shape
    i = torch.arange(n_rot // 2, dtype=DT)
    inv = base ** (-2.0 * i / n_rot)                                   # [n_rot/2]
    theta = torch.as_tensor(pos, dtype=DT)[:, None] * freq_scale * inv[None, :]   # [T, n_rot/2]
    c, s = torch.cos(theta)[:, None, :], torch.sin(theta)[:, None, :]
    out = x.clone()
    x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
    out[..., 0:n_rot:2] = x0 * c - x1 * s
    out[..., 1:n_rot:2] = x0 * s + x1 * c
    return out


def silu(x):
    return x / (1.0 + torch.exp(-x))


# vec_dot_type per weight type (formats.md §7.2): the activation format a quantized dot product
# uses. Only for the optional emulation of the engine's activation rounding (act_quant=True),
# which make_golden.py uses to size the tolerances; the golden values themselves are exact.
VEC_DOT = {"F32": None, "F16": "F16", "BF16": "BF16", "Q4_0": "Q8_0", "Q5_0": "Q8_0", "Q8_0": "Q8_0",
           "Q4_1": "Q8_1", "Q5_1": "Q8_1", "Q2_K": "Q8_K", "Q3_K": "Q8_K", "Q4_K": "Q8_K",
           "Q5_K": "Q8_K", "Q6_K": "Q8_K"}


def act_round(x, fmt):
    """Round activation rows x [T, K] as the engine does before a dot product in `fmt` (§2.3,
    with ggml's fp32 operation order): Q8_0/Q8_1: per 32, d = amax/127, q = round(x/d), d stored
    as fp16; Q8_K: per 256, m = signed value of max |x|, iscale = -127/m, q = min(127,
    round(iscale*x)), x' = q/iscale; F16/BF16: round the value."""
    if fmt is None:
        return x
    if fmt == "F16":
        return x.to(torch.float32).to(torch.float16).to(DT)
    if fmt == "BF16":
        return x.to(torch.float32).to(torch.bfloat16).to(DT)
    T, K = x.shape
    x = x.to(torch.float32)                     # the engine's activations are fp32
    if fmt in ("Q8_0", "Q8_1"):
        # ggml's quantize_row_q8_0: id = 1/d from the fp32 d = amax/127, q = roundf(x*id) (half
        # away from zero), and only the stored d is rounded to fp16
        b = x.reshape(T, K // 32, 32)
        d = b.abs().amax(-1, keepdim=True) / 127.0
        idv = torch.where(d > 0, 1.0 / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(d))
        v = b * idv
        q = torch.sign(v) * torch.floor(v.abs() + 0.5)
        return (q.to(DT) * d.to(torch.float16).to(DT)).reshape(T, K)
    if fmt == "Q8_K":
        # ggml's quantize_row_q8_K: m = signed max-|x| value, iscale = -127/m (fp32),
        # q = min(127, nearest_int(iscale*x)), d = 1/iscale stored as fp32
        b = x.reshape(T, K // 256, 256)
        idx = b.abs().argmax(-1, keepdim=True)
        m = torch.gather(b, -1, idx)
        nz = m != 0
        iscale = torch.where(nz, -127.0 / torch.where(nz, m, torch.ones_like(m)), torch.zeros_like(m))
        q = torch.clamp(torch.round(iscale * b), max=127)
        d = torch.where(nz, 1.0 / torch.where(nz, iscale, torch.ones_like(iscale)), torch.zeros_like(iscale))
        return (q.to(DT) * d.to(DT)).reshape(T, K)
    raise ValueError(fmt)


class LlamaRef:
    def __init__(self, hp, w, kv_f16=False, wtype=None, act_quant=False):
        """w: dict name -> torch float64 tensor with the numpy (reversed-ne) shapes of §3.2, i.e.
        token_embd.weight [V, E], blk.N.attn_q.weight [n_head*Hd, E], ffn_down [E, F], ..."""
        self.hp, self.w, self.kv_f16 = hp, w, kv_f16
        self.wtype = wtype or {}            # name -> ggml type name (only for act_quant)
        self.act_quant = act_quant
        self.out_name = "output.weight" if "output.weight" in w else "token_embd.weight"   # tied
        self.out_w = w[self.out_name]
        self.reset()

    @classmethod
    def from_gguf(cls, path, kv_f16=False, act_quant=False):
        from gguf_read import GGUFFile
        g = GGUFFile(path)
        hp = hparams_from_gguf(g)
        w, wtype = {}, {}
        for name in g.tensor_order:
            if name.startswith("token_embd") or name.startswith("output") or name.startswith("blk."):
                w[name] = torch.from_numpy(g.tensor(name, np.float64))
                wtype[name] = g.tensors[name].type_name
        cls._check_shapes(hp, w, path)
        m = cls(hp, w, kv_f16=kv_f16, wtype=wtype, act_quant=act_quant)
        m.gguf = g
        return m

    @staticmethod
    def _check_shapes(hp, w, path):
        E, F, V, Hd = hp.n_embd, hp.n_ff, hp.n_vocab, hp.head_dim
        want = {"token_embd.weight": (V, E), "output_norm.weight": (E,)}
        for il in range(hp.n_layer):
            b = "blk.%d." % il
            want.update({b + "attn_norm.weight": (E,), b + "attn_q.weight": (hp.n_head * Hd, E),
                         b + "attn_k.weight": (hp.n_head_kv * Hd, E), b + "attn_v.weight": (hp.n_head_kv * Hd, E),
                         b + "attn_output.weight": (E, hp.n_head * Hd), b + "ffn_norm.weight": (E,),
                         b + "ffn_gate.weight": (F, E), b + "ffn_up.weight": (F, E), b + "ffn_down.weight": (E, F)})
        if "output.weight" in w:
            want["output.weight"] = (V, E)
        for k, shape in want.items():
            if k not in w:
                raise ValueError("%s: missing tensor %s" % (path, k))
            if tuple(w[k].shape) != shape:
                raise ValueError("%s: %s has shape %s, expected %s" % (path, k, tuple(w[k].shape), shape))

    def reset(self):
        hp = self.hp
        self.n_past = 0
        self.k = [torch.zeros(0, hp.n_head_kv, hp.head_dim, dtype=DT) for _ in range(hp.n_layer)]
        self.v = [torch.zeros(0, hp.n_head_kv, hp.head_dim, dtype=DT) for _ in range(hp.n_layer)]

    def mm(self, x, name):
        """x [T, K] @ W(name)^T -> [T, M]; with act_quant the input is first rounded to the
        weight type's vec_dot_type, as the engine's quantized dot products do."""
        if self.act_quant:
            x = act_round(x, VEC_DOT[self.wtype.get(name, "F32")])
        return x @ self.w[name].T

    def _kv_round(self, t):
        return t.to(torch.float16).to(DT) if self.kv_f16 else t

    def forward(self, x, want_all=False):
        """x: [T, E] input embeddings at positions n_past .. n_past+T-1. Appends to the cache.
        Returns logits [T, V] if want_all else [V] of the last position."""
        hp, w = self.hp, self.w
        T = x.shape[0]
        Hd, nh, nkv = hp.head_dim, hp.n_head, hp.n_head_kv
        pos = torch.arange(self.n_past, self.n_past + T)
        for il in range(hp.n_layer):
            b = "blk.%d." % il
            h = rmsnorm(x, w[b + "attn_norm.weight"], hp.eps)
            q = self.mm(h, b + "attn_q.weight").view(T, nh, Hd)
            k = self.mm(h, b + "attn_k.weight").view(T, nkv, Hd)
            v = self.mm(h, b + "attn_v.weight").view(T, nkv, Hd)
            q = rope_norm(q, pos, hp.n_rot, hp.rope_base, hp.freq_scale)
            k = rope_norm(k, pos, hp.n_rot, hp.rope_base, hp.freq_scale)
            self.k[il] = torch.cat([self.k[il], self._kv_round(k)], 0)
            self.v[il] = torch.cat([self.v[il], self._kv_round(v)], 0)
            K, V = self.k[il], self.v[il]                     # [L, nkv, Hd], L = n_past + T
            L = K.shape[0]
            g = nh // nkv                                      # GQA: q head h uses kv head h // g
            Kh = K.repeat_interleave(g, dim=1).permute(1, 0, 2)   # [nh, L, Hd]
            Vh = V.repeat_interleave(g, dim=1).permute(1, 0, 2)
            s = torch.einsum("thd,hld->htl", q, Kh) / math.sqrt(Hd)   # [nh, T, L]
            # causal: query t (absolute index n_past+t) sees keys 0..n_past+t
            mask = torch.arange(L)[None, :] > (self.n_past + torch.arange(T))[:, None]
            s = s.masked_fill(mask[None], float("-inf"))
            p = torch.softmax(s, dim=-1)
            a = torch.einsum("htl,hld->thd", p, Vh).reshape(T, nh * Hd)
            x = x + self.mm(a, b + "attn_output.weight")
            h = rmsnorm(x, w[b + "ffn_norm.weight"], hp.eps)
            x = x + self.mm(silu(self.mm(h, b + "ffn_gate.weight")) * self.mm(h, b + "ffn_up.weight"),
                            b + "ffn_down.weight")
        self.n_past += T
        if not want_all:
            x = x[-1:]
        logits = self.mm(rmsnorm(x, w["output_norm.weight"], hp.eps), self.out_name)
        return logits if want_all else logits[0]

    def eval_tokens(self, ids, want_all=False):
        ids = torch.as_tensor(list(ids), dtype=torch.long)
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.hp.n_vocab):
            raise ValueError("token id out of range")
        return self.forward(self.w["token_embd.weight"][ids], want_all)

    def eval_embd(self, rows, want_all=False):
        rows = torch.as_tensor(np.asarray(rows), dtype=DT)
        return self.forward(rows, want_all)

    def greedy(self, prompt_ids, n, first_logits=None):
        """Greedy continuation of n tokens after the prompt (which must already be evaluated if
        first_logits is given). Returns (ids, steps) where steps[i] = (logits_i, margin_i):
        the logits the i-th token was chosen from and the gap between its top-2 values."""
        logits = first_logits if first_logits is not None else self.eval_tokens(prompt_ids)
        ids, steps = [], []
        for i in range(n):
            top2 = torch.topk(logits, 2)
            t = int(top2.indices[0])
            steps.append((logits.clone(), float(top2.values[0] - top2.values[1])))
            ids.append(t)
            if i + 1 < n:
                logits = self.eval_tokens([t])
        return ids, steps


# ---- self-checks on an in-memory random model --------------------------------------------------

def _random_model(seed=0, n_head=4, n_head_kv=2, E=64, F=96, V=50, L=2, kv_f16=False):
    g = torch.Generator().manual_seed(seed)
    hp = HParams(n_vocab=V, n_embd=E, n_layer=L, n_head=n_head, n_head_kv=n_head_kv, n_ff=F, eps=1e-5)
    Hd = hp.head_dim

    def r(*shape, s=0.2):
        return torch.randn(*shape, generator=g, dtype=DT) * s
    w = {"token_embd.weight": r(V, E, s=1.0), "output_norm.weight": 1 + r(E, s=0.1), "output.weight": r(V, E)}
    for il in range(L):
        b = "blk.%d." % il
        w.update({b + "attn_norm.weight": 1 + r(E, s=0.1), b + "attn_q.weight": r(n_head * Hd, E),
                  b + "attn_k.weight": r(n_head_kv * Hd, E), b + "attn_v.weight": r(n_head_kv * Hd, E),
                  b + "attn_output.weight": r(E, n_head * Hd), b + "ffn_norm.weight": 1 + r(E, s=0.1),
                  b + "ffn_gate.weight": r(F, E), b + "ffn_up.weight": r(F, E), b + "ffn_down.weight": r(E, F)})
    return LlamaRef(hp, w, kv_f16=kv_f16)


def _hf_style_forward(m, ids):
    """An independent HF-style forward: un-permute the GGUF Q/K rows back to HF's half-split layout
    (inverse of §3.4: GGUF row 2j+h of a head = HF row h*(Hd/2)+j) and use rotate_half RoPE, plain
    loops over positions and heads. Must equal the NORM-RoPE forward on the GGUF rows."""
    hp, w = m.hp, m.w
    Hd, nh, nkv = hp.head_dim, hp.n_head, hp.n_head_kv

    def unpermute(W, heads):
        W = W.view(heads, Hd // 2, 2, -1)          # GGUF row = 2j + h
        return W.transpose(1, 2).reshape(heads * Hd, -1)   # HF row = h*(Hd/2) + j

    def rot_half(x, p):
        inv = hp.rope_base ** (-torch.arange(0, Hd, 2, dtype=DT) / Hd)
        ang = torch.cat([p * inv, p * inv])
        x1, x2 = x[: Hd // 2], x[Hd // 2:]
        return x * torch.cos(ang) + torch.cat([-x2, x1]) * torch.sin(ang)

    xs = [w["token_embd.weight"][t] for t in ids]
    T = len(ids)
    for il in range(hp.n_layer):
        b = "blk.%d." % il
        Wq, Wk = unpermute(w[b + "attn_q.weight"], nh), unpermute(w[b + "attn_k.weight"], nkv)
        Ks, Vs, Qs = [], [], []
        for t in range(T):
            h = rmsnorm(xs[t], w[b + "attn_norm.weight"], hp.eps)
            Qs.append([rot_half((Wq @ h)[i * Hd:(i + 1) * Hd], float(t)) for i in range(nh)])
            Ks.append([rot_half((Wk @ h)[i * Hd:(i + 1) * Hd], float(t)) for i in range(nkv)])
            Vs.append([(w[b + "attn_v.weight"] @ h)[i * Hd:(i + 1) * Hd] for i in range(nkv)])
        new = []
        for t in range(T):
            heads = []
            for i in range(nh):
                kh = i // (nh // nkv)
                sc = torch.stack([Qs[t][i] @ Ks[u][kh] for u in range(t + 1)]) / math.sqrt(Hd)
                p = torch.exp(sc - sc.max())
                p = p / p.sum()
                heads.append(sum(p[u] * Vs[u][kh] for u in range(t + 1)))
            x = xs[t] + w[b + "attn_output.weight"] @ torch.cat(heads)
            h = rmsnorm(x, w[b + "ffn_norm.weight"], hp.eps)
            g_ = w[b + "ffn_gate.weight"] @ h
            x = x + w[b + "ffn_down.weight"] @ (g_ / (1 + torch.exp(-g_)) * (w[b + "ffn_up.weight"] @ h))
            new.append(x)
        xs = new
    return torch.stack([m.out_w @ rmsnorm(x, w["output_norm.weight"], hp.eps) for x in xs])


def _selftest():
    fails = 0
    m = _random_model()
    ids = [3, 17, 5, 44, 0, 9, 9, 21]
    full = m.eval_tokens(ids, want_all=True)
    # 1. HF-style (rotate_half on un-permuted rows, loops) == NORM RoPE on GGUF rows
    hf = _hf_style_forward(m, ids)
    e = float((full - hf).abs().max())
    print("selftest hf-style vs norm-rope: max abs diff %.3g" % e)
    fails += e > 1e-10
    # 2. prefill in one batch == chunked prefill == token by token
    m.reset()
    a = m.eval_tokens(ids[:3], want_all=True)
    b = m.eval_tokens(ids[3:], want_all=True)
    e = float((torch.cat([a, b]) - full).abs().max())
    m.reset()
    steps = torch.stack([m.eval_tokens([t]) for t in ids])
    e2 = float((steps - full).abs().max())
    print("selftest chunked / incremental vs batch: %.3g %.3g" % (e, e2))
    fails += e > 1e-10 or e2 > 1e-10
    # 3. GQA with n_head_kv == n_head reduces to MHA with duplicated K/V heads: check against a
    #    model whose kv heads are explicitly repeated
    m2 = _random_model(seed=3, n_head=4, n_head_kv=2)
    w = dict(m2.w)
    Hd = m2.hp.head_dim
    for il in range(m2.hp.n_layer):
        for nm in ("attn_k", "attn_v"):
            W = w["blk.%d.%s.weight" % (il, nm)].view(2, Hd, -1)
            w["blk.%d.%s.weight" % (il, nm)] = W.repeat_interleave(2, dim=0).reshape(4 * Hd, -1)
    hp = HParams(m2.hp.n_vocab, m2.hp.n_embd, m2.hp.n_layer, 4, 4, m2.hp.n_ff, m2.hp.eps)
    m3 = LlamaRef(hp, w)
    e = float((m2.eval_tokens(ids, True) - m3.eval_tokens(ids, True)).abs().max())
    print("selftest gqa vs repeated-kv mha: %.3g" % e)
    fails += e > 1e-10
    # 4. F16 KV: stored K/V are exactly fp16-representable; logits move only slightly
    m4 = _random_model(kv_f16=True)
    f4 = m4.eval_tokens(ids, want_all=True)
    ok = all(torch.equal(k, k.to(torch.float16).to(DT)) for k in m4.k)
    rel = float((f4 - full).abs().max() / full.abs().max())
    print("selftest f16 kv: representable %s, rel diff %.3g" % (ok, rel))
    fails += (not ok) or rel > 1e-2 or rel == 0.0
    # 5. activation rounding by hand: one Q8_0 block 0.1, 0.2, ..., 3.2: d = 3.2/127, q = round(x*127/3.2)
    x = torch.arange(1, 33, dtype=DT)[None, :] * 0.1
    d = np.float32(np.float32(3.2) / np.float32(127))
    want = [np.floor(float(np.float32(np.float32(0.1 * k) * (np.float32(1) / d))) + 0.5) * float(np.float16(d))
            for k in range(1, 33)]
    e = float((act_round(x, "Q8_0")[0] - torch.tensor(want, dtype=DT)).abs().max())
    # Q8_K of a 256 block whose max-|x| element is negative: that element maps to exactly +127 * d
    xk = torch.linspace(-2.0, 1.0, 256, dtype=DT)[None, :]
    rk = act_round(xk, "Q8_K")[0]
    e2 = abs(float(rk[0]) + 2.0)
    print("selftest act_round q8_0 %.3g, q8_K extreme %.3g" % (e, e2))
    fails += e > 1e-12 or e2 > 1e-6
    print("llama_ref selftest: %d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        sys.exit(_selftest())
    if len(sys.argv) > 2:
        ref = LlamaRef.from_gguf(sys.argv[1], kv_f16=True)
        prompt = [int(t) for t in sys.argv[2].split(",")]
        ids, steps = ref.greedy(prompt, 16)
        print("greedy:", ids)
        print("margins:", ["%.3g" % s[1] for s in steps])
    else:
        print("usage: llama_ref.py --selftest | llama_ref.py MODEL.gguf 1,2,3")
