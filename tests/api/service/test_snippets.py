from api.service.snippets import snippet


def test_short_text_is_returned_whole() -> None:
    assert snippet("  one   two\nthree ", "two") == "one two three"


def test_window_centres_on_the_densest_cluster_of_query_words() -> None:
    filler = "lorem ipsum dolor " * 40
    text = filler + "the keeper watched the storm from the lighthouse gallery " + filler
    out = snippet(text, "lighthouse keeper storm", width=120)
    assert "keeper" in out and "storm" in out and "lighthouse" in out
    assert out.startswith("…") and out.endswith("…") and len(out) <= 122


def test_no_match_gives_the_start() -> None:
    out = snippet("alpha beta gamma " * 50, "zebra", width=40)
    assert out.startswith("alpha") and out.endswith("…")
