"""Write golden reference data for the C engine's tests (no Python needed at test time).

Loads the exported F16 GGUF pair through models/gguf_reader.py (so the reference uses the weights
exactly as exported, F16-rounded), runs 3 cases (sample image + prompt) in PyTorch (fp32) and
cross-checks PyTorch against an independent numpy forward that reads the GGUF tensors the way
llama.cpp does (adjacent-pair NORM RoPE on the permuted attn_q/attn_k rows, legacy swapped CLIP
ffn names), then writes under tests/golden/llava_tiny/:

  cases.txt           per case: image path, prompt, token ids, file names + shapes, greedy ids/text
  pixels_0.f32        preprocessed image of case 0, float32 LE, planar [3][S][S]
  vit_<k>.f32         vision tower output (after the last stored block, CLS dropped), first rows
  proj_<k>.f32        projector output (image embeddings fed to the LLM), rows x n_embd
  logits_<k>.f32      logits of the first generated token (after the full prompt), n_vocab floats

    /usr/bin/python3 models/ref_dump.py
"""

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from export import load_gguf_model  # noqa: E402
from gguf_reader import GGUFReader  # noqa: E402
from llava_tiny import prompt_prefix_ids, question_ids  # noqa: E402
from PIL import Image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CASES = [  # (test-split index of a shipped sample image, prompt); case 0 is non-square (padding)
    (24, data.DESCRIBE_PROMPT),
    (103, "What color is the shape in the top right?"),
    (111, "How many shapes are there?"),
]
N_GREEDY = 16


# ---------------------------------------------------------------------------------------------
# independent numpy forward over GGUF tensors (llama.cpp conventions)


def _ln(x, w, b, eps):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def _softmax(a):
    a = a - a.max(-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(-1, keepdims=True)


_erf = np.frompyfunc(math.erf, 1, 1)


def np_clip(v, pixels):
    g = v.tensor
    kv = v.kv
    P, W = kv["clip.vision.patch_size"], kv["clip.vision.embedding_length"]
    H, eps = kv["clip.vision.attention.head_count"], kv["clip.vision.attention.layer_norm_epsilon"]
    S = pixels.shape[-1]
    n = S // P
    patches = pixels.reshape(3, n, P, n, P).transpose(1, 3, 0, 2, 4).reshape(n * n, 3 * P * P)  # row-major
    x = patches @ g("v.patch_embd.weight").reshape(W, -1).T
    x = np.concatenate([g("v.class_embd")[None], x]) + g("v.position_embd.weight")
    x = _ln(x, g("v.pre_ln.weight"), g("v.pre_ln.bias"), eps)
    D = W // H
    for i in range(kv["clip.vision.block_count"]):
        p = f"v.blk.{i}."
        h = _ln(x, g(p + "ln1.weight"), g(p + "ln1.bias"), eps)
        q, k, vv = ((h @ g(p + f"attn_{t}.weight").T + g(p + f"attn_{t}.bias")).reshape(-1, H, D).transpose(1, 0, 2)
                    for t in "qkv")
        a = _softmax(q @ k.transpose(0, 2, 1) / math.sqrt(D)) @ vv
        x = x + a.transpose(1, 0, 2).reshape(-1, W) @ g(p + "attn_out.weight").T + g(p + "attn_out.bias")
        h = _ln(x, g(p + "ln2.weight"), g(p + "ln2.bias"), eps)
        up = h @ g(p + "ffn_down.weight").T + g(p + "ffn_down.bias")  # legacy name: the expanding fc1
        x = x + (up / (1 + np.exp(-1.702 * up))) @ g(p + "ffn_up.weight").T + g(p + "ffn_up.bias")
    f = x[1:]
    z = f @ g("mm.0.weight").T + g("mm.0.bias")
    z = 0.5 * z * (1 + _erf(z / math.sqrt(2)).astype(np.float64))
    return f, z @ g("mm.2.weight").T + g("mm.2.bias")


def np_llama_last_logits(t, emb):
    g = t.tensor
    kv = t.kv
    E, H, L = kv["llama.embedding_length"], kv["llama.attention.head_count"], kv["llama.block_count"]
    Hkv, eps, base = kv["llama.attention.head_count_kv"], kv["llama.attention.layer_norm_rms_epsilon"], \
        kv["llama.rope.freq_base"]
    D = E // H
    T = emb.shape[0]
    rms = lambda x, w: x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w  # noqa: E731
    theta = np.arange(T)[:, None] * base ** (-np.arange(0, D, 2) / D)[None]  # (T, D/2)
    cos, sin = np.cos(theta), np.sin(theta)

    def rope_norm(x):  # (heads, T, D): rotate adjacent pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * cos - x1 * sin
        out[..., 1::2] = x0 * sin + x1 * cos
        return out

    mask = np.triu(np.full((T, T), -np.inf), 1)
    x = emb.astype(np.float64)
    for i in range(L):
        p = f"blk.{i}."
        h = rms(x, g(p + "attn_norm.weight"))
        q = rope_norm((h @ g(p + "attn_q.weight").T).reshape(T, H, D).transpose(1, 0, 2))
        k = rope_norm((h @ g(p + "attn_k.weight").T).reshape(T, Hkv, D).transpose(1, 0, 2))
        v = (h @ g(p + "attn_v.weight").T).reshape(T, Hkv, D).transpose(1, 0, 2)
        k, v = np.repeat(k, H // Hkv, 0), np.repeat(v, H // Hkv, 0)
        a = _softmax(q @ k.transpose(0, 2, 1) / math.sqrt(D) + mask) @ v
        x = x + a.transpose(1, 0, 2).reshape(T, E) @ g(p + "attn_output.weight").T
        h = rms(x, g(p + "ffn_norm.weight"))
        gt = h @ g(p + "ffn_gate.weight").T
        x = x + ((gt / (1 + np.exp(-gt))) * (h @ g(p + "ffn_up.weight").T)) @ g(p + "ffn_down.weight").T
    return rms(x[-1], g("output_norm.weight")) @ g("output.weight").T


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=os.path.join(HERE, "llava-tiny-f16.gguf"))
    ap.add_argument("--mmproj", default=os.path.join(HERE, "mmproj-llava-tiny-f16.gguf"))
    ap.add_argument("--samples", default=os.path.join(HERE, "samples"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "llava_tiny"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    model, tok, cfg = load_gguf_model(args.text, args.mmproj)
    tr, vr = GGUFReader(args.text), GGUFReader(args.mmproj)
    eos = tok.piece_to_id["</s>"]
    prefix = prompt_prefix_ids(tok, data.SYSTEM_PROMPT)
    lines = ["# vlkv llava-tiny golden data; generated by models/ref_dump.py from "
             f"{os.path.basename(args.text)} + {os.path.basename(args.mmproj)}",
             "# float files: raw little-endian float32, row-major, shapes given as rows cols (or 3 S S)",
             f"n_cases {len(CASES)}"]
    for ci, (idx, prompt) in enumerate(CASES):
        img_name = f"test_{idx:05d}.png"
        s = data.sample("test", idx)
        if prompt == data.DESCRIBE_PROMPT:
            gt = s["description"]
        else:
            gt = next(a for qs in s["pool"].values() for q, a in qs if q == prompt)
        img = Image.open(os.path.join(args.samples, img_name)).convert("RGB")
        pixels = data.preprocess(img, cfg.image_size)
        qids = question_ids(tok, prompt)
        with torch.no_grad():
            px = torch.from_numpy(pixels)[None]
            vit = model.vision(px)[0]
            proj = model.encode_image(px)[0]
            x = torch.cat([model.embed(torch.tensor(prefix)), proj, model.embed(torch.tensor(qids))])[None]
            logits, past = model.llm(x)
            first = logits[0, -1]
            # greedy continuation with the KV cache
            ids, margins, pos, nxt_logits = [], [], x.shape[1], first
            for _ in range(N_GREEDY):
                top2 = torch.topk(nxt_logits, 2).values
                margins.append(float(top2[0] - top2[1]))
                nxt = int(nxt_logits.argmax())
                ids.append(nxt)
                if nxt == eos:
                    break
                lg, past = model.llm(model.embed(torch.tensor([nxt]))[None], start_pos=pos, past=past)
                pos += 1
                nxt_logits = lg[0, -1]
        # independent numpy check of the exported bytes / conventions
        f_np, z_np = np_clip(vr, pixels.astype(np.float64))
        emb = np.concatenate([tr.tensor("token_embd.weight")[prefix], z_np.astype(np.float64),
                              tr.tensor("token_embd.weight")[qids]])
        l_np = np_llama_last_logits(tr, emb)
        d_vit = np.abs(f_np - vit.numpy()).max()
        d_proj = np.abs(z_np - proj.numpy()).max() / np.abs(z_np).max()
        d_log = np.abs(l_np - first.numpy()).max() / np.abs(l_np).max()
        print(f"case {ci}: numpy vs torch  vit {d_vit:.2e}  proj rel {d_proj:.2e}  logits rel {d_log:.2e}")
        assert d_proj < 1e-4 and d_log < 1e-4, "numpy (llama.cpp conventions) and PyTorch disagree"

        n_vit_rows = 16
        n_proj_rows = proj.shape[0] if ci == 0 else 16
        files = {}
        if ci == 0:
            files["pixels"] = (pixels, f"3 {cfg.image_size} {cfg.image_size}")
        files["vit"] = (vit.numpy()[:n_vit_rows], f"{n_vit_rows} {vit.shape[1]}")
        files["proj"] = (proj.numpy()[:n_proj_rows], f"{n_proj_rows} {proj.shape[1]}")
        files["logits"] = (first.numpy(), f"{first.shape[0]}")
        lines += [f"case {ci}", f"image models/samples/{img_name}", f"prompt {prompt}",
                  f"ground_truth {gt}",
                  f"prefix_ids {len(prefix)} " + " ".join(map(str, prefix)),
                  f"n_image_tokens {proj.shape[0]}",
                  f"question_ids {len(qids)} " + " ".join(map(str, qids))]
        for key, (arr, shape) in files.items():
            fn = f"{key}_{ci}.f32"
            np.ascontiguousarray(arr, dtype="<f4").tofile(os.path.join(args.out, fn))
            lines.append(f"{key} {fn} {shape}")
        lines += [f"greedy {len(ids)} " + " ".join(map(str, ids)),
                  f"greedy_text {tok.decode([i for i in ids if i != eos]).strip()}",
                  f"greedy_min_top2_margin {min(margins):.4f}",
                  "end"]
        print(f"case {ci}: {prompt!r} -> {tok.decode([i for i in ids if i != eos])!r}  (gt {gt!r})")
    with open(os.path.join(args.out, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
