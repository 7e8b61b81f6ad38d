"""Export a trained checkpoint as the llama.cpp LLaVA-1.5 GGUF pair, and import it back.

Text model (general.architecture = llama), as convert_legacy_llama.py / convert_hf_to_gguf.py write
it (formats.md §3, §4.1): llama.* hyper-parameters as UINT32/FLOAT32, SPM vocabulary, tensors
token_embd / blk.N.* / output_norm / output with the attn_q / attn_k rows permuted per head so that
llama.cpp's adjacent-pair (NORM) RoPE equals our rotate_half RoPE (formats.md §3.4).

mmproj (general.architecture = clip), as examples/llava/convert_image_encoder_to_gguf.py writes it
(formats.md §5.1-5.2), including the legacy swapped FFN names (fc1 -> ffn_down, fc2 -> ffn_up).
Only the used vision blocks exist, so clip.vision.block_count = number of blocks to run.

Variants (file name suffix -> tensor types):
  f16   : 2-D text weights F16; mmproj 2-D weights F16; 1-D tensors F32; patch conv F16
  q8_0  : all 2-D text weights Q8_0; mmproj 2-D weights Q8_0 (incl. position_embd), patch conv F16
  q4_k  : llama.cpp Q4_K_M mix: Q4_K base, output.weight Q6_K, attn_v/ffn_down Q6_K on the
          use_more_bits() layers (text only; pair it with either mmproj)

    /usr/bin/python3 models/export.py --ckpt /tmp/vlkv_train/best.pt --outdir models
"""

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import gguf_writer as W  # noqa: E402
from gguf_reader import GGUFReader  # noqa: E402
from llava_tiny import Config, LlavaTiny  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "llava-tiny"


def permute_qk(w, n_head):
    """HF rotate_half row order -> llama.cpp/Meta interleaved: per head, new row 2j+h = old row h*D/2+j."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute_qk(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def use_more_bits(i, n):  # llama-quant.cpp
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def text_table(cfg):
    """[(gguf name, PyTorch state-dict name)] in the order the legacy converter writes them."""
    out = [("token_embd.weight", "llm.embed_tokens.weight")]
    for i in range(cfg.n_layer):
        p = f"llm.layers.{i}."
        out += [(f"blk.{i}.attn_norm.weight", p + "input_layernorm.weight"),
                (f"blk.{i}.attn_q.weight", p + "self_attn.q_proj.weight"),
                (f"blk.{i}.attn_k.weight", p + "self_attn.k_proj.weight"),
                (f"blk.{i}.attn_v.weight", p + "self_attn.v_proj.weight"),
                (f"blk.{i}.attn_output.weight", p + "self_attn.o_proj.weight"),
                (f"blk.{i}.ffn_norm.weight", p + "post_attention_layernorm.weight"),
                (f"blk.{i}.ffn_gate.weight", p + "gate_proj.weight"),
                (f"blk.{i}.ffn_up.weight", p + "up_proj.weight"),
                (f"blk.{i}.ffn_down.weight", p + "down_proj.weight")]
    return out + [("output_norm.weight", "llm.norm.weight"), ("output.weight", "llm.lm_head.weight")]


def vision_table(cfg):
    out = [("v.patch_embd.weight", "vision.patch_embedding.weight"),
           ("v.class_embd", "vision.class_embedding"),
           ("v.position_embd.weight", "vision.position_embedding.weight"),
           ("v.pre_ln.weight", "vision.pre_layrnorm.weight"),
           ("v.pre_ln.bias", "vision.pre_layrnorm.bias")]
    for i in range(cfg.vision_layers):
        p = f"vision.layers.{i}."
        for ours, theirs in [("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"),
                             ("attn_v", "self_attn.v_proj"), ("attn_out", "self_attn.out_proj"),
                             ("ln1", "layer_norm1"),
                             ("ffn_down", "fc1"),  # legacy swapped name: fc1 is the EXPANDING layer
                             ("ffn_up", "fc2"),
                             ("ln2", "layer_norm2")]:
            out += [(f"v.blk.{i}.{ours}.weight", p + theirs + ".weight"),
                    (f"v.blk.{i}.{ours}.bias", p + theirs + ".bias")]
    return out + [("mm.0.weight", "mm0.weight"), ("mm.0.bias", "mm0.bias"),
                  ("mm.2.weight", "mm2.weight"), ("mm.2.bias", "mm2.bias")]


def text_tensors(sd, cfg):
    out = []
    for gname, pname in text_table(cfg):
        a = sd[pname].detach().float().numpy()
        if gname.endswith("attn_q.weight"):
            a = permute_qk(a, cfg.n_head)
        elif gname.endswith("attn_k.weight"):
            a = permute_qk(a, cfg.n_head_kv)
        out.append((gname, a))
    return out


def vision_tensors(sd, cfg):
    return [(g, sd[p].detach().float().numpy()) for g, p in vision_table(cfg)]


def text_type(name, arr, variant, cfg):
    if arr.ndim == 1 or not name.endswith(".weight") or name.endswith("_norm.weight"):
        return W.F32
    if variant == "f16":
        return W.F16
    if variant == "q8_0":
        return W.Q8_0
    if variant == "q4_k":
        if arr.shape[-1] % 256:
            return W.Q8_0
        if name == "output.weight":
            return W.Q6_K
        if name.endswith(("attn_v.weight", "ffn_down.weight")):
            i = int(name.split(".")[1])
            if use_more_bits(i, cfg.n_layer):
                return W.Q6_K
        return W.Q4_K
    raise ValueError(variant)


def vision_type(name, arr, variant):
    if arr.ndim == 4:
        return W.F16  # patch conv is never quantized
    if arr.ndim == 2 and name.endswith(".weight"):
        return W.F16 if variant == "f16" else W.Q8_0
    return W.F32


FTYPE = {"f16": W.FTYPE_MOSTLY_F16, "q8_0": W.FTYPE_MOSTLY_Q8_0, "q4_k": W.FTYPE_MOSTLY_Q4_K_M}


def write_text(path, sd, cfg, tok, variant):
    w = W.GGUFWriter(path)
    w.add("general.architecture", W.STRING, "llama")
    w.add("general.name", W.STRING, NAME)
    w.add("general.description", W.STRING, "tiny LLaVA-1.5-architecture language model trained by the vlkv project")
    w.add("general.license", W.STRING, "MIT")
    w.add("llama.vocab_size", W.UINT32, tok.n_vocab)
    w.add("llama.context_length", W.UINT32, cfg.n_ctx)
    w.add("llama.embedding_length", W.UINT32, cfg.n_embd)
    w.add("llama.block_count", W.UINT32, cfg.n_layer)
    w.add("llama.feed_forward_length", W.UINT32, cfg.n_ff)
    w.add("llama.rope.dimension_count", W.UINT32, cfg.n_embd // cfg.n_head)
    w.add("llama.attention.head_count", W.UINT32, cfg.n_head)
    w.add("llama.attention.head_count_kv", W.UINT32, cfg.n_head_kv)
    w.add("llama.attention.layer_norm_rms_epsilon", W.FLOAT32, cfg.rms_eps)
    w.add("llama.rope.freq_base", W.FLOAT32, cfg.rope_base)
    w.add("general.file_type", W.UINT32, FTYPE[variant])
    w.add("tokenizer.ggml.model", W.STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", W.STRING, tok.pieces)
    w.add_array("tokenizer.ggml.scores", W.FLOAT32, tok.scores)
    w.add_array("tokenizer.ggml.token_type", W.INT32, tok.types)
    w.add("tokenizer.ggml.bos_token_id", W.UINT32, 1)
    w.add("tokenizer.ggml.eos_token_id", W.UINT32, 2)
    w.add("tokenizer.ggml.unknown_token_id", W.UINT32, 0)
    w.add("tokenizer.ggml.add_bos_token", W.BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", W.BOOL, False)
    if variant != "f16":
        w.add("general.quantization_version", W.UINT32, 2)
    for name, arr in text_tensors(sd, cfg):
        w.add_tensor(name, arr, text_type(name, arr, variant, cfg))
    w.write()


def write_mmproj(path, sd, cfg, variant):
    w = W.GGUFWriter(path)
    w.add("general.architecture", W.STRING, "clip")
    w.add("clip.has_text_encoder", W.BOOL, False)
    w.add("clip.has_vision_encoder", W.BOOL, True)
    w.add("clip.has_llava_projector", W.BOOL, True)
    w.add("general.file_type", W.UINT32, FTYPE[variant])
    w.add("general.name", W.STRING, NAME + "-vision")
    w.add("general.description", W.STRING, "image encoder for LLaVA (tiny, trained by the vlkv project)")
    w.add("general.license", W.STRING, "MIT")
    w.add("clip.projector_type", W.STRING, "mlp")
    w.add("clip.vision.image_size", W.UINT32, cfg.image_size)
    w.add("clip.vision.patch_size", W.UINT32, cfg.patch_size)
    w.add("clip.vision.embedding_length", W.UINT32, cfg.vision_width)
    w.add("clip.vision.feed_forward_length", W.UINT32, cfg.vision_ff)
    w.add("clip.vision.projection_dim", W.UINT32, cfg.n_embd)  # unused by LLaVA (CLIP visual_projection)
    w.add("clip.vision.attention.head_count", W.UINT32, cfg.vision_heads)
    w.add("clip.vision.attention.layer_norm_epsilon", W.FLOAT32, cfg.vision_eps)
    w.add("clip.vision.block_count", W.UINT32, cfg.vision_layers)
    w.add_array("clip.vision.image_mean", W.FLOAT32, list(data.IMAGE_MEAN))
    w.add_array("clip.vision.image_std", W.FLOAT32, list(data.IMAGE_STD))
    w.add("clip.use_gelu", W.BOOL, False)
    if variant != "f16":
        w.add("general.quantization_version", W.UINT32, 2)
    for name, arr in vision_tensors(sd, cfg):
        w.add_tensor(name, arr, vision_type(name, arr, variant))
    w.write()


# ---------------------------------------------------------------------------------------------
# import (GGUF pair -> PyTorch model with the exported, dequantized weights)


def vision_state(reader, cfg):
    """The tower + projector tensors of an mmproj GGUF as a LlavaTiny state-dict fragment (float32)."""
    return {pname: torch.from_numpy(np.ascontiguousarray(reader.tensor(gname))) for gname, pname in vision_table(cfg)}


def load_gguf_model(text_path, mmproj_path):
    """Build a LlavaTiny whose weights are exactly the (dequantized) GGUF tensors. Returns
    (model, tokenizer, config)."""
    t, v = GGUFReader(text_path), GGUFReader(mmproj_path)
    kv = t.kv
    if kv["general.architecture"] != "llama" or v.kv["general.architecture"] != "clip":
        raise ValueError("expected a llama text GGUF and a clip mmproj GGUF")
    cfg = Config(image_size=v.kv["clip.vision.image_size"], patch_size=v.kv["clip.vision.patch_size"],
                 vision_width=v.kv["clip.vision.embedding_length"],
                 vision_layers=v.kv["clip.vision.block_count"],
                 vision_heads=v.kv["clip.vision.attention.head_count"],
                 vision_ff=v.kv["clip.vision.feed_forward_length"],
                 vision_eps=v.kv["clip.vision.attention.layer_norm_epsilon"],
                 n_vocab=len(kv["tokenizer.ggml.tokens"]), n_embd=kv["llama.embedding_length"],
                 n_layer=kv["llama.block_count"], n_head=kv["llama.attention.head_count"],
                 n_head_kv=kv["llama.attention.head_count_kv"], n_ff=kv["llama.feed_forward_length"],
                 rms_eps=kv["llama.attention.layer_norm_rms_epsilon"], rope_base=kv["llama.rope.freq_base"],
                 n_ctx=kv["llama.context_length"])
    tok = Tokenizer(kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.scores"], kv["tokenizer.ggml.token_type"])
    model = LlavaTiny(cfg)
    sd = {}
    for gname, pname in text_table(cfg):
        a = t.tensor(gname)
        if gname.endswith("attn_q.weight"):
            a = unpermute_qk(a, cfg.n_head)
        elif gname.endswith("attn_k.weight"):
            a = unpermute_qk(a, cfg.n_head_kv)
        sd[pname] = torch.from_numpy(np.ascontiguousarray(a))
    sd.update(vision_state(v, cfg))
    model.load_state_dict(sd)
    model.eval()
    return model, tok, cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="/tmp/vlkv_train/best.pt")
    ap.add_argument("--outdir", default=HERE)
    ap.add_argument("--variants", default="f16,q8_0,q4_k")
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location="cpu")
    cfg = Config(**ck["config"])
    sd = ck["model"]
    tok = Tokenizer.load(os.path.join(HERE, "tokenizer.json"))
    assert tok.n_vocab == cfg.n_vocab
    for variant in args.variants.split(","):
        tp = os.path.join(args.outdir, f"{NAME}-{variant}.gguf")
        write_text(tp, sd, cfg, tok, variant)
        print(f"{tp}: {os.path.getsize(tp)} bytes")
        if variant != "q4_k":
            mp = os.path.join(args.outdir, f"mmproj-{NAME}-{variant}.gguf")
            write_mmproj(mp, sd, cfg, variant)
            print(f"{mp}: {os.path.getsize(mp)} bytes")


if __name__ == "__main__":
    main()
