import pytest

from decoder.grounding import Box, parse_boxes, parse_grounding, strip_grounding

MARKDOWN_OUT = (
    "<|ref|>title<|/ref|><|det|>[[100, 50, 899, 120]]<|/det|>\n# Annual report\n\n"
    "<|ref|>text<|/ref|><|det|>[[0, 0, 999, 999], [499,  250,999,500]]<|/det|>\nRevenue grew.\n\n\n\n"
    "<|ref|>image<|/ref|><|det|>[[10, 600, 300, 900]]<|/det|>\n"
)


def test_parse_several_spans_and_boxes():
    spans = parse_grounding(MARKDOWN_OUT)
    assert [s.label for s in spans] == ["title", "text", "image"]
    assert [len(s.boxes) for s in spans] == [1, 2, 1]
    assert spans[1].boxes[1] == Box(499, 250, 999, 500)
    assert MARKDOWN_OUT[spans[0].start : spans[0].end].startswith("<|ref|>title")


def test_boxes_to_page_pixels_and_points():
    # A Letter page rendered at 144 dpi: 1224 x 1584 px = 612 x 792 pt.
    full, half = parse_grounding(MARKDOWN_OUT)[1].boxes
    assert full.to_pixels(1224, 1584) == pytest.approx((0, 0, 1224, 1584))
    assert half.to_pixels(1224, 1584) == pytest.approx(
        (499 / 999 * 1224, 250 / 999 * 1584, 1224, 500 / 999 * 1584)
    )
    assert full.to_points(1224, 1584, dpi=144) == pytest.approx((0, 0, 612, 792))
    x0, y0, x1, y1 = half.to_points(1224, 1584, dpi=144)
    assert (x0, x1) == pytest.approx((499 / 999 * 612, 612))


def test_locate_answer_and_malformed_boxes():
    out = "<|ref|>the total<|/ref|><|det|>[[120, 40, 80, 20], [1, 2, 3], [5, 6, 1200, 7]]<|/det|>"
    (span,) = parse_grounding(out)
    assert span.label == "the total"
    # reordered corners, the 3-number list skipped, 1200 clamped to the scale
    assert span.boxes == (Box(80, 20, 120, 40), Box(5, 6, 999, 7))
    assert strip_grounding(out) == ""
    assert strip_grounding(out, keep_labels=True) == "the total"
    assert parse_boxes("garbage") == ()


def test_strip_for_display():
    assert strip_grounding(MARKDOWN_OUT) == "# Annual report\n\nRevenue grew."
    assert strip_grounding("plain text") == "plain text"
    assert parse_grounding("<|ref|>orphan<|/ref|> tail")[0].boxes == ()
