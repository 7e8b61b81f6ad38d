#!/usr/bin/python3
"""Regenerate the tiny image fixtures of tests/test_image.c with PIL (Debian python3-pil).

Decoding fixtures: a 5x3 image whose pixel (x, y) is pattern(x, y) below, saved as PNG, BMP,
TGA, PPM; a grey PGM (value g(x, y)); an RGBA PNG (alpha must be dropped); a two-frame GIF
(only the first frame may be returned).
Resampling goldens (what PIL itself computes, the reference of formats.md §5.5):
  resize_src.png (13x7 pseudo-random RGB) and PIL BICUBIC resizes of it to 5x5, 4x9, 29x11
  stored as raw RGB bytes; pad_src.png (9x4) through LLaVA's expand2square with the CLIP mean
  colour and a BICUBIC resize to 6x6, raw bytes.
Run: /usr/bin/python3 tests/data/make_image_fixtures.py  (from the repository root)
"""
import os
from PIL import Image

D = os.path.dirname(os.path.abspath(__file__))

def pattern(x, y):
    return ((x * 40 + y * 7) % 256, (y * 50 + 3) % 256, ((x + y) * 20 + 1) % 256)

def grey(x, y):
    return (x * 30 + y * 60 + 5) % 256

def main():
    W, H = 5, 3
    im = Image.new("RGB", (W, H))
    for y in range(H):
        for x in range(W):
            im.putpixel((x, y), pattern(x, y))
    im.save(os.path.join(D, "rgb_5x3.png"))
    im.save(os.path.join(D, "rgb_5x3.bmp"))
    im.save(os.path.join(D, "rgb_5x3.tga"))
    im.save(os.path.join(D, "rgb_5x3.ppm"))
    g = Image.new("L", (W, H))
    for y in range(H):
        for x in range(W):
            g.putpixel((x, y), grey(x, y))
    g.save(os.path.join(D, "grey_5x3.pgm"))
    a = Image.new("RGBA", (W, H))
    for y in range(H):
        for x in range(W):
            a.putpixel((x, y), pattern(x, y) + ((x * 60) % 256,))
    a.save(os.path.join(D, "rgba_5x3.png"))
    # GIF: frame 0 uses palette colours pal[(x + y) % 4], frame 1 is solid palette index 5.
    pal = [10, 20, 30, 200, 100, 50, 0, 255, 0, 1, 2, 3, 250, 251, 252, 99, 98, 97]
    f0 = Image.new("P", (W, H))
    f0.putpalette(pal + [0] * (768 - len(pal)))
    for y in range(H):
        for x in range(W):
            f0.putpixel((x, y), (x + y) % 4)
    f1 = Image.new("P", (W, H), 5)
    f1.putpalette(pal + [0] * (768 - len(pal)))
    f0.save(os.path.join(D, "anim_5x3.gif"), save_all=True, append_images=[f1], duration=100, loop=0)

    # JPEG (lossy): 16x8, left half one colour, right half another (8x8 blocks stay flat)
    j = Image.new("RGB", (16, 8), (200, 40, 90))
    for y in range(8):
        for x in range(8, 16):
            j.putpixel((x, y), (20, 180, 230))
    j.save(os.path.join(D, "two_16x8.jpg"), quality=95, subsampling=0)

    # resampling goldens
    s = 12345
    src = Image.new("RGB", (13, 7))
    for y in range(7):
        for x in range(13):
            px = []
            for _ in range(3):
                s = (s * 1103515245 + 12345) % (1 << 31)
                px.append((s >> 16) % 256)
            src.putpixel((x, y), tuple(px))
    src.save(os.path.join(D, "resize_src.png"))
    for (w, h) in [(5, 5), (4, 9), (29, 11)]:
        out = src.resize((w, h), Image.BICUBIC)
        with open(os.path.join(D, "resize_%dx%d.rgb" % (w, h)), "wb") as f:
            f.write(out.tobytes())
    pad = src.crop((2, 1, 11, 5))           # 9x4
    pad.save(os.path.join(D, "pad_src.png"))
    mean = (0.48145466, 0.4578275, 0.40821073)
    bg = tuple(int(m * 255) for m in mean)
    w, h = pad.size
    sq = Image.new("RGB", (w, w), bg)
    sq.paste(pad, (0, (w - h) // 2))
    out = sq.resize((6, 6), Image.BICUBIC)
    with open(os.path.join(D, "pad_6x6.rgb"), "wb") as f:
        f.write(out.tobytes())

if __name__ == "__main__":
    main()
