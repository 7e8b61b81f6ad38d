"""Evaluate the tiny LLaVA on the held-out test split with greedy decoding (PyTorch).

By default the model is loaded from the exported GGUF pair (dequantized weights, so it measures
exactly what ships); --ckpt evaluates a training checkpoint instead.
Every test image is asked each of its short questions single-turn (a fresh conversation:
[BOS] system USER: <image>\\n{q} ASSISTANT:) and "Describe this image in detail.".
Short answers: exact match after lower-casing/stripping. Descriptions: ROUGE-L F1 (LCS over
lower-cased alphanumeric words) against the ground truth, plus exact-match rate.
"Majority" is the accuracy of always answering the most frequent answer of that type.

    /usr/bin/python3 models/evaluate.py --text models/llava-tiny-f16.gguf \\
        --mmproj models/mmproj-llava-tiny-f16.gguf --images 300 --out /tmp/eval.json
"""

import argparse
import json
import os
import re
import sys
import time
from collections import Counter

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from export import load_gguf_model  # noqa: E402
from llava_tiny import Config, LlavaTiny, greedy, prefill_image, prompt_prefix_ids, question_ids  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def words(s):
    return re.findall(r"[a-z0-9]+", s.lower())


def rouge_l_f1(hyp, ref):
    h, r = words(hyp), words(ref)
    if not h or not r:
        return 0.0
    prev = [0] * (len(r) + 1)
    for a in h:
        cur = [0]
        for j, b in enumerate(r):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, rc = lcs / len(h), lcs / len(r)
    return 2 * p * rc / (p + rc)


def evaluate(model, tok, cfg, n_images, start=0, log_every=50, examples=5):
    eos = tok.piece_to_id["</s>"]
    prefix = prompt_prefix_ids(tok, data.SYSTEM_PROMPT)
    per = {t: [0, 0] for t in data.QTYPES}
    answers = {t: Counter() for t in data.QTYPES}
    rouge, exact_desc, shown = [], 0, []
    t0 = time.time()
    for i in range(start, start + n_images):
        s = data.sample("test", i)
        px = torch.from_numpy(data.preprocess(s["image"], cfg.image_size))
        past, pos = prefill_image(model, px, prefix)
        for qa in s["qas"]:
            out = tok.decode(greedy(model, past, pos, question_ids(tok, qa["question"]), eos, max_new=8))
            ok = out.strip().lower() == qa["answer"]
            per[qa["type"]][0] += ok
            per[qa["type"]][1] += 1
            answers[qa["type"]][qa["answer"]] += 1
            if not ok and len(shown) < examples:
                shown.append({"image": i, "q": qa["question"], "gt": qa["answer"], "pred": out.strip()})
        desc = tok.decode(greedy(model, past, pos, question_ids(tok, data.DESCRIBE_PROMPT), eos, max_new=96)).strip()
        rouge.append(rouge_l_f1(desc, s["description"]))
        exact_desc += desc == s["description"]
        if (i - start + 1) % log_every == 0:
            done = sum(v[1] for v in per.values())
            acc = sum(v[0] for v in per.values()) / done
            print(f"{i - start + 1} images  qa acc {acc:.3f}  rougeL {sum(rouge) / len(rouge):.3f}  "
                  f"{time.time() - t0:.0f}s", flush=True)
    res = {"images": n_images, "questions": sum(v[1] for v in per.values()),
           "qa_accuracy": sum(v[0] for v in per.values()) / sum(v[1] for v in per.values()),
           "per_type": {t: {"accuracy": per[t][0] / per[t][1], "n": per[t][1],
                            "majority": answers[t].most_common(1)[0][1] / per[t][1]}
                        for t in data.QTYPES if per[t][1]},
           "description_rougeL_f1": sum(rouge) / len(rouge),
           "description_exact": exact_desc / n_images,
           "wrong_examples": shown, "seconds": time.time() - t0}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", default=os.path.join(HERE, "llava-tiny-f16.gguf"))
    ap.add_argument("--mmproj", default=os.path.join(HERE, "mmproj-llava-tiny-f16.gguf"))
    ap.add_argument("--ckpt", help="evaluate a training checkpoint instead of the GGUF pair")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.ckpt:
        ck = torch.load(args.ckpt, map_location="cpu")
        cfg = Config(**ck["config"])
        model = LlavaTiny(cfg)
        model.load_state_dict(ck["model"])
        model.eval()
        tok = Tokenizer.load(os.path.join(HERE, "tokenizer.json"))
        src = args.ckpt
    else:
        model, tok, cfg = load_gguf_model(args.text, args.mmproj)
        src = f"{os.path.basename(args.text)} + {os.path.basename(args.mmproj)}"
    res = evaluate(model, tok, cfg, args.images, args.start)
    res["model"] = src
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
