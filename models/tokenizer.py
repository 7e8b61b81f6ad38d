"""SentencePiece-style (llama.cpp "llama" / SPM) vocabulary and tokenizer for the tiny model.

Vocabulary layout (same anchors as LLaMA):
    0 <unk> UNKNOWN, 1 <s> CONTROL (BOS), 2 </s> CONTROL (EOS),
    3..258 byte tokens <0x00>..<0xFF> (BYTE, uppercase hex),
    then NORMAL pieces: every character of the training text (except '\n', which is always
    byte-encoded as <0x0A>, like LLaMA) and the pieces learned by BPE merges.
Spaces are U+2581 "▁" inside pieces. Scores: a piece made by merge number r has score -r
(first merge = 0, highest); single characters get -1e6 (they never come from a merge).

Encoder = exactly the llama.cpp SPM algorithm of formats.md §4.2 (special-token partition,
space prefix per raw fragment, ' ' -> '▁', UTF-8 chars as symbols, max-heap of bigrams by
score with ties to the left, byte fallback), so a C implementation gives identical ids.

BPE learning pre-splits text into "▁"+letters runs, digit runs and punctuation runs (like
SentencePiece's split_by_whitespace / split_by_unicode_script), so no piece mixes them and no
piece contains "▁" except as its first character.
"""

import heapq
import json
import re
from collections import Counter

SPACE = "\u2581"
UNKNOWN, CONTROL, NORMAL, BYTE = 2, 3, 1, 6  # tokenizer.ggml.token_type values
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
CHAR_SCORE = -1e6

_PRESPLIT = re.compile(SPACE + "?[A-Za-z]+|" + SPACE + "?[0-9]+|" + SPACE + "?[^A-Za-z0-9" + SPACE + "\n]+|"
                       + SPACE + "|\n")


def _escape(text):
    return text.replace(" ", SPACE)


class Tokenizer:
    def __init__(self, pieces, scores, types):
        assert len(pieces) == len(scores) == len(types)
        self.pieces, self.scores, self.types = list(pieces), [float(s) for s in scores], list(types)
        self.piece_to_id = {}
        for i, p in enumerate(self.pieces):
            self.piece_to_id.setdefault(p, i)
        # special-token partition candidates: CONTROL | USER_DEFINED | UNKNOWN, longest first
        self.specials = sorted([i for i, t in enumerate(self.types) if t in (CONTROL, 4, UNKNOWN)],
                               key=lambda i: -len(self.pieces[i].encode("utf-8")))

    @property
    def n_vocab(self):
        return len(self.pieces)

    # ------------------------------------------------------------------ learning
    @classmethod
    def train(cls, texts, vocab_size):
        words = Counter()
        for t in texts:
            for line in (" " + t).split("\n"):  # '\n' is never part of a piece
                for w in _PRESPLIT.findall(_escape(line)):
                    words[w] += 1
        chars = sorted({c for w in words for c in w})
        pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
        types = [UNKNOWN, CONTROL, CONTROL] + [BYTE] * 256
        scores = [0.0, 0.0, 0.0] + [0.0] * 256
        for c in chars:
            pieces.append(c)
            types.append(NORMAL)
            scores.append(CHAR_SCORE)
        vocab = set(pieces)
        seqs = {w: list(w) for w in words}
        rank = 0
        while len(pieces) < vocab_size:
            pairs = Counter()
            for w, f in words.items():
                s = seqs[w]
                for a, b in zip(s, s[1:]):
                    pairs[(a, b)] += f
            if not pairs:
                break
            # most frequent pair, ties broken lexicographically (deterministic)
            (a, b), _ = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
            new = a + b
            for w in words:
                s = seqs[w]
                i, out = 0, []
                while i < len(s):
                    if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                        out.append(new)
                        i += 2
                    else:
                        out.append(s[i])
                        i += 1
                seqs[w] = out
            if new in vocab:
                continue
            vocab.add(new)
            pieces.append(new)
            types.append(NORMAL)
            scores.append(-float(rank))
            rank += 1
        return cls(pieces, scores, types)

    # ------------------------------------------------------------------ encoding (formats.md §4.2)
    def _partition(self, text, parse_special):
        frags = [text]  # str = raw text, int = token id
        for tid in self.specials:
            if not parse_special and self.types[tid] in (CONTROL, UNKNOWN):
                continue
            sp = self.pieces[tid]
            out = []
            for f in frags:
                if isinstance(f, int):
                    out.append(f)
                    continue
                parts = f.split(sp)
                for k, p in enumerate(parts):
                    if k:
                        out.append(tid)
                    if p:
                        out.append(p)
            frags = out
        return frags

    def _spm(self, text, out):
        b = text.encode("utf-8")
        # symbols: [start byte, n bytes, prev, next]
        sym = []
        off = 0
        while off < len(b):
            c = b[off]
            n = 1 if c < 0x80 else 2 if c >> 5 == 0x6 else 3 if c >> 4 == 0xE else 4 if c >> 3 == 0x1E else 1
            n = min(n, len(b) - off)
            sym.append([off, n, len(sym) - 1, len(sym) + 1 if off + n < len(b) else -1])
            off += n
        heap = []

        def try_add(left, right):
            if left == -1 or right == -1:
                return
            s = b[sym[left][0]: sym[left][0] + sym[left][1] + sym[right][1]]
            tid = self.piece_to_id.get(s.decode("utf-8", "surrogateescape"))
            if tid is None:
                return
            # max-heap on score, ties -> smaller left index first
            heapq.heappush(heap, (-self.scores[tid], left, right, len(s)))

        for i in range(1, len(sym)):
            try_add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            L, R = sym[left], sym[right]
            if L[1] == 0 or R[1] == 0 or L[1] + R[1] != size:
                continue
            L[1] += R[1]
            R[1] = 0
            L[3] = R[3]
            if R[3] >= 0:
                sym[R[3]][2] = left
            try_add(L[2], left)
            try_add(left, L[3])
        i = 0 if sym else -1
        while i != -1:
            st, n = sym[i][0], sym[i][1]
            s = b[st: st + n]
            tid = self.piece_to_id.get(s.decode("utf-8", "surrogateescape"))
            if tid is not None:
                out.append(tid)
            else:  # byte fallback (a final symbol that is not a token is a single character)
                for byte in s:
                    out.append(self.piece_to_id.get(f"<0x{byte:02X}>", UNK_ID))
            i = sym[i][3]

    def encode(self, text, add_bos=False, add_space_prefix=True, parse_special=True):
        out = []
        prev_special = True
        if add_bos:
            out.append(BOS_ID)
        for f in self._partition(text, parse_special):
            if isinstance(f, int):
                out.append(f)
                prev_special = True
                continue
            t = (" " if add_space_prefix and prev_special else "") + f
            self._spm(_escape(t), out)
            prev_special = False
        return out

    # ------------------------------------------------------------------ decoding (formats.md §4.3)
    def decode(self, ids):
        buf = bytearray()
        for i in ids:
            t = self.types[i]
            if t == NORMAL:
                buf += self.pieces[i].replace(SPACE, " ").encode("utf-8")
            elif t == BYTE:
                buf.append(int(self.pieces[i][3:5], 16))
        return buf.decode("utf-8", "replace")

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        with open(path, "w") as f:
            json.dump({"pieces": self.pieces, "scores": self.scores, "types": self.types}, f,
                      ensure_ascii=False, indent=0)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            d = json.load(f)
        return cls(d["pieces"], d["scores"], d["types"])


if __name__ == "__main__":
    import argparse
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import data

    ap = argparse.ArgumentParser(description="learn the vocabulary from training-split text")
    ap.add_argument("--vocab-size", type=int, default=640)
    ap.add_argument("--samples", type=int, default=1500)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer.json"))
    args = ap.parse_args()
    tok = Tokenizer.train(data.all_text("train", args.samples), args.vocab_size)
    tok.save(args.out)
    print(f"vocab {tok.n_vocab} -> {args.out}")
