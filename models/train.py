"""Train the tiny LLaVA on the procedural shapes data (CPU, 2 threads, wall-clock budget).

Every training image becomes one multi-turn LLaVA conversation (like LLaVA-1.5's VQA mixtures):
    [BOS] system... USER: <image rows> \\n q1 ASSISTANT: a1</s> USER: q2 ASSISTANT: a2</s> ...
with one question of every available type plus a few extra ones in random order and, for 60%
of the images, the detailed-description turn (put first half of those times, since evaluation
asks single-turn questions right after the image). The loss is on answer tokens + </s> only.

Reproducible: torch.manual_seed(seed) for the init; image i of the stream is data.sample("train",
i); the turn order comes from numpy Generator([seed, i]). The only non-determinism is the wall
clock (training stops at --minutes; the LR schedule follows elapsed time), so the number of
steps depends on machine load; it is logged.

Validation (every --val-every steps) = teacher-forced exact match of the whole answer (all answer
tokens and </s> are argmax; identical to greedy-decoding correctness) on single-turn val-split
questions, per question type, plus token accuracy of descriptions. The best checkpoint by
0.7 * QA accuracy + 0.3 * description token accuracy is kept.

    /usr/bin/python3 models/train.py --minutes 55 --out /tmp/vlkv_train
"""

import argparse
import contextlib
import json
import math
import re
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from llava_tiny import Config, LlavaTiny, answer_ids, prompt_prefix_ids, question_ids  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
IGNORE = -100


def cpu_has_bf16():
    """bf16 matmuls are only fast with AVX512_BF16 or AMX; on AVX2-only CPUs they run ~30x slower
    than fp32 (measured 4 vs 122 GFLOP/s), so autocast would cripple training there."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
        return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False


AMP_BF16 = True  # set in main() from --amp


def amp():
    return torch.autocast("cpu", dtype=torch.bfloat16) if AMP_BF16 else contextlib.nullcontext()


def build_suffix(tok, turns):
    """turns: [(question, answer)] -> (suffix ids, targets, qpos) with targets[j] = id of
    suffix[j+1] when that token is part of an answer (incl. </s>), else IGNORE, and qpos[k] the
    suffix position whose target is turn k's first answer token (the "ASSISTANT:" colon)."""
    ids, sup, qpos = [], [], []
    for k, (q, a) in enumerate(turns):
        qi = question_ids(tok, q, first_turn=(k == 0))
        ai = answer_ids(tok, a)
        qpos.append(len(ids) + len(qi) - 1)
        ids += qi + ai
        sup += [False] * len(qi) + [True] * len(ai)
    tgt = [ids[j + 1] if sup[j + 1] else IGNORE for j in range(len(ids) - 1)] + [IGNORE]
    return ids, tgt, qpos


# the words a question picks its object(s) by: colours, shapes, positions, relations
CONTENT_WORDS = (set(data.COLORS) | set(data.SHAPES) | set(data.PLURAL.values())
                 | {"top", "bottom", "left", "right", "center", "above", "below"})


def content_positions(tok, ids, tgt, qpos):
    """Per turn of a build_suffix conversation, the suffix positions of its question's content-word
    tokens (every data word is one piece): the tokens up to that turn's colon that are not answer
    tokens (an answer token is one its predecessor's target supervises)."""
    out, start = [], 0
    for q in qpos:
        out.append([j for j in range(start, q) if (j == 0 or tgt[j - 1] == IGNORE)
                    and tok.pieces[ids[j]].lstrip("\u2581") in CONTENT_WORDS])
        start = q + 1
    return out


def _words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


def referents(scene, question, answer, anchor_only=False):
    """Indices of the objects a short-answer question is about (the ones whose patches the answer
    must be read from), [] when there is none (a "no" or a count of zero) or for descriptions.
    Relation questions refer to the related object, the one the answer describes, or with
    anchor_only to the object the question names ("the square" of "left of the square")."""
    objs = scene["objects"]
    if question == data.DESCRIBE_PROMPT or answer in ("no", "zero"):
        return []
    m = re.search(r"(left of|right of|above|below) the (.+)\?$", question)
    if m:
        anchor = referents(scene, "the " + m.group(2) + "?", "")
        if len(anchor) != 1 or anchor_only:
            return anchor if len(anchor) == 1 else []
        rel = data._related(scene, objs[anchor[0]], m.group(1))
        return [objs.index(rel[0])] if len(rel) == 1 else []
    w = _words(question)
    cols = [c for c in data.COLORS if c in w]
    shapes = [sh for sh in data.SHAPES if sh in w or data.PLURAL[sh] in w]
    poss = [p for p, ph in data.POS_PHRASE.items() if ph in question]
    return [i for i, o in enumerate(objs)
            if (not cols or o["color"] in cols) and (not shapes or o["shape"] in shapes)
            and (not poss or o["pos"] in poss)]


def train_turns(s, rng, n_extra=5, p_desc=0.6):
    """A conversation about sample s: ([(question, answer)], [kind]) with kind the question type
    or "describe"."""
    pool = s["pool"]
    turns = [(qa["question"], qa["answer"]) for qa in s["qas"]]
    kinds = [qa["type"] for qa in s["qas"]]
    seen = {q for q, _ in turns}
    for _ in range(n_extra):
        qt = data.QTYPES[rng.integers(len(data.QTYPES))]
        qa = data.pick_question(pool, qt, rng)
        if qa is not None and qa[0] not in seen:
            seen.add(qa[0])
            turns.append(qa)
            kinds.append(qt)
    order = rng.permutation(len(turns))
    turns, kinds = [turns[i] for i in order], [kinds[i] for i in order]
    if rng.random() < p_desc:
        at = 0 if rng.random() < 0.5 else int(rng.integers(len(turns) + 1))
        turns.insert(at, (data.DESCRIBE_PROMPT, s["description"]))
        kinds.insert(at, "describe")
    return turns, kinds


def sub_state(sd, name):
    """The entries of state dict sd under module `name`, with that prefix removed."""
    return {k[len(name) + 1:]: v for k, v in sd.items() if k.startswith(name + ".")}


def parse_type_weights(spec):
    """"color=3,relation=2" -> {"color": 3.0, "relation": 2.0}; kinds not named weigh 1."""
    out = {}
    for part in filter(None, (spec or "").split(",")):
        k, _, v = part.partition("=")
        try:
            w = float(v)
        except ValueError:
            w = math.nan
        if k not in data.QTYPES + ["describe"] or not 0 < w < math.inf:
            raise SystemExit(f"--type-weight: bad entry {part!r} (kind=weight, weight > 0; kinds: "
                             f"{', '.join(data.QTYPES)}, describe)")
        out[k] = w
    return out


def token_weights(tgt, qpos, kinds, weights):
    """Per-target weights for one conversation: each answer token weighs its turn kind's weight.
    Turn k's answer targets run from qpos[k] to the next IGNORE."""
    w = [1.0] * len(tgt)
    for j, kind in zip(qpos, kinds):
        while j < len(tgt) and tgt[j] != IGNORE:
            w[j] = weights.get(kind, 1.0)
            j += 1
    return w


N_AUX = (len(data.COLORS) + 1, len(data.SHAPES) + 1, len(data.SIZES) + 1, 10)  # class 0 = background
AUX_NAMES = ("colour", "shape", "size", "cell")


def n_aux_used(args):
    """Aux targets in the loss: colour, shape, size (+ cell with --aux-cell)."""
    return 4 if args.aux_cell else 3


def object_masks(scene, image_size, patch):
    """Per object (scene order), which patches (row-major, n*n) it covers, in the coordinates of
    the preprocessed image (centre-padded square, resized), and each patch's 3x3 grid cell
    (1-9, 0 = padding). A patch belongs to an object when its centre lies within
    max(0.8 r, 0.72 patch) of the object's centre."""
    w, h = scene["width"], scene["height"]
    S = max(w, h)
    offx, offy = (S - w) // 2, (S - h) // 2
    n = image_size // patch
    step = S / n  # patch size in original pixels
    c = (np.arange(n) + 0.5) * step
    px, py = c[None, :] - offx, c[:, None] - offy  # patch centres in canvas coordinates
    inside_canvas = (px >= 0) & (px < w) & (py >= 0) & (py < h)
    cell = (np.clip(py // (h / 3.0), 0, 2) * 3 + np.clip(px // (w / 3.0), 0, 2) + 1).astype(np.int64)
    cell = np.where(inside_canvas, cell, 0)
    masks = [np.hypot(px - o["cx"], py - o["cy"]) <= max(0.8 * o["r"], 0.72 * step) for o in scene["objects"]]
    return masks, cell


def patch_labels(scene, image_size, patch):
    """Per-patch (colour, shape, size) class of the object under the patch centre, 0 = background,
    and the 3x3 grid cell (1-9, 0 = padding) the patch centre falls in. The cell label makes the
    features carry where they are on the canvas, which position and relation questions need."""
    masks, cell = object_masks(scene, image_size, patch)
    n = image_size // patch
    lab = np.zeros((4, n, n), np.int64)
    lab[3] = cell
    colors, shapes, sizes = list(data.COLORS), data.SHAPES, list(data.SIZES)
    objs = scene["objects"]
    for k in sorted(range(len(objs)), key=lambda k: -objs[k]["r"]):  # small ones win overlaps
        o, inside = objs[k], masks[k]
        lab[0][inside] = colors.index(o["color"]) + 1
        lab[1][inside] = shapes.index(o["shape"]) + 1
        lab[2][inside] = sizes.index(o["size"]) + 1
    return lab.reshape(4, n * n)


def collate(items, pad_id):
    T = max(len(i[1]) for i in items)
    pix = torch.from_numpy(np.stack([i[0] for i in items]))
    ids = torch.full((len(items), T), pad_id, dtype=torch.long)
    tgt = torch.full((len(items), T), IGNORE, dtype=torch.long)
    for b, (_, si, st) in enumerate(items):
        ids[b, :len(si)] = torch.tensor(si)
        tgt[b, :len(st)] = torch.tensor(st)
    return pix, ids, tgt


def make_val(tok, cfg, n_images):
    """Single-turn validation items: (pixels, ids, tgt, kind) with kind = qtype or 'describe'."""
    items = []
    for i in range(n_images):
        s = data.sample("val", i)
        px = data.preprocess(s["image"], cfg.image_size)
        for qa in s["qas"]:
            ids, tgt, _ = build_suffix(tok, [(qa["question"], qa["answer"])])
            items.append((px, ids, tgt, qa["type"]))
        ids, tgt, _ = build_suffix(tok, [(data.DESCRIBE_PROMPT, s["description"])])
        items.append((px, ids, tgt, "describe"))
    return items


@torch.no_grad()
def validate(model, prefix, val_items, pad_id, bs=32):
    model.eval()
    stats = {}
    tot_loss, tot_tok = 0.0, 0
    for k in range(0, len(val_items), bs):
        chunk = val_items[k:k + bs]
        pix, ids, tgt = collate([(c[0], c[1], c[2]) for c in chunk], pad_id)
        with amp():
            logits = model.forward_train(pix, prefix, ids)
        logits = logits.float()
        mask = tgt != IGNORE
        tot_loss += F.cross_entropy(logits[mask], tgt[mask], reduction="sum").item()
        tot_tok += int(mask.sum())
        ok = (logits.argmax(-1) == tgt) | ~mask
        for b, c in enumerate(chunk):
            st = stats.setdefault(c[3], [0, 0, 0, 0])  # exact, n, tok_ok, tok_n
            st[0] += int(ok[b].all())
            st[1] += 1
            st[2] += int(((logits[b].argmax(-1) == tgt[b]) & mask[b]).sum())
            st[3] += int(mask[b].sum())
    model.train()
    qa_types = [t for t in data.QTYPES if t in stats]
    acc = {t: stats[t][0] / stats[t][1] for t in qa_types}
    acc["qa_all"] = sum(stats[t][0] for t in qa_types) / sum(stats[t][1] for t in qa_types)
    acc["desc_exact"] = stats["describe"][0] / stats["describe"][1]
    acc["desc_tok"] = stats["describe"][2] / stats["describe"][3]
    acc["loss"] = tot_loss / tot_tok
    return acc


def supervised_mass_loss(model, entries, layers):
    """entries: (layer, batch row, query position, key positions). For each layer, the mean over its
    entries of -log(attention mass its kept head puts at the query on those keys); averaged over layers."""
    total = 0.0
    for li in layers:
        sel = [e for e in entries if e[0] == li]
        if not sel:
            continue
        kept = model.llm.layers[li].self_attn.kept   # (B, T, S) probabilities of the kept head
        mask = torch.zeros(len(sel), kept.shape[-1])
        for k, e in enumerate(sel):
            mask[k, e[3]] = 1.0
        rows = kept[torch.tensor([e[1] for e in sel]), torch.tensor([e[2] for e in sel])]
        total = total + -torch.log((rows * mask).sum(-1) + 1e-6).mean() / len(layers)
    return total


def patch_stage(name, cfg, features, params, head, minutes, lr0, B, n_used, data_offset, args, log):
    """A per-patch classification stage: head(features(pixels)) predicts the colour / shape / size
    (and cell, n_used = 4) labels of fresh training images (indices from data_offset on, disjoint
    from the conversation stream); only `params` learn. Stage 0 (features = the ViT) stands in for
    LLaVA's pretrained CLIP; the projector stage (features = ViT + projector, tower frozen) makes
    every attribute and the grid cell linear in the embeddings the LM reads."""
    opt = torch.optim.AdamW(params, lr=lr0, betas=(0.9, 0.95), weight_decay=args.wd)
    val = [data.sample("val", i) for i in range(64)]
    vpx = torch.from_numpy(np.stack([data.preprocess(s["image"], cfg.image_size) for s in val]))
    vlab = torch.from_numpy(np.stack([patch_labels(s["scene"], cfg.image_size, cfg.patch_size) for s in val]))
    t0, step = time.time(), 0
    while time.time() - t0 < minutes * 60:
        progress = (time.time() - t0) / (minutes * 60)
        lr = lr0 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr
        ss = [data.sample("train", data_offset + step * B + b) for b in range(B)]
        px = torch.from_numpy(np.stack([data.preprocess(s["image"], cfg.image_size) for s in ss]))
        lab = torch.from_numpy(np.stack([patch_labels(s["scene"], cfg.image_size, cfg.patch_size) for s in ss]))
        with amp():
            lg = head(features(px))
        loss = sum(F.cross_entropy(part.float().reshape(-1, part.shape[-1]), lab[:, k].reshape(-1))
                   for k, part in enumerate(lg.split(N_AUX, dim=-1)) if k < n_used)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 200 == 0 or time.time() - t0 >= minutes * 60:
            with torch.no_grad(), amp():
                vl = head(features(vpx)).float()
            obj = vlab[:, 0] > 0
            acc = [((p.argmax(-1) == vlab[:, k]) & obj).sum().item() / max(1, obj.sum().item())
                   for k, p in enumerate(vl.split(N_AUX, dim=-1))]
            el = time.time() - t0
            log(f"{name} step {step:5d}  t {el / 60:6.2f} min  lr {lr:.2e}  aux {loss.item():.4f}  "
                f"img/s {step * B / el:.1f}  object-patch acc " + " ".join(f"{n} {a:.3f}" for n, a in zip(AUX_NAMES, acc)))


@torch.no_grad()
def whiten_projector(model, cfg, eps_rel, log, n_images=256):
    """Fold z = A (y - mu), A = U diag(1 / sqrt(lambda + eps)) U^T (regularised ZCA, eps = eps_rel x the
    largest eigenvalue) into mm.2, with mu and (U, lambda) the mean and covariance eigensystem of the
    image embeddings y of n_images training images (indices from 3 x 10**7 on, outside every other
    stream). Exact: mm.2 stays one Linear, W' = A W, b' = A (b - mu)."""
    px = torch.from_numpy(np.stack([data.preprocess(data.sample("train", 3 * 10**7 + i)["image"], cfg.image_size)
                                    for i in range(n_images)]))
    y = torch.cat([model.encode_image(px[k:k + 64]) for k in range(0, n_images, 64)]).reshape(-1, cfg.n_embd).double()
    mu = y.mean(0)
    lam, U = torch.linalg.eigh((y - mu).T @ (y - mu) / y.shape[0])
    eps = eps_rel * float(lam.max())
    A = U @ torch.diag(1.0 / torch.sqrt(lam.clamp(min=0) + eps)) @ U.T
    W, b = model.mm2.weight.double(), model.mm2.bias.double()
    model.mm2.weight.copy_((A @ W).float())
    model.mm2.bias.copy_((A @ (b - mu)).float())
    z = model.encode_image(px[:64]).reshape(-1, cfg.n_embd)
    top = lam.flip(0)
    log(f"# projector whitened: embedding norm {y.norm(dim=-1).mean():.1f} (mean vector {mu.norm():.1f}) -> "
        f"{z.norm(dim=-1).mean():.2f}; eigenvalues {', '.join(f'{v:.3g}' for v in top[:6])} ... "
        f"{top[23]:.3g} (24th), eps {eps:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=55.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--val-images", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--aux-weight", type=float, default=0.0,
                    help="weight of the auxiliary per-patch colour/shape/size loss on the vision features "
                         "(our stand-in for LLaVA's pretrained CLIP; the head is not exported)")
    ap.add_argument("--vision-minutes", type=float, default=0.0,
                    help="stage 0, inside the --minutes budget: train only the vision tower + the auxiliary "
                         "per-patch head (no LM: ~130 img/s instead of ~5 on 2 cores) before the full model. "
                         "Measured: 10 min -> per-object-patch accuracy colour 0.94, shape 0.84, size 0.89")
    ap.add_argument("--vision-batch", type=int, default=32)
    ap.add_argument("--vision-lr", type=float, default=2e-3)
    ap.add_argument("--aux-cell", action="store_true",
                    help="also train the aux head on each patch's 3x3 grid cell (measured: helps position "
                         "questions, but with --vision-lr-mult 0.3 colour/shape were not learned in 25 min)")
    ap.add_argument("--vision-lr-mult", type=float, default=1.0,
                    help="stage 1: the vision tower's learning rate relative to --lr (below 1 keeps the "
                         "stage-0 features from being scrambled while the LM is still random)")
    ap.add_argument("--freeze-vision", action="store_true",
                    help="stage 1 keeps the vision tower as stage 0 left it (LLaVA freezes CLIP): no ViT "
                         "backward, no aux loss; only the projector and the LM learn")
    ap.add_argument("--att-weight", type=float, default=0.0,
                    help="weight of the attention-supervision loss: at the colon of each \"ASSISTANT:\" "
                         "one head of each --att-layers layer is trained to put its attention mass on "
                         "the patches of the object(s) the question is about (-log of that mass); "
                         "a training-only grounding signal, nothing is exported")
    ap.add_argument("--att-layers", default="2,3", help="decoder layers whose --att-head is supervised")
    ap.add_argument("--att-head", type=int, default=0)
    ap.add_argument("--route-layers", default="",
                    help="decoder layers whose --att-head is trained (weight --att-weight) to put its attention, at "
                         "each \"ASSISTANT:\" colon, on the content words of that turn's question (colours, "
                         "shapes, positions, relations), so the question reaches the colon before the layers that "
                         "look up the object; measured: without it the --att-layers heads spread evenly over all "
                         "objects whatever the question")
    ap.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                    help="bf16 autocast: auto = only when the CPU has AVX512_BF16 or AMX (else fp32)")
    ap.add_argument("--type-weight", default="",
                    help="weigh answer tokens by turn kind in the LM loss, e.g. color=3,relation=2")
    ap.add_argument("--vision-init", help="take the vision tower from this checkpoint (.pt) or mmproj GGUF "
                    "(.gguf; the tower is frozen in stage 1, so a shipped mmproj holds its stage-0 output) instead "
                    "of a stage 0 (needs --freeze-vision; used to run stage 1 again on a finished stage 0)")
    ap.add_argument("--proj-minutes", type=float, default=0.0,
                    help="projector stage, inside the --minutes budget, after stage 0: the tower frozen, the "
                         "projector trained with linear per-patch heads on its output (colour, shape, size and "
                         "grid cell), so every attribute and the position are linear in the image embeddings")
    ap.add_argument("--proj-lr", type=float, default=2e-3)
    ap.add_argument("--proj-init", help="take the projector from this checkpoint (.pt) instead of a projector stage "
                    "(with --vision-init of the same checkpoint: stage 1 again on a finished projector stage)")
    ap.add_argument("--proj-whiten", type=float, default=0.0, metavar="EPS",
                    help="before stage 1, fold a regularised ZCA whitening of the image embeddings into mm.2 "
                         "(an exact affine change of the projector's last linear layer; statistics of 256 "
                         "training images; eigenvalues below EPS x the largest are damped): centres away the "
                         "shared mean and brings the attribute and cell directions, a few %% of the raw "
                         "embedding norm, to unit variance; 0 = off")
    ap.add_argument("--freeze-projector", action="store_true",
                    help="stage 1 keeps the projector as the projector stage left it (only the LM learns; "
                         "a trainable projector collapsed under --att-weight)")
    ap.add_argument("--qa-extra", type=int, default=5,
                    help="extra questions drawn per image beyond its fixed ones (duplicates dropped)")
    ap.add_argument("--p-desc", type=float, default=0.6,
                    help="probability that an image's conversation includes the detailed description")
    ap.add_argument("--init", help="continue from this checkpoint's weights (fresh optimizer and schedule)")
    ap.add_argument("--data-offset", type=int, default=0, help="first training image index (use a fresh "
                    "range when continuing)")
    ap.add_argument("--out", default="/tmp/vlkv_train")
    ap.add_argument("--log", default=os.path.join(HERE, "train_log.txt"))
    args = ap.parse_args()
    type_w = parse_type_weights(args.type_weight)
    if args.qa_extra < 0 or not 0.0 <= args.p_desc <= 1.0:
        raise SystemExit("--qa-extra must be >= 0 and --p-desc in [0, 1]")
    if args.proj_minutes > 0 and not args.freeze_vision:
        raise SystemExit("--proj-minutes needs --freeze-vision (the projector stage trains on a frozen tower)")
    if args.freeze_projector and args.proj_minutes <= 0 and not (args.init or args.proj_init):
        raise SystemExit("--freeze-projector needs --proj-minutes, --proj-init or --init: it would freeze a random "
                         "projector")
    if args.proj_whiten < 0 or args.proj_minutes < 0:
        raise SystemExit("--proj-whiten and --proj-minutes must be >= 0")
    if args.route_layers and args.att_weight <= 0:
        raise SystemExit("--route-layers needs --att-weight > 0 (the weight of its loss)")
    for opt, spec in (("--att-layers", args.att_layers), ("--route-layers", args.route_layers)):
        if not re.fullmatch(r"(\d+(,\d+)*)?", spec) or any(int(x) >= Config().n_layer for x in spec.split(",") if x):
            raise SystemExit(f"{opt}: expected comma-separated decoder layers 0..{Config().n_layer - 1}, got {spec!r}")
    if args.proj_init and args.proj_minutes > 0:
        raise SystemExit("--proj-init and --proj-minutes exclude each other")
    if args.vision_init and (not args.freeze_vision or args.vision_minutes > 0):
        raise SystemExit("--vision-init needs --freeze-vision and no --vision-minutes")
    for opt, path in (("--init", args.init), ("--vision-init", args.vision_init), ("--proj-init", args.proj_init)):
        if path and not os.path.isfile(path):
            raise SystemExit(f"{opt}: no such checkpoint file: {path}")

    global AMP_BF16
    AMP_BF16 = args.amp == "bf16" or (args.amp == "auto" and cpu_has_bf16())
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tok = Tokenizer.load(os.path.join(HERE, "tokenizer.json"))
    cfg = Config(n_vocab=tok.n_vocab)
    model = LlavaTiny(cfg)
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu")["model"])
    if args.vision_init and args.vision_init.endswith(".gguf"):
        from export import vision_state
        from gguf_reader import GGUFReader
        try:
            g = GGUFReader(args.vision_init)
            if g.kv.get("general.architecture") != "clip":
                raise ValueError("not an mmproj (clip) GGUF")
            model.vision.load_state_dict(sub_state(vision_state(g, cfg), "vision"))
        except (ValueError, KeyError, RuntimeError) as e:
            raise SystemExit(f"--vision-init: {args.vision_init}: {e}")
    elif args.vision_init:
        model.vision.load_state_dict(sub_state(torch.load(args.vision_init, map_location="cpu")["model"], "vision"))
    if args.proj_init:
        sd = torch.load(args.proj_init, map_location="cpu")["model"]
        model.mm0.load_state_dict(sub_state(sd, "mm0"))
        model.mm2.load_state_dict(sub_state(sd, "mm2"))
    eos = tok.piece_to_id["</s>"]
    pad_id = eos  # padded positions are never supervised and sit after every real token
    prefix = torch.tensor(prompt_prefix_ids(tok, data.SYSTEM_PROMPT))

    att_layers = [int(x) for x in args.att_layers.split(",")] if args.att_weight > 0 else []
    route_layers = [int(x) for x in args.route_layers.split(",") if x] if args.att_weight > 0 else []
    for li in att_layers + route_layers:
        model.llm.layers[li].self_attn.keep_head = args.att_head
    aux = torch.nn.Linear(cfg.vision_width, sum(N_AUX)) if args.aux_weight > 0 else None
    params = list(model.named_parameters()) + (list(aux.named_parameters(prefix="aux")) if aux else [])
    groups = []
    for is_vis in (False, True):
        for dec in (True, False):
            ps = [p for n, p in params if n.startswith("vision.") == is_vis
                  and (p.dim() >= 2 and "embed" not in n) == dec]
            groups.append({"params": ps, "weight_decay": args.wd if dec else 0.0,
                           "mult": args.vision_lr_mult if is_vis else 1.0})
    opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    val_items = make_val(tok, cfg, args.val_images)

    logf = open(args.log, "a" if args.init else "w")

    def log(msg):
        print(msg, flush=True)
        logf.write(msg + "\n")
        logf.flush()

    n_params = sum(p.numel() for p in model.parameters())
    log(f"# vlkv llava-tiny training  {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC")
    log(f"# config {json.dumps(cfg.to_dict())}")
    log(f"# args {json.dumps(vars(args))}")
    log(f"# autocast {'bf16' if AMP_BF16 else 'off (fp32)'}")
    if args.init:
        log(f"# initialised from {args.init}, data offset {args.data_offset}")
    if args.vision_init:
        log(f"# stage 0 skipped: vision tower taken from {args.vision_init}")
    if args.proj_init:
        log(f"# projector stage skipped: projector taken from {args.proj_init}")
    log(f"# params {n_params} (vision {sum(p.numel() for p in model.vision.parameters())}), "
        f"prefix tokens {len(prefix)}, image tokens {cfg.n_patches}, val items {len(val_items)}")

    budget = args.minutes * 60.0
    t0 = time.time()
    if args.vision_minutes > 0:
        if aux is None:
            raise SystemExit("--vision-minutes needs --aux-weight > 0 (the stage-0 objective is the aux head)")
        patch_stage("vision", cfg, model.vision, list(model.vision.parameters()) + list(aux.parameters()), aux,
                    args.vision_minutes, args.vision_lr, args.vision_batch, n_aux_used(args), 10**7, args, log)
        budget -= time.time() - t0   # the whole run stays within --minutes
        t0 = time.time()
    if args.freeze_vision:
        for p_ in model.vision.parameters():
            p_.requires_grad_(False)
        aux = None   # its loss would only move the frozen tower
        params = [(n, p_) for n, p_ in params if not n.startswith(("vision.", "aux"))]
        log("# stage 1: vision tower frozen")
    if args.proj_minutes > 0:
        t1 = time.time()
        phead = torch.nn.Linear(cfg.n_embd, sum(N_AUX))

        def proj_features(px):
            with torch.no_grad():
                f = model.vision(px)
            return model.mm2(F.gelu(model.mm0(f)))
        patch_stage("projector", cfg, proj_features, list(model.mm0.parameters()) + list(model.mm2.parameters())
                    + list(phead.parameters()), phead, args.proj_minutes, args.proj_lr, args.vision_batch, 4,
                    2 * 10**7, args, log)
        budget -= time.time() - t1
        t0 = time.time()
    if args.proj_whiten > 0:
        whiten_projector(model, cfg, args.proj_whiten, log)
    if args.freeze_projector:
        for p_ in list(model.mm0.parameters()) + list(model.mm2.parameters()):
            p_.requires_grad_(False)
        params = [(n, p_) for n, p_ in params if not n.startswith(("mm0.", "mm2."))]
        log("# stage 1: projector frozen")
    step, best, run_loss, run_aux, run_att, run_route, run_n, seen_imgs = 0, -1.0, 0.0, 0.0, 0.0, 0.0, 0, 0
    P, NP = len(prefix), cfg.n_patches
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget:
            break
        progress = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / args.warmup) * (
            args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * progress)))
        for g in opt.param_groups:
            g["lr"] = lr * g["mult"]
        items, labels, att, wts, route = [], [], [], [], []
        for b in range(args.batch):
            idx = args.data_offset + step * args.batch + b
            s = data.sample("train", idx)
            rng = np.random.default_rng([args.seed, idx])
            turns, kinds = train_turns(s, rng, n_extra=args.qa_extra, p_desc=args.p_desc)
            ids, tgt, qpos = build_suffix(tok, turns)
            items.append((data.preprocess(s["image"], cfg.image_size), ids, tgt))
            if type_w:
                wts.append(token_weights(tgt, qpos, kinds, type_w))
            if aux is not None:   # frozen tower or no aux loss: no per-patch labels needed
                labels.append(patch_labels(s["scene"], cfg.image_size, cfg.patch_size))
            if att_layers:
                masks, _ = object_masks(s["scene"], cfg.image_size, cfg.patch_size)
                for (q, a), j in zip(turns, qpos):
                    for li in att_layers:   # relation questions: the named object first, then the answer's
                        r = referents(s["scene"], q, a, anchor_only=li != att_layers[-1])
                        if r:
                            att.append((li, b, P + NP + j, P + np.flatnonzero(np.any([masks[k] for k in r], axis=0))))
            if route_layers:
                for j, cw in zip(qpos, content_positions(tok, ids, tgt, qpos)):
                    if cw:   # "Describe this image in detail." names no object
                        for li in route_layers:
                            route.append((li, b, P + NP + j, [P + NP + c for c in cw]))
        pix, ids, tgt = collate(items, pad_id)
        with amp():
            logits, feats = model.forward_train(pix, prefix, ids, return_features=True)
            aux_logits = aux(feats) if aux is not None else None
        # mean over answer tokens, weighted by turn kind with --type-weight
        ce = F.cross_entropy(logits.float().reshape(-1, cfg.n_vocab), tgt.reshape(-1), ignore_index=IGNORE,
                             reduction="none")
        w = (tgt != IGNORE).float()
        for b, wb in enumerate(wts):
            w[b, :len(wb)] *= torch.tensor(wb)
        loss = (ce * w.reshape(-1)).sum() / w.sum()
        lm_item = loss.item()
        if aux is not None:
            lab = torch.from_numpy(np.stack(labels))  # (B, 4, n_patches)
            aux_loss = sum(F.cross_entropy(part.float().reshape(-1, part.shape[-1]), lab[:, k].reshape(-1))
                           for k, part in enumerate(aux_logits.split(N_AUX, dim=-1)) if k < n_aux_used(args))
            run_aux += aux_loss.item()
            loss = loss + args.aux_weight * aux_loss
        if att:
            att_loss = supervised_mass_loss(model, att, att_layers)
            run_att += att_loss.item()
            loss = loss + args.att_weight * att_loss
        if route:
            route_loss = supervised_mass_loss(model, route, route_layers)
            run_route += route_loss.item()
            loss = loss + args.att_weight * route_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_([p for _, p in params], 1.0)
        opt.step()
        step += 1
        seen_imgs += args.batch
        run_loss += lm_item
        run_n += 1
        if step % 25 == 0:
            el = time.time() - t0
            log(f"step {step:5d}  t {el / 60:6.2f} min  lr {lr:.2e}  loss {run_loss / run_n:.4f}  "
                + (f"aux {run_aux / run_n:.4f}  " if aux is not None else "")
                + (f"att {run_att / run_n:.3f}  " if att_layers else "")
                + (f"route {run_route / run_n:.3f}  " if route_layers else "")
                + f"gnorm {float(gn):.2f}  img/s {seen_imgs / el:.1f}  seqlen {ids.shape[1]}")
            run_loss, run_aux, run_att, run_route, run_n = 0.0, 0.0, 0.0, 0.0, 0
        last = time.time() - t0 >= budget
        if step % args.val_every == 0 or last:
            acc = validate(model, prefix, val_items, pad_id)
            score = 0.7 * acc["qa_all"] + 0.3 * acc["desc_tok"]
            tag = ""
            if score > best:
                best = score
                torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "step": step,
                            "val": acc}, os.path.join(args.out, "best.pt"))
                tag = "  *best*"
            log(f"val step {step:5d}  t {(time.time() - t0) / 60:6.2f} min  " +
                "  ".join(f"{k} {v:.3f}" for k, v in acc.items()) + tag)
    torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "step": step},
               os.path.join(args.out, "last.pt"))
    log(f"# done: {step} steps, {seen_imgs} images, {(time.time() - t0) / 60:.1f} min, best score {best:.4f}")


if __name__ == "__main__":
    main()
