"""One-time import of ../shared/seeds into corpus/: one cleaned file per article.

    .venv/bin/python scripts/import_seeds.py [SEEDS_DIR]

Kept for provenance: it is how corpus/ was made, and re-running it reproduces
corpus/ byte for byte.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.corpus import guess_title, normalise, place_in, render, split_articles  # noqa: E402


# readable, ASCII file names for the seed articles (provenance only)
SLUGS = {
    ("000_422c42938234e866.txt", 1): "ningbo-ip-complex",
    ("000_422c42938234e866.txt", 2): "hangzhou-ip-model-city",
    ("003_1f18e9f292520042.txt", 1): "ningbo-2023-ip-report",
}


def byline(body: str) -> str:
    """Authors: a short line of 2-3 character names right under the headline."""
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if ln.startswith("# ") and i + 1 < len(lines):
            if re.fullmatch(r"[\u4e00-\u9fff]{2,3}( [\u4e00-\u9fff]{2,3}){0,3}", lines[i + 1]):
                return lines[i + 1]
    tail = lines[-1] if lines else ""
    m = re.fullmatch(r"([\u4e00-\u9fff]{2,3}(?: [\u4e00-\u9fff]{2,3}){0,3}) 文", tail)
    return m.group(1) if m else ""


def main(seeds: Path) -> None:
    out = ROOT / "corpus"
    out.mkdir(exist_ok=True)
    for seed in sorted(seeds.glob("*.txt")):
        text = normalise(seed.read_text(encoding="utf-8"))
        for n, body in enumerate(split_articles(text), 1):
            title = guess_title(body)
            year = re.search(r"(20\d\d)年", title)
            meta = {"title": title, "city": place_in(title), "authors": byline(body),
                    "year": int(year.group(1)) if year else None,
                    "source": f"shared/seeds/{seed.name}", "part": n}
            name = SLUGS.get((seed.name, n), f"{seed.stem}-{n}") + ".md"
            (out / name).write_text(render(meta, body), encoding="utf-8")
            print(name, "|", title)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "seeds")
