"""make_golden.py - regenerate the golden fixtures in tests/golden/{llama,clip}/.

    /usr/bin/python3 tests/ref/make_golden.py [--vlkv PATH/TO/vlkv] [--keep DIR]

Runs the C `vlkv mkmodel` (path from --vlkv or $VLKV_BIN) with the fixed command lines below to
make small synthetic models, evaluates them with the independent float64 PyTorch reference
(gguf_read.py, llama_ref.py, clip_ref.py) and writes:
  tests/golden/llama/manifest.txt   mkmodel command lines, cases and their tolerances
  tests/golden/llama/<case>.*.bin   token ids, logits at chosen positions, greedy ids, margins
  tests/golden/clip/manifest.txt    mmproj / llm command lines, images, cases, tolerances
  tests/golden/clip/*.png           the three input images (made here, committed)
  tests/golden/clip/<..>.bin        pixels, patch embeddings, CLIP output, projector output,
                                    LLaVA first-step logits, greedy ids, margins
Models are NOT committed: the C tests (tests/test_golden_{llama,clip}.c) rerun the recorded
mkmodel commands, which are deterministic (seeded PCG in mkmodel), and compare the engine to
these fixtures. The manifest records an FNV-1a 64 hash of every model file ("hash NAME HEX"); the
C tests compare it and print a "regenerate the fixtures" warning when mkmodel's output changed, so
a resulting logits mismatch explains itself (metadata-only changes do not affect the logits).

Fixture file format (.bin, little-endian): "VGLD", u32 dtype (0 = f32, 1 = i32), u32 ndim,
u32 dims[ndim], then the elements (row-major, last dim fastest).

Tolerances (written into the manifests, read by the C tests): for every case the reference is
also run with the engine's documented numerics emulated (llama_ref act_quant: activations rounded
to the weight type's vec_dot_type before each matmul: Q8_0 for Q4_0/Q8_0, Q8_K for K-quants, fp16
for F16; F16 KV) and the bound on max|dlogit| / max|logit| is 4x the worst deviation of that
emulation from the exact reference, floored at 2e-4 (fp32 accumulation over K <= 512 and
transcendental differences; 5e-4 with F16 KV, see tolerance()). The engine may take other paths (BLAS on dequantized weights for
prefill) whose error is smaller than the emulated one, so 4x leaves room without hiding a real bug:
a wrong RoPE pair, a missing norm or a wrong dequantizer moves logits by O(1) relative.

Why not compare with the emulation itself at a tight bound: activation quantization is
discontinuous, so any upstream difference (fp32 vs float64, summation order) flips the rounding
of the elements near a .5 boundary, and the flips cascade through the layers until the two runs
carry independent quantization noise of full size (measured: ~2% of max|logit| for Q8_0/Q8_K
activations on these models, even where one layer was bit-exact). The emulation is therefore only
used for the size of that noise. For the same reason greedy ids of quantized models can diverge
from the exact reference at near-ties; pick_prompt() chooses prompts with large greedy margins so
the free-running comparison covers as many steps as possible.
"""
import argparse
import os
import shlex
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clip_ref import ClipRef  # noqa: E402
from llama_ref import LlamaRef  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
OUT_LLAMA = os.path.join(ROOT, "tests", "golden", "llama")
OUT_CLIP = os.path.join(ROOT, "tests", "golden", "clip")

# ---- the synthetic models ----------------------------------------------------------------------
# Shapes: 2 layers, n_embd 256, n_ff 512 (K-quants need row lengths % 256 == 0), 4 heads of 64,
# vocab 512. `--type` sets every 2-D weight including token_embd and output.
LLAMA_BASE = "--n-layer 2 --n-embd 256 --n-ff 512 --n-head 4 --n-vocab 512 --seed 7"
LLAMA_MODELS = [
    ("f32", LLAMA_BASE + " --type f32"),
    ("f16", LLAMA_BASE + " --type f16"),
    ("bf16", LLAMA_BASE + " --type bf16"),
    ("q8_0", LLAMA_BASE + " --type q8_0"),
    ("q4_0", LLAMA_BASE + " --type q4_0"),
    ("q4_1", LLAMA_BASE + " --type q4_1"),
    ("q5_0", LLAMA_BASE + " --type q5_0"),
    ("q5_1", LLAMA_BASE + " --type q5_1"),
    ("q4_k", LLAMA_BASE + " --type q4_K"),
    ("q5_k", LLAMA_BASE + " --type q5_K --rope-base 500000 --rms-eps 1e-6"),
    ("q6_k", LLAMA_BASE + " --type q6_K"),
    # llama.cpp's Q4_K_M mix (Q4_K, Q6_K attn_v/ffn_down on use_more_bits layers, Q6_K output)
    ("q4_k_m", LLAMA_BASE.replace("--n-layer 2", "--n-layer 3") + " --ftype q4_k_m"),
    ("tied_q8_0", LLAMA_BASE + " --type q8_0 --tied"),
    ("gqa_f16", "--n-layer 3 --n-embd 256 --n-ff 768 --n-head 4 --n-head-kv 2 --n-vocab 384 --seed 9 --type f16"),
]
PROMPT_LEN = 20
SPLIT = (7, 13)           # C test: eval [0,7), eval [7,13), then one token at a time
LONG_LEN, LONG_SPLIT = 48, (40, 44)   # a first chunk >= 32 tokens takes the engine's GEMM/BLAS prefill
# (case, model, kv type, prompt length, split). F16 KV is the engine default; the F32 KV cases
# check the exact-storage path; *_long cases cover the large-batch prefill path.
LLAMA_CASES = [(m, m, "f16", PROMPT_LEN, SPLIT) for m, _ in LLAMA_MODELS] + [
    ("f32_kvf32", "f32", "f32", PROMPT_LEN, SPLIT), ("q8_0_kvf32", "q8_0", "f32", PROMPT_LEN, SPLIT),
    ("f16_long", "f16", "f16", LONG_LEN, LONG_SPLIT), ("q4_k_long", "q4_k", "f16", LONG_LEN, LONG_SPLIT),
    ("q4_0_long", "q4_0", "f32", LONG_LEN, LONG_SPLIT)]
N_GREEDY = 16

MMPROJ_BASE = "--mmproj --image-size 32 --patch-size 8 --n-embd 64 --n-ff 256 --n-head 4 --n-layer 2 --n-embd-out 256 --seed 5"
IMAGES = ["rgb_45x29.png", "grey_20x20.png", "rgba_37x50.png"]
# (name, mkmodel args, images): F32 and Q8_0 (quantized position embedding) on every image; an
# F16 tower with erf GELU (clip.use_gelu), another grid (48 px / 16 px patches, 3 blocks, 2 heads)
# and a Q4_0 one on a single image each to keep the fixtures small.
MMPROJ_MODELS = [
    ("mm_f32", MMPROJ_BASE + " --type f32 --type-patch f32", IMAGES),
    ("mm_q8_0", MMPROJ_BASE + " --type q8_0", IMAGES),
    ("mm_f16_gelu", "--mmproj --image-size 48 --patch-size 16 --n-embd 64 --n-ff 128 --n-head 2 --n-layer 3 "
                    "--n-embd-out 256 --n-proj-hidden 128 --seed 6 --type f16 --use-gelu", IMAGES[:1]),
    ("mm_q4_0", MMPROJ_BASE.replace("--seed 5", "--seed 8") + " --type q4_0", IMAGES[2:]),
]
LLAVA_LLM = ("llava_llm", LLAMA_BASE.replace("--seed 7", "--seed 3") + " --type f16")


def write_bin(path, arr):
    arr = np.ascontiguousarray(arr)
    if arr.dtype.kind == "f":
        dtype, data = 0, arr.astype("<f4")
    elif arr.dtype.kind in "iu":
        dtype, data = 1, arr.astype("<i4")
    else:
        raise TypeError(arr.dtype)
    with open(path, "wb") as f:
        f.write(b"VGLD" + struct.pack("<II", dtype, arr.ndim) + struct.pack("<%dI" % arr.ndim, *arr.shape))
        f.write(data.tobytes())


def fnv1a64(path):
    """FNV-1a 64 of the file (the C tests compute the same to detect a changed mkmodel)."""
    with open(path, "rb") as f:
        data = np.frombuffer(f.read(), dtype=np.uint8)
    h = 0xCBF29CE484222325
    for b in data.tolist():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def mkmodel(vlkv, args, path):
    cmd = [vlkv, "mkmodel"] + shlex.split(args) + ["-o", path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("mkmodel failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))


def prompt_tokens(n_vocab, n, seed):
    """BOS then ids from a fixed xorshift stream over [3, n_vocab) (no control tokens)."""
    s = seed or 1
    ids = [1]
    while len(ids) < n:
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        ids.append(3 + s % (n_vocab - 3))
    return ids


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def run_llama_case(path, kv, tokens, act_quant, split):
    """Logits at the split positions (prefill chunks then single tokens) and the greedy run."""
    m = LlamaRef.from_gguf(path, kv_f16=(kv == "f16"), act_quant=act_quant)
    a, b = split
    rows, pos = [], []
    rows.append(m.eval_tokens(tokens[:a]))
    pos.append(a - 1)
    rows.append(m.eval_tokens(tokens[a:b]))
    pos.append(b - 1)
    for i in range(b, len(tokens)):
        rows.append(m.eval_tokens([tokens[i]]))
        pos.append(i)
    ids, steps = m.greedy(None, N_GREEDY, first_logits=rows[-1])
    return torch.stack(rows), pos, ids, steps


def pick_prompt(path, kv, seed0, n_tok, n_try=8):
    """Of n_try candidate prompts, the one whose 16 greedy steps have the largest smallest top-2
    margin (relative to max|logit|): random-weight models have near-uniform logits, and a greedy
    comparison is only informative where the margins exceed the engine's rounding noise."""
    m = LlamaRef.from_gguf(path, kv_f16=(kv == "f16"))
    best = None
    for k in range(n_try):
        tokens = prompt_tokens(m.hp.n_vocab, n_tok, seed=seed0 + 101 * k)
        m.reset()
        logits = m.eval_tokens(tokens)
        _, steps = m.greedy(None, N_GREEDY, first_logits=logits)
        score = min(st[1] / float(st[0].abs().max()) for st in steps)
        if best is None or score > best[0]:
            best = (score, tokens)
    return best[1]


def tolerance(exact, emul, kv):
    # floors: fp32 accumulation (2e-4); with F16 KV also the fp16 rounding of K/V, which the
    # engine applies to fp32 values and the reference to float64 ones, so rare round-to-nearest
    # ties go different ways (one fp16 step = 2^-11 of an element; measured ~6e-5 on logits)
    return max(2e-4 if kv == "f32" else 5e-4, 4.0 * rel_err(emul, exact))


def make_llama(vlkv, tmp, manifest):
    os.makedirs(OUT_LLAMA, exist_ok=True)
    paths = {}
    for name, args in LLAMA_MODELS:
        paths[name] = os.path.join(tmp, "golden_%s.gguf" % name)
        mkmodel(vlkv, args, paths[name])
        manifest.append("model %s %s" % (name, args))
        manifest.append("hash %s %s" % (name, fnv1a64(paths[name])))
    for case, model, kv, n_tok, split in LLAMA_CASES:
        tokens = pick_prompt(paths[model], kv, seed0=len(case) * 7919 + 17, n_tok=n_tok)
        logits, pos, ids, steps = run_llama_case(paths[model], kv, tokens, False, split)
        elog, _, eids, esteps = run_llama_case(paths[model], kv, tokens, True, split)
        tol = tolerance(logits, elog, kv)
        margins = np.array([s[1] for s in steps])
        scale = float(logits.abs().max())
        same = ids == eids
        print("%-12s kv=%s  emulated rel err %.2e -> tol %.2e  greedy emulated==exact: %s  min margin %.3g (%.2e rel)"
              % (case, kv, rel_err(elog, logits), tol, same, margins.min(), margins.min() / scale))
        base = os.path.join(OUT_LLAMA, case)
        write_bin(base + ".tokens.bin", np.array(tokens, np.int32))
        write_bin(base + ".pos.bin", np.array(pos, np.int32))
        write_bin(base + ".logits.bin", logits.numpy().astype(np.float32))
        write_bin(base + ".greedy.bin", np.array(ids, np.int32))
        write_bin(base + ".margins.bin", margins.astype(np.float32))
        write_bin(base + ".steps.bin", torch.stack([st[0] for st in steps]).numpy().astype(np.float32))
        manifest.append("case %s %s %s %d %d %.3g" % (case, model, kv, split[0], split[1], tol))


# ---- images -------------------------------------------------------------------------------------

def make_images():
    """Three small PNGs exercising the preprocessing: non-square RGB (padded top/bottom, downscaled
    with antialiasing), grey-scale (replicated to RGB, upscaled), RGBA (alpha dropped, padded
    left/right, odd offset)."""
    from PIL import Image
    rng = np.random.default_rng(2024)
    y, x = np.mgrid[0:29, 0:45]
    rgb = np.stack([(x * 255 // 44), (y * 255 // 28), ((x + y) * 7 % 256)], -1).astype(np.uint8)
    rgb[8:20, 10:30] = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)   # noise patch: sharp edges
    rgb[3, :] = 255
    Image.fromarray(rgb, "RGB").save(os.path.join(OUT_CLIP, IMAGES[0]))
    y, x = np.mgrid[0:20, 0:20]
    grey = ((x * 13 + y * 7) % 256).astype(np.uint8)
    grey[5:15, 5:15] = 0
    grey[8:12, 8:12] = 255
    Image.fromarray(grey, "L").save(os.path.join(OUT_CLIP, IMAGES[1]))
    y, x = np.mgrid[0:50, 0:37]
    rgba = np.stack([(x * 6) % 256, 255 - (y * 5) % 256, (x * y) % 256, (x * 7 + y * 3) % 256], -1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(os.path.join(OUT_CLIP, IMAGES[2]))


def nmse(a, b):
    return float(((a - b) ** 2).sum() / (b ** 2).sum())


def make_clip(vlkv, tmp, manifest):
    """Per (mmproj, image): the stages of the exact reference, and tolerances from the emulation:
    NMSE bounds = 16x the emulated NMSE (4x in amplitude), floored at 1e-9 (fp32 through a few
    layers); LLaVA logits bound = 4x the rel. deviation of the emulated pipeline (emulated
    projector rows into the emulated LLM), floored at 2e-4."""
    os.makedirs(OUT_CLIP, exist_ok=True)
    make_images()
    llm_name, llm_args = LLAVA_LLM
    llm_path = os.path.join(tmp, "golden_%s.gguf" % llm_name)
    mkmodel(vlkv, llm_args, llm_path)
    manifest.append("llm %s %s" % (llm_name, llm_args))
    manifest.append("hash %s %s" % (llm_name, fnv1a64(llm_path)))
    for img in IMAGES:
        manifest.append("image %s" % img)
    n_vocab = LlamaRef.from_gguf(llm_path).hp.n_vocab

    def llava(proj, act_quant, pre, post):
        m = LlamaRef.from_gguf(llm_path, kv_f16=True, act_quant=act_quant)
        m.eval_tokens(pre)
        m.eval_embd(proj)
        return m, m.eval_tokens(post)

    def pick(proj, n_try=6):
        """text around the image whose greedy continuation has the largest smallest margin"""
        best = None
        for k in range(n_try):
            pre = prompt_tokens(n_vocab, 9, seed=101 + 37 * k)
            post = prompt_tokens(n_vocab, 7, seed=202 + 37 * k)[1:]     # no BOS after the image
            m, logits = llava(proj, False, pre, post)
            _, steps = m.greedy(None, N_GREEDY, first_logits=logits)
            score = min(st[1] / float(st[0].abs().max()) for st in steps)
            if best is None or score > best[0]:
                best = (score, pre, post)
        return best[1], best[2]

    for mm_name, mm_args, mm_images in MMPROJ_MODELS:
        mm_path = os.path.join(tmp, "golden_%s.gguf" % mm_name)
        mkmodel(vlkv, mm_args, mm_path)
        manifest.append("mmproj %s %s" % (mm_name, mm_args))
        manifest.append("hash %s %s" % (mm_name, fnv1a64(mm_path)))
        c = ClipRef(mm_path)
        ce = ClipRef(mm_path, act_quant=True)
        for img in mm_images:
            stem = "%s.%s" % (mm_name, img.split(".")[0])
            px, _ = c.preprocess(os.path.join(OUT_CLIP, img))
            out = c.encode(px)
            emu = ce.encode(px)
            for k in ("patches", "clip", "proj"):
                write_bin(os.path.join(OUT_CLIP, stem + ".%s.bin" % k), out[k].numpy().astype(np.float32))
            write_bin(os.path.join(OUT_CLIP, stem + ".pixels.bin"), px.astype(np.float32))
            # the LLaVA pair: text before the image, the image rows, text after; greedy after
            pre, post = pick(out["proj"])
            m, logits = llava(out["proj"], False, pre, post)
            ids, steps = m.greedy(None, N_GREEDY, first_logits=logits)
            _, elogits = llava(emu["proj"], True, pre, post)
            margins = np.array([s[1] for s in steps])
            write_bin(os.path.join(OUT_CLIP, stem + ".pre.bin"), np.array(pre, np.int32))
            write_bin(os.path.join(OUT_CLIP, stem + ".post.bin"), np.array(post, np.int32))
            write_bin(os.path.join(OUT_CLIP, stem + ".logits.bin"), logits.numpy().astype(np.float32))
            write_bin(os.path.join(OUT_CLIP, stem + ".greedy.bin"), np.array(ids, np.int32))
            write_bin(os.path.join(OUT_CLIP, stem + ".margins.bin"), margins.astype(np.float32))
            write_bin(os.path.join(OUT_CLIP, stem + ".steps.bin"),
                      torch.stack([st[0] for st in steps]).numpy().astype(np.float32))
            e_vit, e_proj, e_log = nmse(emu["clip"], out["clip"]), nmse(emu["proj"], out["proj"]), rel_err(elogits, logits)
            tv, tp, tl = max(1e-9, 16 * e_vit), max(1e-9, 16 * e_proj), max(2e-4, 4 * e_log)
            manifest.append("case %s %s %s %s %.3g %.3g %.3g" % (stem, mm_name, llm_name, img, tv, tp, tl))
            print("%-22s emulated nmse vit %.2e proj %.2e, logits rel %.2e; min margin %.3g (scale %.3g)"
                  % (stem, e_vit, e_proj, e_log, margins.min(), float(logits.abs().max())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vlkv", default=os.environ.get("VLKV_BIN"), help="path of the vlkv binary")
    ap.add_argument("--only", choices=["llama", "clip"])
    ap.add_argument("--keep", help="write the models here instead of a temporary directory")
    a = ap.parse_args()
    if not a.vlkv:
        sys.exit("need --vlkv PATH or $VLKV_BIN")
    tmp = a.keep or tempfile.mkdtemp(prefix="vlkv_golden_")
    os.makedirs(tmp, exist_ok=True)
    head = ["# generated by tests/ref/make_golden.py -- do not edit; regenerate with",
            "#   /usr/bin/python3 tests/ref/make_golden.py --vlkv build/vlkv"]
    if a.only in (None, "llama"):
        man = head + ["# model NAME MKMODEL-ARGS...   (the test appends -o FILE); hash NAME FNV1A64-OF-FILE",
                      "# case NAME MODEL KV SPLIT_A SPLIT_B TOL_REL   (see test_golden_llama.c)"]
        make_llama(a.vlkv, tmp, man)
        with open(os.path.join(OUT_LLAMA, "manifest.txt"), "w") as f:
            f.write("\n".join(man) + "\n")
    if a.only in (None, "clip"):
        man = head + ["# llm NAME ARGS | image FILE | mmproj NAME ARGS | hash NAME FNV1A64-OF-FILE |",
                      "# case STEM MMPROJ LLM IMAGE TOL_NMSE_VIT TOL_NMSE_PROJ TOL_REL_LOGITS (see test_golden_clip.c)"]
        make_clip(a.vlkv, tmp, man)
        with open(os.path.join(OUT_CLIP, "manifest.txt"), "w") as f:
            f.write("\n".join(man) + "\n")


if __name__ == "__main__":
    main()
