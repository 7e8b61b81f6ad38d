"""Where do the attention-supervised heads look? (diagnostic for train.py --att-layers / --route-layers)

For the first N validation images and each of their single-turn questions that has referent objects,
runs the checkpoint teacher-forced and reports, per supervised layer (head --head) and question type,
the mean attention mass at the "ASSISTANT:" colon on: the referent object's patches, the other objects'
patches, background patches, the system prefix, and the question text. As in training, "ref" of a
relation question is the object it names for every listed layer but the last, the answer's for the last. A head that has learned the
lookup puts most of its mass on "ref"; one that only learned "look at objects" splits it over all
objects (ref ~ 1 / number of objects).

    /usr/bin/python3 models/experiments/att_probe.py CKPT [--images 24] [--layers 2,3]
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import data  # noqa: E402
import train  # noqa: E402
from llava_tiny import Config, LlavaTiny, prompt_prefix_ids  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--layers", default="2,3")
    ap.add_argument("--head", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(args.ckpt, map_location="cpu")
    cfg = Config(**ck["config"])
    model = LlavaTiny(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    layers = [int(x) for x in args.layers.split(",")]
    for li in layers:
        model.llm.layers[li].self_attn.keep_head = args.head
    tok = Tokenizer.load(os.path.join(train.HERE, "tokenizer.json"))
    prefix = torch.tensor(prompt_prefix_ids(tok, data.SYSTEM_PROMPT))
    P, NP = len(prefix), cfg.n_patches
    res = {}
    for i in range(args.images):
        s = data.sample("val", i)
        px = torch.from_numpy(data.preprocess(s["image"], cfg.image_size))[None]
        masks, _ = train.object_masks(s["scene"], cfg.image_size, cfg.patch_size)
        objects = np.any(masks, axis=0).reshape(-1)
        for qa in s["qas"]:
            if not train.referents(s["scene"], qa["question"], qa["answer"]):
                continue
            ids, _, qpos = train.build_suffix(tok, [(qa["question"], qa["answer"])])
            with torch.no_grad():
                model.forward_train(px, prefix, torch.tensor([ids]))
            for li in layers:   # as in training: a relation's named object for all but the last layer
                r = train.referents(s["scene"], qa["question"], qa["answer"], anchor_only=li != layers[-1])
                if not r:
                    continue
                ref = np.any([masks[k] for k in r], axis=0).reshape(-1)
                a = model.llm.layers[li].self_attn.kept[0, P + NP + qpos[0]].numpy()
                img = a[P:P + NP]
                res.setdefault((li, qa["type"]), []).append(
                    (img[ref].sum(), img[objects & ~ref].sum(), img[~objects].sum(), a[:P].sum(), a[P + NP:].sum()))
    for (li, qt), v in sorted(res.items()):
        m = np.array(v).mean(0)
        print(f"layer {li} {qt:9s} n {len(v):3d}  ref {m[0]:.2f}  other objects {m[1]:.2f}  background {m[2]:.2f}  "
              f"prefix {m[3]:.2f}  text {m[4]:.2f}")


if __name__ == "__main__":
    main()
