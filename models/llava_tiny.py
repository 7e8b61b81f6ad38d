"""LLaVA-1.5 architecture, scaled down: CLIP ViT + 2-layer MLP projector + LLaMA decoder.

Vision tower (CLIP ViT, HF CLIPVisionModel semantics):
    patch conv (no bias) -> [CLS] + patches -> + learned position embeddings -> pre_ln LayerNorm
    -> pre-LN blocks (LN1, MHA with q/k/v/out biases, LN2, fc1 -> quick-GELU -> fc2) -> no post-LN.
    LLaVA-1.5 feeds hidden_states[-2] (the penultimate block's output) to the projector, CLS dropped.
    Like llama.cpp's legacy converter, we only keep the blocks that are used: this tower is a
    (vision_layers + 1)-block CLIP whose last block is dropped, so the features are the output of
    the last block defined here and the mmproj stores block_count = vision_layers.
Projector: mm.0 (Linear vision_width -> n_embd) -> GELU (erf) -> mm.2 (Linear n_embd -> n_embd).
Decoder (HF LlamaForCausalLM semantics): RMSNorm (eps 1e-5), rotate_half (NeoX-layout) RoPE,
    SwiGLU FFN, no biases, separate output head. export.py permutes Q/K rows for llama.cpp.

Prompt (LLaVA-1.5 vicuna_v1, formats.md §5.6), chunks tokenized separately like LLaVA does:
    [BOS] tok("A chat ... questions. USER: ")  <image rows>   (the trailing space stays as "▁")  tok("\\n{question} ASSISTANT:")
The answer is " {answer}" + </s>; later turns (training only) are tok("USER: {q} ASSISTANT:").
"""

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    # vision tower
    image_size: int = 96
    patch_size: int = 8
    vision_width: int = 192
    vision_layers: int = 4       # blocks actually used (= mmproj clip.vision.block_count)
    vision_heads: int = 4
    vision_ff: int = 768
    vision_eps: float = 1e-5
    # language model
    n_vocab: int = 570
    n_embd: int = 256
    n_layer: int = 6
    n_head: int = 4
    n_head_kv: int = 4
    n_ff: int = 768
    rms_eps: float = 1e-5
    rope_base: float = 10000.0
    n_ctx: int = 2048

    @property
    def n_patches(self):
        return (self.image_size // self.patch_size) ** 2

    def to_dict(self):
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# vision tower


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class VisionAttention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):  # x: (B, T, W)
        B, T, W = x.shape
        H, D = self.heads, W // self.heads
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)
        k = self.k_proj(x).view(B, T, H, D).transpose(1, 2)
        v = self.v_proj(x).view(B, T, H, D).transpose(1, 2)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(D), dim=-1)  # no mask
        return self.out_proj((att @ v).transpose(1, 2).reshape(B, T, W))


class VisionBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(cfg.vision_width, eps=cfg.vision_eps)
        self.self_attn = VisionAttention(cfg.vision_width, cfg.vision_heads)
        self.layer_norm2 = nn.LayerNorm(cfg.vision_width, eps=cfg.vision_eps)
        self.fc1 = nn.Linear(cfg.vision_width, cfg.vision_ff)
        self.fc2 = nn.Linear(cfg.vision_ff, cfg.vision_width)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.fc2(quick_gelu(self.fc1(self.layer_norm2(x))))


class VisionTower(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        W = cfg.vision_width
        self.patch_embedding = nn.Conv2d(3, W, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(W) * 0.02)
        self.position_embedding = nn.Embedding(cfg.n_patches + 1, W)
        self.pre_layrnorm = nn.LayerNorm(W, eps=cfg.vision_eps)
        self.layers = nn.ModuleList([VisionBlock(cfg) for _ in range(cfg.vision_layers)])

    def forward(self, pixels):  # (B, 3, S, S) normalized -> (B, n_patches, W) patch features
        p = self.patch_embedding(pixels).flatten(2).transpose(1, 2)  # row-major patches
        cls = self.class_embedding.expand(p.shape[0], 1, -1)
        x = torch.cat([cls, p], dim=1) + self.position_embedding.weight[None]
        x = self.pre_layrnorm(x)
        for blk in self.layers:
            x = blk(x)
        return x[:, 1:]  # drop CLS


# ---------------------------------------------------------------------------------------------
# language model


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(positions, head_dim, base):
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    f = positions.float()[:, None] * inv[None]
    emb = torch.cat([f, f], dim=-1)  # HF rotate_half layout: pair (i, i + D/2) shares freq i
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D = cfg.n_embd // cfg.n_head
        self.q_proj = nn.Linear(cfg.n_embd, cfg.n_head * D, bias=False)
        self.k_proj = nn.Linear(cfg.n_embd, cfg.n_head_kv * D, bias=False)
        self.v_proj = nn.Linear(cfg.n_embd, cfg.n_head_kv * D, bias=False)
        self.o_proj = nn.Linear(cfg.n_head * D, cfg.n_embd, bias=False)
        self.keep_head, self.kept = None, None

    def forward(self, x, cos, sin, past=None):
        B, T, _ = x.shape
        H, Hkv = self.cfg.n_head, self.cfg.n_head_kv
        D = self.cfg.n_embd // H
        q = self.q_proj(x).view(B, T, H, D).transpose(1, 2)
        k = self.k_proj(x).view(B, T, Hkv, D).transpose(1, 2)
        v = self.v_proj(x).view(B, T, Hkv, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = (k, v)
        if Hkv != H:
            k = k.repeat_interleave(H // Hkv, dim=1)
            v = v.repeat_interleave(H // Hkv, dim=1)
        S = k.shape[2]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        # causal: query i (absolute S - T + i) sees keys j <= S - T + i
        mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        att = att.masked_fill(~mask, float("-inf"))
        probs = torch.softmax(att, dim=-1)
        if self.keep_head is not None:  # training only: expose one head's attention (B, T, S)
            self.kept = probs[:, self.keep_head]
        y = probs @ v
        return self.o_proj(y.transpose(1, 2).reshape(B, T, H * D)), present


class DecoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.gate_proj = nn.Linear(cfg.n_embd, cfg.n_ff, bias=False)
        self.up_proj = nn.Linear(cfg.n_embd, cfg.n_ff, bias=False)
        self.down_proj = nn.Linear(cfg.n_ff, cfg.n_embd, bias=False)

    def forward(self, x, cos, sin, past=None):
        a, present = self.self_attn(self.input_layernorm(x), cos, sin, past)
        x = x + a
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h)), present


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.n_vocab, cfg.n_embd)
        self.layers = nn.ModuleList([DecoderLayer(cfg) for _ in range(cfg.n_layer)])
        self.norm = RMSNorm(cfg.n_embd, cfg.rms_eps)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.n_vocab, bias=False)

    def forward(self, x, start_pos=0, past=None, logits_from=0):
        """x: input embeddings (B, T, E) at positions start_pos..; returns (logits of positions
        >= logits_from, list of per-layer (k, v) including the past)."""
        T = x.shape[1]
        cos, sin = rope_cos_sin(torch.arange(start_pos, start_pos + T), self.cfg.n_embd // self.cfg.n_head,
                                self.cfg.rope_base)
        presents = []
        for i, layer in enumerate(self.layers):
            x, pr = layer(x, cos, sin, None if past is None else past[i])
            presents.append(pr)
        return self.lm_head(self.norm(x[:, logits_from:])), presents


# ---------------------------------------------------------------------------------------------
# the whole model


class LlavaTiny(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.vision = VisionTower(cfg)
        self.mm0 = nn.Linear(cfg.vision_width, cfg.n_embd)
        self.mm2 = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.llm = Llama(cfg)
        self.apply(self._init)
        for n, p in self.named_parameters():  # GPT-2 style scaled init of residual outputs
            if n.endswith(("out_proj.weight", "fc2.weight", "o_proj.weight", "down_proj.weight")):
                nl = cfg.vision_layers if n.startswith("vision") else cfg.n_layer
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * nl))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def encode_image(self, pixels):
        """(B, 3, S, S) -> (B, n_patches, n_embd) image embeddings for the LLM."""
        return self.mm2(F.gelu(self.mm0(self.vision(pixels))))

    def embed(self, ids):
        return self.llm.embed_tokens(ids)

    def forward_train(self, pixels, prefix_ids, suffix_ids, return_features=False):
        """Teacher forcing. prefix_ids (P,) shared, suffix_ids (B, Ts) padded.
        Returns logits (B, Ts, V) where logits[:, j] predicts suffix_ids[:, j + 1]
        (and the vision features (B, n_patches, vision_width) if return_features)."""
        B = pixels.shape[0]
        feats = self.vision(pixels)
        img = self.mm2(F.gelu(self.mm0(feats)))
        pre = self.embed(prefix_ids)[None].expand(B, -1, -1)
        x = torch.cat([pre, img, self.embed(suffix_ids)], dim=1)
        logits, _ = self.llm(x, logits_from=pre.shape[1] + img.shape[1])
        return (logits, feats) if return_features else logits


# ---------------------------------------------------------------------------------------------
# prompts and generation


def prompt_prefix_ids(tok, system_prompt):
    # LLaVA-1.5's tokenizer_image_token splits "... USER: <image>\n..." at <image> and keeps the
    # space before it, which SPM encodes as a lone "▁" (29871 in LLaMA's vocabulary).
    return tok.encode(system_prompt + " ", add_bos=True)


def question_ids(tok, question, first_turn=True):
    return tok.encode(("\n" if first_turn else "USER: ") + question + " ASSISTANT:")


def answer_ids(tok, answer):
    return tok.encode(" " + answer, add_space_prefix=False) + [tok.piece_to_id["</s>"]]


@torch.no_grad()
def prefill_image(model, pixels, prefix_ids):
    """Run [BOS + system] + image rows; returns the KV cache (list per layer) and next position."""
    img = model.encode_image(pixels[None])
    x = torch.cat([model.embed(torch.tensor(prefix_ids))[None], img], dim=1)
    _, past = model.llm(x, logits_from=x.shape[1])
    return past, x.shape[1]


@torch.no_grad()
def greedy(model, past, pos, ids, eos_id, max_new=64):
    """Continue from a cache with prompt ids; greedy decode until EOS. Returns generated ids."""
    out = []
    x = model.embed(torch.tensor(ids))[None]
    for _ in range(max_new):
        logits, past = model.llm(x, start_pos=pos, past=past, logits_from=x.shape[1] - 1)
        pos += x.shape[1]
        nxt = int(logits[0, -1].argmax())
        if nxt == eos_id:
            break
        out.append(nxt)
        x = model.embed(torch.tensor([nxt]))[None]
    return out
