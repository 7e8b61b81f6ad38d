"""Procedural "shapes" dataset for the vlkv tiny LLaVA model.

Every sample is a small RGB image with 1-4 coloured shapes placed in the cells of a
3x3 grid on a white, gray or black background (solid, gentle gradient or faint noise),
plus ground-truth annotations, short-answer questions and a detailed description.

Everything is a pure function of (split, index): sample(split, i) seeds its own
numpy Generator from (SEED, split id, i), so the data is reproducible and the
train / val / test splits never share a random stream.

Only numpy and Pillow are used (Debian python3-numpy, python3-pil).

CLI:
    /usr/bin/python3 models/data.py --split test --count 8 --out /tmp/shapes_test
writes PNG images plus a JSONL file with annotations, questions and descriptions.
"""

import argparse
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw

SEED = 20261123
SPLITS = {"train": 0, "val": 1, "test": 2}

COLORS = {  # name -> nominal sRGB; each object jitters this a little
    "red": (215, 35, 35),
    "orange": (245, 135, 20),
    "yellow": (238, 218, 35),
    "green": (35, 165, 55),
    "cyan": (30, 200, 215),
    "blue": (35, 65, 215),
    "purple": (135, 45, 185),
    "pink": (250, 130, 195),
}
SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond"]
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles",
          "star": "stars", "cross": "crosses", "diamond": "diamonds"}
SIZES = {"small": 0.22, "medium": 0.32, "large": 0.44}  # radius / min(cell w, cell h)
BACKGROUNDS = {"white": (240, 240, 236), "gray": (128, 128, 128), "black": (28, 28, 30)}
BG_STYLES = ["solid", "gradient", "noise"]
POS_NAMES = [["top left", "top", "top right"],
             ["left", "center", "right"],
             ["bottom left", "bottom", "bottom right"]]
POS_PHRASE = {"top left": "in the top left", "top": "at the top", "top right": "in the top right",
              "left": "on the left", "center": "in the center", "right": "on the right",
              "bottom left": "in the bottom left", "bottom": "at the bottom",
              "bottom right": "in the bottom right"}
NUMBERS = ["zero", "one", "two", "three", "four", "five"]
CANVASES = [(128, 128), (128, 128), (144, 112), (112, 144)]  # (w, h); non-square ones get padded

SYSTEM_PROMPT = ("A chat between a curious human and an artificial intelligence assistant. "
                 "The assistant gives helpful, detailed, and polite answers to the human's questions. USER:")
DESCRIBE_PROMPT = "Describe this image in detail."
QTYPES = ["color", "shape", "size", "count", "position", "exists", "relation"]

# CLIP preprocessing constants (formats.md §5.5)
IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


def rng_for(split, index):
    return np.random.default_rng([SEED, SPLITS[split], int(index)])


# ---------------------------------------------------------------------------------------------
# scenes


def make_scene(rng):
    """Random scene: canvas size, background, 1-4 objects in distinct grid cells."""
    w, h = CANVASES[rng.integers(len(CANVASES))]
    bg = list(BACKGROUNDS)[rng.integers(len(BACKGROUNDS))]
    style = BG_STYLES[rng.integers(len(BG_STYLES))]
    n = int(rng.integers(1, 5))
    cells = rng.permutation(9)[:n]
    cw, ch = w / 3.0, h / 3.0
    objs, used = [], set()
    for cell in cells:
        row, col = divmod(int(cell), 3)
        while True:  # (color, shape) pairs are unique inside one image
            color = list(COLORS)[rng.integers(len(COLORS))]
            shape = SHAPES[rng.integers(len(SHAPES))]
            if (color, shape) not in used:
                used.add((color, shape))
                break
        size = list(SIZES)[rng.integers(len(SIZES))]
        r = SIZES[size] * min(cw, ch)
        slack_x, slack_y = max(cw / 2 - r - 1, 0), max(ch / 2 - r - 1, 0)
        cx = (col + 0.5) * cw + rng.uniform(-slack_x, slack_x)
        cy = (row + 0.5) * ch + rng.uniform(-slack_y, slack_y)
        objs.append({"shape": shape, "color": color, "size": size, "pos": POS_NAMES[row][col],
                     "row": row, "col": col, "cx": round(float(cx), 2), "cy": round(float(cy), 2),
                     "r": round(float(r), 2), "rgb": [int(np.clip(c + rng.integers(-12, 13), 0, 255))
                                                      for c in COLORS[color]],
                     "angle": round(float(rng.uniform(-12, 12)), 2)})
    objs.sort(key=lambda o: (o["row"], o["col"]))  # reading order
    bg_rgb = [int(np.clip(c + rng.integers(-10, 11), 0, 255)) for c in BACKGROUNDS[bg]]
    return {"width": w, "height": h, "background": bg, "bg_style": style, "bg_rgb": bg_rgb,
            "bg_seed": int(rng.integers(2**31)), "objects": objs}


def _polygon(shape, cx, cy, r, angle_deg):
    if shape == "triangle":
        pts = [(math.cos(math.radians(a)) * r, math.sin(math.radians(a)) * r + 0.2 * r)
               for a in (-90, 30, 150)]
    elif shape == "star":
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else 0.45 * r
            a = math.radians(-90 + 36 * k)
            pts.append((math.cos(a) * rad, math.sin(a) * rad + 0.08 * r))
    elif shape == "cross":
        t, R = 0.34 * r, 0.95 * r
        pts = [(-t, -R), (t, -R), (t, -t), (R, -t), (R, t), (t, t), (t, R), (-t, R), (-t, t),
               (-R, t), (-R, -t), (-t, -t)]
    elif shape == "diamond":
        pts = [(0, -r), (0.8 * r, 0), (0, r), (-0.8 * r, 0)]
    elif shape == "square":
        s = 0.8 * r
        pts = [(-s, -s), (s, -s), (s, s), (-s, s)]
    else:
        raise ValueError(shape)
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    return [(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts]


def render(scene, ss=2):
    """Draw the scene (supersampled ss times, then box-filtered down) -> PIL RGB image."""
    w, h = scene["width"], scene["height"]
    rng = np.random.default_rng(scene["bg_seed"])
    base = np.array(scene["bg_rgb"], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if scene["bg_style"] == "gradient":
        theta = rng.uniform(0, 2 * math.pi)
        ramp = (np.cos(theta) * (xx / w - 0.5) + np.sin(theta) * (yy / h - 0.5))
        amp = rng.uniform(12, 24) * np.where(base > 128, -1.0, 1.0)
        bg = base + ramp[..., None] * amp * 2
    elif scene["bg_style"] == "noise":
        bg = base + rng.normal(0, 6, size=(h, w, 3))
    else:
        bg = np.broadcast_to(base, (h, w, 3))
    bg = np.clip(np.rint(bg), 0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB").resize((w * ss, h * ss), Image.NEAREST)
    draw = ImageDraw.Draw(img)
    for o in scene["objects"]:
        cx, cy, r = o["cx"] * ss, o["cy"] * ss, o["r"] * ss
        fill = tuple(o["rgb"])
        if o["shape"] == "circle":
            rr = 0.92 * r
            draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=fill)
        else:
            draw.polygon(_polygon(o["shape"], cx, cy, r, o["angle"]), fill=fill)
    return img.reduce(ss)


# ---------------------------------------------------------------------------------------------
# language


def _ref(scene, o):
    """Shortest unique referring expression for object o."""
    if sum(p["shape"] == o["shape"] for p in scene["objects"]) == 1:
        return o["shape"]
    return f'{o["color"]} {o["shape"]}'


def _related(scene, o, rel):
    def ok(p):
        if p is o:
            return False
        return {"left of": p["col"] < o["col"], "right of": p["col"] > o["col"],
                "above": p["row"] < o["row"], "below": p["row"] > o["row"]}[rel]
    return [p for p in scene["objects"] if ok(p)]


def question_pool(scene):
    """All valid short-answer questions, grouped by type: {qtype: [(question, answer), ...]}."""
    objs = scene["objects"]
    pool = {t: [] for t in QTYPES}
    shape_count = {s: sum(o["shape"] == s for o in objs) for s in SHAPES}
    color_count = {c: sum(o["color"] == c for o in objs) for c in COLORS}
    for o in objs:
        ref = _ref(scene, o)
        if shape_count[o["shape"]] == 1:
            pool["color"].append((f'What color is the {o["shape"]}?', o["color"]))
        pool["color"].append((f'What color is the shape {POS_PHRASE[o["pos"]]}?', o["color"]))
        if color_count[o["color"]] == 1:
            pool["shape"].append((f'What shape is the {o["color"]} object?', o["shape"]))
        pool["shape"].append((f'What shape is {POS_PHRASE[o["pos"]]}?', o["shape"]))
        pool["size"].append((f"What size is the {ref}?", o["size"]))
        pool["position"].append((f"Where is the {ref}?", o["pos"]))
        for rel in ("left of", "right of", "above", "below"):
            rs = _related(scene, o, rel)
            if len(rs) == 1:
                pool["relation"].append((f"What color is the shape {rel} the {ref}?", rs[0]["color"]))
                pool["relation"].append((f"What shape is {rel} the {ref}?", rs[0]["shape"]))
    pool["count"].append(("How many shapes are there?", NUMBERS[len(objs)]))
    for s in SHAPES:
        pool["count"].append((f"How many {PLURAL[s]} are there?", NUMBERS[shape_count[s]]))
    for c in COLORS:
        pool["count"].append((f"How many {c} shapes are there?", NUMBERS[color_count[c]]))
    present = {(o["color"], o["shape"]) for o in objs}
    pos, neg = [], []
    for o in objs:
        pos.append((f'Is there a {o["color"]} {o["shape"]}?', "yes"))
        for s in SHAPES:  # near misses: same colour other shape, same shape other colour
            if (o["color"], s) not in present:
                neg.append((f'Is there a {o["color"]} {s}?', "no"))
        for c in COLORS:
            if (c, o["shape"]) not in present:
                neg.append((f'Is there a {c} {o["shape"]}?', "no"))
    pool["exists"] = pos + sorted(set(neg))
    pool["exists_pos"], pool["exists_neg"] = pos, sorted(set(neg))
    return pool


def pick_question(pool, qtype, rng):
    """One (question, answer) of a type, or None. Counts of zero and yes/no are balanced."""
    if qtype == "exists":
        items = pool["exists_pos"] if rng.random() < 0.5 else pool["exists_neg"]
    elif qtype == "count":
        items = pool["count"]
        nz = [qa for qa in items if qa[1] != "zero"]
        items = nz if (rng.random() < 0.75 and nz) else items
    else:
        items = pool[qtype]
    if not items:
        return None
    return items[rng.integers(len(items))]


def description(scene):
    objs = scene["objects"]
    n = len(objs)
    noun = "shape" if n == 1 else "shapes"
    parts = [f'The image shows {NUMBERS[n]} {noun} on a {scene["background"]} background.']
    for o in objs:
        parts.append(f'A {o["size"]} {o["color"]} {o["shape"]} is {POS_PHRASE[o["pos"]]}.')
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# samples and preprocessing


def sample(split, index):
    """Deterministic sample: image, scene, one question per available type, description."""
    rng = rng_for(split, index)
    scene = make_scene(rng)
    pool = question_pool(scene)
    qas = []
    for t in QTYPES:
        qa = pick_question(pool, t, rng)
        if qa is not None:
            qas.append({"type": t, "question": qa[0], "answer": qa[1]})
    return {"split": split, "index": index, "scene": scene, "image": render(scene),
            "pool": pool, "qas": qas, "description": description(scene)}


def expand2square(img, fill):
    w, h = img.size
    if w == h:
        return img
    s = max(w, h)
    out = Image.new("RGB", (s, s), fill)
    out.paste(img, ((s - w) // 2, (s - h) // 2))
    return out


def preprocess(img, image_size, mean=IMAGE_MEAN, std=IMAGE_STD):
    """LLaVA-1.5 reference preprocessing (formats.md §5.5): centre-pad to a square with the
    mean colour, Pillow bicubic resize, /255, per-channel mean/std -> float32 [3, S, S]."""
    fill = tuple(int(m * 255) for m in mean)  # (122, 116, 104)
    img = expand2square(img.convert("RGB"), fill)
    if img.size != (image_size, image_size):
        img = img.resize((image_size, image_size), Image.BICUBIC)
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def all_text(split, count):
    """Text the model sees for `count` samples, as prompt chunks are formed (tokenizer corpus)."""
    out = []
    for i in range(count):
        s = sample(split, i)
        out.append(SYSTEM_PROMPT)
        turns = [(qa["question"], qa["answer"]) for qa in s["qas"]] + [(DESCRIBE_PROMPT, s["description"])]
        for k, (q, a) in enumerate(turns):
            out.append(("\n" if k == 0 else "USER: ") + q + " ASSISTANT:")
            out.append(a)
    return out


def pick_samples(count=6, split="test"):
    """Deterministic choice of showcase images: covers 1-4 objects, square and padded canvases,
    solid/gradient backgrounds (small PNGs) plus one noisy one."""
    chosen, want_n, i = [], [1, 2, 3, 4, 3, 4], 0
    while len(chosen) < count:
        s = sample(split, i)
        sc = s["scene"]
        k = len(chosen)
        square = sc["width"] == sc["height"]
        ok = len(sc["objects"]) == want_n[k % len(want_n)]
        ok &= (sc["bg_style"] == "noise") == (k == count - 1)
        ok &= (not square) == (k in (1, 3))
        if ok:
            chosen.append(i)
        i += 1
    return chosen


def write_samples(out, indices, split="test"):
    """PNG images + samples.jsonl: one line per (image, prompt) with ground truth."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "samples.jsonl"), "w") as f:
        for i in indices:
            s = sample(split, i)
            name = f"{split}_{i:05d}.png"
            s["image"].save(os.path.join(out, name), optimize=True)
            ann = {k: v for k, v in s["scene"].items() if k != "bg_seed"}
            f.write(json.dumps({"image": name, "prompt": DESCRIBE_PROMPT, "description": s["description"],
                                "annotations": ann}) + "\n")
            for qa in s["qas"]:
                f.write(json.dumps({"image": name, "prompt": qa["question"], "answer": qa["answer"],
                                    "type": qa["type"], "annotations": ann}) + "\n")


def write_eval(out, split, start, count, name, all_questions=False):
    """Evaluation set for `vlkv eval`: per image, the description prompt and ONE short-answer
    question whose type rotates through QTYPES (falls back to the next available type), so
    `count` images give `count` descriptions and `count` questions spread over every type.
    all_questions: every question of the image instead (one per available type, the same ones
    evaluate.py asks), for the model card's accuracy table."""
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, name), "w") as f:
        for i in range(start, start + count):
            s = sample(split, i)
            img = f"{split}_{i:05d}.png"
            s["image"].save(os.path.join(out, img), optimize=True)
            f.write(json.dumps({"id": f"{split}{i}-describe", "image": img, "prompt": DESCRIBE_PROMPT,
                                "description": s["description"]}) + "\n")
            by_type = {qa["type"]: qa for qa in s["qas"]}
            if all_questions:
                for qa in s["qas"]:
                    f.write(json.dumps({"id": f"{split}{i}-{qa['type']}", "image": img, "prompt": qa["question"],
                                        "answer": qa["answer"], "type": qa["type"]}) + "\n")
                continue
            for k in range(len(QTYPES)):
                t = QTYPES[(i + k) % len(QTYPES)]
                if t in by_type:
                    qa = by_type[t]
                    f.write(json.dumps({"id": f"{split}{i}-{t}", "image": img, "prompt": qa["question"],
                                        "answer": qa["answer"], "type": t}) + "\n")
                    break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="test", choices=list(SPLITS))
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", action="store_true", help="write the shipped showcase set (models/samples)")
    ap.add_argument("--eval", metavar="NAME", help="write a `vlkv eval` set NAME.jsonl (one description + one "
                    "question per image) instead of the raw dump")
    ap.add_argument("--all-questions", action="store_true", help="with --eval: every question of each image")
    args = ap.parse_args()
    if args.eval:
        write_eval(args.out, args.split, args.start, args.count, args.eval + ".jsonl", args.all_questions)
        return
    if args.samples:
        write_samples(args.out, pick_samples())
        return
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{args.split}.jsonl"), "w") as f:
        for i in range(args.start, args.start + args.count):
            s = sample(args.split, i)
            name = f"{args.split}_{i:05d}.png"
            s["image"].save(os.path.join(args.out, name))
            f.write(json.dumps({"image": name, "scene": s["scene"], "qas": s["qas"],
                                "description": s["description"]}) + "\n")


if __name__ == "__main__":
    main()
