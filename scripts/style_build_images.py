"""Build the two public-domain paintings committed under ``nips2019/style/data/``.

The paintings ship in Debian packages, not on PyPI. To rebuild (needs apt,
network at build time only)::

    mkdir -p /tmp/style_deb && cd /tmp/style_deb
    apt-get download opencv-doc darknet
    dpkg -x opencv-doc_*.deb opencv && dpkg -x darknet_*.deb darknet
    cd - && python scripts/style_build_images.py /tmp/style_deb

Each image is downscaled (Lanczos) so that its longer side is 256 px and saved
as a quality-90 JPEG (about 30-40 KB). The provenance is recorded in
``nips2019/style/data/PROVENANCE.txt``; the book reads only the committed files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

SOURCES = {
    # name: (path inside the extracted package tree, Debian package)
    "starry_night.jpg": ("opencv/usr/share/doc/opencv-doc/examples/data/starry_night.jpg", "opencv-doc"),
    "scream.jpg": ("darknet/usr/share/darknet/data/scream.jpg", "darknet"),
}
MAX_SIDE = 256


def main(root: str) -> int:
    out = Path(__file__).resolve().parents[1] / "nips2019" / "style" / "data"
    out.mkdir(parents=True, exist_ok=True)
    for name, (rel, package) in SOURCES.items():
        src = Path(root) / rel
        im = Image.open(src).convert("RGB")
        scale = MAX_SIDE / max(im.size)
        size = (round(im.size[0] * scale), round(im.size[1] * scale))
        im.resize(size, Image.LANCZOS).save(out / name, "JPEG", quality=90)
        print(f"{package}: {src} {Image.open(src).size} -> {out / name} {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/style_deb"))
