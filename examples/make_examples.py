"""Generate the demo corpus: `python examples/make_examples.py examples`.

Everything is made here, deterministically, from texts written for this project (no downloads, PyMuPDF's
built-in Base-14 fonts, which are not embedded, so files stay small):

- harbour-lighthouse.pdf   born-digital, 2 pages: the lighthouse (built in 1871), its keeper, the 1893 storm
- country-loaf.pdf         born-digital, 2 pages: a bread recipe
- history-of-printing.pdf  born-digital, 2 pages: a short history of printing
- keepers-log-scan.pdf     a scanned page: an image only, no text layer (exercises the OCR fallback)
- museum-notice.png        a page image (exercises image input + OCR)

Re-running rewrites nothing whose content is already identical.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from indexer.pdf import pymupdf

PAGE_W, PAGE_H = 595.0, 842.0  # A4 in points
MARGIN = 72.0
BODY_FONT, BODY_SIZE, LEADING = "tiro", 11.5, 1.45
HEAD_FONT = "hebo"
SCAN_DPI = 150  # a typical office scan
IMAGE_DPI = 150  # the PNG page: 1 px = 1 pt in vtrag, so the page is A4 at 150 dpi in pixels


def _paragraphs(text: str) -> list[str]:
    """Paragraphs separated by blank lines, each joined into one line ("# " starts a heading)."""
    return [" ".join(block.split()) for block in text.strip().split("\n\n")]


LIGHTHOUSE = (
    "The Harbour Lighthouse",
    _paragraphs(
        """
# A short history of the light at Gull Point

The Harbour Lighthouse stands on Gull Point at the mouth of the bay, where a reef of dark rock runs out
a quarter of a mile beneath the water. Before there was a light, the reef was the terror of every
fishing crew in the town: in the winter of 1867 alone three boats were lost on it with all hands.

The lighthouse was built in 1871 by the Harbour Board, paid for by a levy of one penny on every ton of
cargo landed at the quay. The masons used grey granite quarried two miles inland and hauled to the point
by cart. The lamp was first lit on the first of November 1871, and the light has shown every night
since.

# The tower

The tower is 24 metres tall, round and white, with 112 stone steps winding up to the lantern room. The
first lamp burned colza oil in six wicks behind a ring of polished reflectors. In 1896 a large glass
Fresnel lens was installed, turned by a clockwork weight that the keeper wound up by hand every two
hours through the night. The lens made the light visible eighteen nautical miles out to sea.

# The keepers

For almost a hundred years the light was tended by resident keepers who lived with their families in the
low cottage at the foot of the tower. A keeper trimmed the wicks, polished the lens, wound the clockwork
and wrote the weather in the log every four hours. The best remembered of them is Thomas Reed, keeper
from 1886 to 1912.

# The great storm of 1893

On the night of the fourteenth of October 1893 a great storm struck the coast. The wind blew from the
south-west for three days, and waves broke over the gallery at the top of the tower. The keeper, Thomas
Reed, kept the light burning through the storm for three nights without sleep, trimming the wicks and
winding the clockwork every hour after the spray had flooded the winding room. Eleven fishing boats and
a coal ship found their way into the harbour by his light. The town gave him a silver watch, which is
kept in the lighthouse museum today.

# Automation and the museum

The light was made automatic in 1968, when an electric lamp and a timer replaced the keepers. The last
keeper, Mary Reed, granddaughter of Thomas, left the cottage that year. The cottage is now a small
museum of the light, its keepers and the boats of the bay.

# Facts at a glance

Built: 1871, by the Harbour Board. First lit: 1 November 1871.

Height of tower: 24 metres; 112 steps to the lantern room.

Light: one white flash every ten seconds, visible for 18 nautical miles.

Keepers: resident keepers until the light was automated in 1968.
"""
    ),
)


LOAF = (
    "A Simple Country Loaf",
    _paragraphs(
        """
# A plain white loaf for beginners

This loaf needs no special equipment: a bowl, a baking tray and an oven. It takes about three hours from
start to finish, most of which is waiting while the dough rises.

# Ingredients

500 g strong white bread flour, plus a little for dusting.

10 g fine salt.

7 g fast-action dried yeast (one sachet).

350 ml lukewarm water.

1 tablespoon olive oil.

# Method

1. Put the flour in a large bowl. Add the salt on one side of the bowl and the yeast on the other, so
that the salt does not touch the yeast at first.

2. Pour in the oil and most of the water and mix with your hand or a wooden spoon. Add the rest of the
water a little at a time until the dough is soft but not sticky.

3. Turn the dough out onto a lightly floured table and knead it for ten minutes, stretching and folding
it, until it is smooth and springs back when pressed.

4. Put the dough back in the oiled bowl, cover it with a damp cloth and leave it somewhere warm for
about one and a half hours, until it has doubled in size.

5. Knock the air out of the dough, shape it into a round and set it on a floured baking tray. Cover it
again and leave it to rise for another hour.

6. Heat the oven to 220 degrees Celsius. Dust the loaf with flour and cut a cross in the top with a
sharp knife.

7. Bake for 30 to 35 minutes, until the crust is deep golden and the loaf sounds hollow when tapped
underneath. Cool it on a wire rack for at least an hour before slicing.

# Tips

Water that is too hot kills the yeast: it should feel just warm on the inside of your wrist. A tray of
water on the bottom of the oven gives a crisper crust. The loaf keeps for three days wrapped in a cloth,
and it makes very good toast.
"""
    ),
)


PRINTING = (
    "A Short History of Printing",
    _paragraphs(
        """
# Woodblocks

Printing began in East Asia with carved wooden blocks. A whole page of text and pictures was cut in
relief into a block of wood, inked and pressed onto paper. The oldest printed book that carries a date
is a copy of the Diamond Sutra from China, printed in the year 868.

# Movable type

Around 1040 the Chinese artisan Bi Sheng made movable type from baked clay: one small piece for each
character, set in an iron frame and reused for page after page. In Korea printers cast type in bronze;
the Jikji, a Buddhist text printed in 1377, is the oldest surviving book printed with movable metal
type.

# Gutenberg

In Mainz, around 1440, Johannes Gutenberg brought together several inventions: a hand mould for casting
metal type quickly and accurately, an oil-based ink that stuck to metal, and a wooden press adapted from
the presses used for wine and paper. His Bible, finished around 1455, showed that printed books could be
as beautiful as written ones. Within fifty years there were printers in more than two hundred European
towns, and millions of books had been printed.

# Printing comes to England

William Caxton learned to print in Cologne and Bruges and set up the first press in England at
Westminster in 1476. Among his first books was Chaucer's Canterbury Tales. Printing helped to fix
English spelling, although not always in the way later readers would have liked.

# Steam and speed

For three hundred and fifty years presses were worked by hand. In 1814 The Times of London was printed
for the first time on a steam-powered press built by Friedrich Koenig, which made more than a thousand
impressions an hour. In 1843 Richard Hoe in New York invented the rotary press, with the type on a
turning cylinder, and later presses printed from continuous rolls of paper.

# Machines that set type

Setting type by hand, letter by letter, remained slow until Ottmar Mergenthaler's Linotype machine of
1884 cast a whole line of type at once from a keyboard. Newspapers could now be set in hours. In the
twentieth century offset lithography, first used for paper around 1904, became the usual way to print
books and magazines, and photographic typesetting replaced hot metal.

# Printing today

Since the 1980s pages have been composed on computers and sent to printers as digital files. The PDF
format, introduced in 1993, describes a printed page exactly, which is why so many documents are still
shared as the pages they would be if they were printed.
"""
    ),
)


KEEPERS_LOG = (
    "Gull Point Light - Keeper's Log",
    _paragraphs(
        """
# October 1893 (copy of the original entries)

14 October. Wind SW rising since noon, glass falling fast. Lit the lamp at 5.10 pm. Boats of the fleet
running for the harbour. Heavy sea on the reef by dark.

15 October. Storm at its height. Sea breaking over the gallery and spray in the winding room. Kept the
light burning all night, wound the clockwork every hour. Two boats came in past the point at first
light. No sleep.

16 October. Wind still strong, backing to the west. Coal ship Mary Ellen came into the harbour at 3 am
guided by the light. Lamp and lens in good order.

17 October. Wind falling. All eleven boats of the fleet safe in harbour. Cleaned the lens. Signed, T.
Reed, keeper.
"""
    ),
)


MUSEUM_NOTICE = (
    "Harbour Lighthouse Museum",
    _paragraphs(
        """
# Visitor information

The museum in the keeper's cottage is open every day from April to October, from 10 am to 5 pm.

Guided climbs of the tower leave every hour. There are 112 steps to the lantern room.

Children under eight must be accompanied by an adult on the climb.

Entry to the museum is free. Donations help to keep the light and the cottage in good repair.
"""
    ),
)


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and pymupdf.get_text_length(trial, fontname=font, fontsize=size) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines


def layout(doc: pymupdf.Document, title: str, paragraphs: list[str], page_numbers: bool = True) -> None:
    """Typeset a title and paragraphs ("# " starts a heading) onto A4 pages of `doc`."""
    width = PAGE_W - 2 * MARGIN
    bottom = PAGE_H - MARGIN
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    y = MARGIN + 20
    page.insert_text((MARGIN, y), title, fontname=HEAD_FONT, fontsize=20)
    y += 20
    for para in paragraphs:
        heading = para.startswith("# ")
        font, size = (HEAD_FONT, 13.0) if heading else (BODY_FONT, BODY_SIZE)
        text = para[2:] if heading else para
        lines = _wrap(text, font, size, width)
        step = size * LEADING
        y += step * (1.0 if heading else 0.5)
        if heading and y + 3 * step > bottom:  # keep a heading with its first lines
            y = bottom + 1
        for line in lines:
            if y + step > bottom:
                page = doc.new_page(width=PAGE_W, height=PAGE_H)
                y = MARGIN
            y += step
            page.insert_text((MARGIN, y), line, fontname=font, fontsize=size)
    if page_numbers:
        for i in range(doc.page_count):
            doc[i].insert_text(
                (MARGIN, PAGE_H - MARGIN / 2), f"{title} - page {i + 1}", fontname="helv", fontsize=8
            )


def _pdf_bytes(doc: pymupdf.Document, title: str) -> bytes:
    doc.set_metadata({"title": title, "author": "vtrag examples", "creator": "examples/make_examples.py"})
    return doc.tobytes(garbage=3, deflate=True, no_new_id=True)


def born_digital(title: str, paragraphs: list[str]) -> bytes:
    doc = pymupdf.open()
    layout(doc, title, paragraphs)
    return _pdf_bytes(doc, title)


def _page_image(title: str, paragraphs: list[str], dpi: int) -> Image.Image:
    doc = pymupdf.open()
    layout(doc, title, paragraphs, page_numbers=False)
    pix = doc[0].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
    return Image.frombytes("L", (pix.width, pix.height), pix.samples)


def scanned(title: str, paragraphs: list[str]) -> bytes:
    """A one-page PDF holding only a picture of the page: no text layer."""
    image = _page_image(title, paragraphs, SCAN_DPI)
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=True)
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_W, height=PAGE_H)
    page.insert_image(page.rect, stream=png.getvalue())
    return _pdf_bytes(doc, title)


def page_png(title: str, paragraphs: list[str]) -> bytes:
    image = _page_image(title, paragraphs, IMAGE_DPI)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


EXAMPLES: dict[str, Callable[[], bytes]] = {
    "harbour-lighthouse.pdf": lambda: born_digital(*LIGHTHOUSE),
    "country-loaf.pdf": lambda: born_digital(*LOAF),
    "history-of-printing.pdf": lambda: born_digital(*PRINTING),
    "keepers-log-scan.pdf": lambda: scanned(*KEEPERS_LOG),
    "museum-notice.png": lambda: page_png(*MUSEUM_NOTICE),
}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python examples/make_examples.py OUTPUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, make in EXAMPLES.items():
        data = make()
        path = out / name
        if path.is_file() and path.read_bytes() == data:
            print(f"unchanged {path} ({len(data) // 1024} KiB)")
            continue
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        print(f"wrote     {path} ({len(data) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
