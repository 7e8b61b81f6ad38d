"""clip_ref.py - LLaVA-1.5 vision reference in PyTorch float64: preprocessing, CLIP ViT, projector.

Written from specs/formats.md §5 (keys §5.1, tensors and the legacy swapped ffn names §5.2, the
HF-correct encoder §5.3-§5.4, the HF reference preprocessing column of §5.5), independently of
the C engine:
  preprocess: PIL decode -> .convert("RGB") (grey replicated, alpha dropped) -> expand2square with
              int(mean*255) = (122,116,104) for CLIP's mean, image centred at (max-min)//2 ->
              PIL Image.resize((S, S), Image.BICUBIC) (Pillow's antialiased bicubic) -> /255 ->
              (x - mean)/std -> planar [3][S][S]
  encoder:    conv patch embedding (no bias), CLS row first, + position rows, pre_ln, every stored
              pre-LN block (quick-GELU, or erf GELU when clip.use_gelu), drop CLS
  projector:  mm.2 @ gelu_erf(mm.0 @ f + b0) + b2
All stages are returned so the fixtures can check each one.
"""
import math
import sys

import numpy as np
import torch
from PIL import Image

DT = torch.float64


def pad_color(mean):
    """LLaVA's expand2square background: tuple(int(x * 255) for x in image_mean)."""
    return tuple(int(m * 255) for m in mean)


def preprocess(path_or_img, size, mean, std):
    """Returns (pixels [3, S, S] float64 normalised, rgb_u8 [S, S, 3] after the resize)."""
    img = path_or_img if isinstance(path_or_img, Image.Image) else Image.open(path_or_img)
    img = img.convert("RGB")
    w, h = img.size
    if w != h:
        side = max(w, h)
        canvas = Image.new("RGB", (side, side), pad_color(mean))
        canvas.paste(img, ((side - w) // 2, (side - h) // 2))
        img = canvas
    img = img.resize((size, size), Image.BICUBIC)
    u8 = np.asarray(img, dtype=np.uint8)
    x = u8.astype(np.float64) / 255.0
    x = (x - np.asarray(mean, np.float64)) / np.asarray(std, np.float64)
    return x.transpose(2, 0, 1).copy(), u8


def layernorm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)      # biased variance
    return (x - mu) / torch.sqrt(var + eps) * w + b


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class ClipRef:
    def __init__(self, path, act_quant=False):
        """act_quant: round every matmul input to the weight type's vec_dot_type, emulating the
        engine's quantized/F16 dot products (only to size tolerances; golden values are exact)."""
        from gguf_read import GGUFFile
        self.act_quant = act_quant
        g = GGUFFile(path)
        self.gguf = g
        if g.get("general.architecture") != "clip":
            raise ValueError("%s: not a clip file" % path)
        p = "clip.vision."
        self.image_size = int(g.kv[p + "image_size"])
        self.patch_size = int(g.kv[p + "patch_size"])
        self.width = int(g.kv[p + "embedding_length"])
        self.n_ff = int(g.kv[p + "feed_forward_length"])
        self.n_head = int(g.kv[p + "attention.head_count"])
        self.eps = float(g.get(p + "attention.layer_norm_epsilon", 1e-5))
        self.n_block = int(g.kv[p + "block_count"])
        self.mean = [float(v) for v in g.kv[p + "image_mean"]]
        self.std = [float(v) for v in g.kv[p + "image_std"]]
        self.use_gelu = bool(g.get("clip.use_gelu", False))
        ptype = g.get("clip.projector_type", g.get(p + "projector_type", "mlp"))
        if ptype != "mlp":
            raise ValueError("%s: projector %s not supported by the reference" % (path, ptype))
        self.w = {n: torch.from_numpy(g.tensor(n, np.float64)) for n in g.tensor_order}
        self.wtype = {n: g.tensors[n].type_name for n in g.tensor_order}
        W = self.width
        self.n_side = self.image_size // self.patch_size
        self.n_patch = self.n_side ** 2
        # §5.2 legacy swap: ffn_down with ne0 == width (numpy shape [n_ff, width]) is really fc1.
        self.fc, self.fc_names = [], []
        for il in range(self.n_block):
            b = "v.blk.%d." % il
            down, up = self.w[b + "ffn_down.weight"], self.w[b + "ffn_up.weight"]
            if tuple(down.shape) == (self.n_ff, W):      # ne = [W, n_ff]: legacy, swapped
                fc1, b1, fc2, b2 = down, self.w[b + "ffn_down.bias"], up, self.w[b + "ffn_up.bias"]
                self.fc_names.append((b + "ffn_down.weight", b + "ffn_up.weight"))
            else:
                fc1, b1, fc2, b2 = up, self.w[b + "ffn_up.bias"], down, self.w[b + "ffn_down.bias"]
                self.fc_names.append((b + "ffn_up.weight", b + "ffn_down.weight"))
            assert tuple(fc1.shape) == (self.n_ff, W) and tuple(fc2.shape) == (W, self.n_ff), "ffn shapes"
            self.fc.append((fc1, b1, fc2, b2))
        assert tuple(self.w["v.patch_embd.weight"].shape) == (W, 3, self.patch_size, self.patch_size)
        assert tuple(self.w["v.position_embd.weight"].shape) == (self.n_patch + 1, W)
        self.n_embd_out = self.w["mm.2.weight"].shape[0]

    def mm(self, x, W, name):
        if self.act_quant:
            from llama_ref import VEC_DOT, act_round
            x = act_round(x, VEC_DOT[self.wtype[name]])
        return x @ W.T

    def lin(self, x, name):
        """x @ W^T + b for the tensor pair name.weight / name.bias"""
        return self.mm(x, self.w[name + ".weight"], name + ".weight") + self.w[name + ".bias"]

    def preprocess(self, path_or_img):
        return preprocess(path_or_img, self.image_size, self.mean, self.std)

    def encode(self, pixels):
        """pixels [3, S, S] -> dict of stages: patches [n_patch, W] (conv output), clip [n_patch, W]
        (after all blocks, CLS dropped), proj [n_patch, n_embd_out]."""
        w, W, P = self.w, self.width, self.patch_size
        x = torch.as_tensor(pixels, dtype=DT)
        # patch (py, px) in row-major order: sum_{c,ky,kx} Wc[o][c][ky][kx] * img[c][P*py+ky][P*px+kx]
        n = self.n_side
        cols = x.reshape(3, n, P, n, P).permute(1, 3, 0, 2, 4).reshape(n * n, 3 * P * P)
        patches = self.mm(cols, w["v.patch_embd.weight"].reshape(W, 3 * P * P), "v.patch_embd.weight")
        h = torch.cat([w["v.class_embd"][None, :], patches], 0) + w["v.position_embd.weight"]
        h = layernorm(h, w["v.pre_ln.weight"], w["v.pre_ln.bias"], self.eps)
        Hd = W // self.n_head
        T = h.shape[0]
        act = gelu_erf if self.use_gelu else quick_gelu
        for il in range(self.n_block):
            b = "v.blk.%d." % il
            a = layernorm(h, w[b + "ln1.weight"], w[b + "ln1.bias"], self.eps)
            q = self.lin(a, b + "attn_q").view(T, self.n_head, Hd).transpose(0, 1)
            k = self.lin(a, b + "attn_k").view(T, self.n_head, Hd).transpose(0, 1)
            v = self.lin(a, b + "attn_v").view(T, self.n_head, Hd).transpose(0, 1)
            p = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(Hd), dim=-1)     # no mask
            o = (p @ v).transpose(0, 1).reshape(T, W)
            h = h + self.lin(o, b + "attn_out")
            a = layernorm(h, w[b + "ln2.weight"], w[b + "ln2.bias"], self.eps)
            (fc1, b1, fc2, b2), (n1, n2) = self.fc[il], self.fc_names[il]
            h = h + self.mm(act(self.mm(a, fc1, n1) + b1), fc2, n2) + b2
        feat = h[1:]                                                           # drop CLS
        proj = self.lin(gelu_erf(self.lin(feat, "mm.0")), "mm.2")
        return {"patches": patches, "clip": feat, "proj": proj}


def _selftest():
    """Preprocessing geometry on hand-made images, and the patch GEMM vs torch conv2d."""
    fails = 0
    mean = [0.48145466, 0.4578275, 0.40821073]
    if pad_color(mean) != (122, 116, 104):
        print("FAIL pad colour", pad_color(mean))
        fails += 1
    # a 4x2 red image padded to 4x4: rows 0 and 3 are pad colour, rows 1-2 red (offset (4-2)//2 = 1)
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    _, u8 = preprocess(img, 4, mean, [1, 1, 1])      # same size: resize is the identity
    want = np.zeros((4, 4, 3), np.uint8)
    want[:, :] = (122, 116, 104)
    want[1:3, :] = (255, 0, 0)
    if not np.array_equal(u8, want):
        print("FAIL pad geometry\n", u8[..., 0])
        fails += 1
    # 3x6 (odd offset): image at x = (6-3)//2 = 1
    img = Image.new("RGB", (3, 6), (0, 0, 255))
    _, u8 = preprocess(img, 6, mean, [1, 1, 1])
    if not (np.all(u8[:, 1:4] == (0, 0, 255)) and np.all(u8[:, 0] == (122, 116, 104))
            and np.all(u8[:, 4:] == (122, 116, 104))):
        print("FAIL pad geometry odd")
        fails += 1
    # normalisation of a constant image: value (v/255 - mean)/std
    img = Image.new("RGB", (5, 5), (10, 200, 30))
    px, _ = preprocess(img, 5, mean, [0.5, 0.25, 2.0])
    want = [(10 / 255 - mean[0]) / 0.5, (200 / 255 - mean[1]) / 0.25, (30 / 255 - mean[2]) / 2.0]
    if not all(abs(px[c].mean() - want[c]) < 1e-12 for c in range(3)):
        print("FAIL normalise")
        fails += 1
    # patch GEMM == conv2d with stride = kernel
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 16, 16, generator=g, dtype=DT)
    Wc = torch.randn(8, 3, 4, 4, generator=g, dtype=DT)
    n = 4
    cols = x.reshape(3, n, 4, n, 4).permute(1, 3, 0, 2, 4).reshape(n * n, 48)
    got = cols @ Wc.reshape(8, 48).T
    ref = torch.nn.functional.conv2d(x[None], Wc, stride=4)[0].reshape(8, -1).T
    e = float((got - ref).abs().max())
    if e > 1e-12:
        print("FAIL patch gemm vs conv2d", e)
        fails += 1
    print("clip_ref selftest: %d failures" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--selftest":
        sys.exit(_selftest())
    if len(sys.argv) > 2:
        c = ClipRef(sys.argv[1])
        px, _ = c.preprocess(sys.argv[2])
        out = c.encode(px)
        for k, v in out.items():
            print(k, tuple(v.shape), float(v.abs().mean()))
    else:
        print("usage: clip_ref.py --selftest | clip_ref.py MMPROJ.gguf IMAGE.png")
