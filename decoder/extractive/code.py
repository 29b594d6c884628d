"""Technical answers: when a question asks for an option, command, function or variable, read a code token.

Manuals answer "which option…", "which function…", "what command…" with identifiers — `dotglob`,
`--disable-gc`, `gvFreeLayout`, `SH_WORD_SPLIT`, `\\textLengthOn`, `crop.marks`, `C-x C-e` — that the
English answer types of question.py (names, numbers, dates) never propose. Here:

1. `code_head(question)`: the question's head noun when it is a technical one (option, command, function,
   variable, module, macro, key, …) right after what/which (modifiers may stand between, no verb);
2. `code_spans(text, start, end, head)`: the code-shaped tokens of a stretch of page text — options, TeX
   commands, dotted, snake_case, camelCase and ALL-CAPS names, names with digits, hyphenated terms, key
   sequences, file extensions, `name(` calls — the term of a definition list (a lone word on its own
   line, or a word opening a line before its signature), and a plain word the text names by the head noun
   ("the iconv command", "the listings package");
3. `code_candidates(...)`: each such token in the best sentences, scored by the question words near it
   (decaying with distance, as `spans.py`'s `near`), a bonus when it stands next to the head noun
   ("the iconv command", "module gsl") or is a definition-list term, and the sentence's own score. A token
   the question already contains is not an answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from decoder.extractive.text import AUXILIARIES, STOPWORDS

_HEAD_WORDS = """option options command commands function functions routine routines module modules variable
    variables parameter parameters transform transforms statement statements macro macros flag flags
    property properties key keys binding bindings subcommand subcommands predicate predicates setting
    settings package packages tool tools extension extensions builtin builtins keyword keywords method
    methods operator operators switch switches attribute attributes environment environments loop loops"""
CODE_HEADS = frozenset(_HEAD_WORDS.split())
_CODE = re.compile(
    r"""(?x)
    \b[CM]-[^\s()]+(?:\ [CM]-[^\s()]+)*          # key sequences: C-x C-e
    | (?<![\w-])--?[A-Za-z][\w-]*(?:=[\w.-]+)?    # options: -l, --jail, --prefix=DIR
    | \\[A-Za-z]+                                  # TeX and LilyPond commands
    | (?<![\w.])\.[a-z][a-z0-9]{1,6}\b             # file extensions
    | \b[A-Za-z_]\w*(?:\.\w+)+\b                   # dotted names: crop.marks
    | \b[A-Za-z]\w*=[\w.-]+                        # settings: ratio=fill
    | \b[A-Za-z]\w*_\w+\b                          # snake_case and SNAKE_CASE
    | \b[a-z]+[A-Z]\w*\b                           # camelCase
    | \b[A-Z]{3,}\b                                # ALLCAPS
    | \b[A-Za-z]+\d\w*\b                           # names with digits: zscale3
    | \b[A-Za-z]+(?:-[A-Za-z]+)+\??                # hyphenated terms: blink-matching-paren, markup-list?
    | \b[A-Za-z_]\w*(?=\()                         # calls: newton(
    """
)
_TERM_LINE = re.compile(r"(?m)^[ \t]*([A-Za-z_][\w-]*(?:\.[\w-]+)*\??)[ \t]*(?:$|[⟨(<\[{])")  # a lone word
_KEYS = re.compile(r"[CM]-")
_HEAD_SPAN = 3  # words between a token and the head noun for "the iconv command", "module gsl"


def code_head(question: str) -> str | None:
    """The technical head noun of a what/which question ("Which option …" → "option"), else None."""
    words = re.findall(r"[a-z][\w-]*", question.lower())
    for i, w in enumerate(words[:3]):
        if w in ("what", "which"):
            for nxt in words[i + 1 : i + 6]:
                if nxt in CODE_HEADS:
                    return nxt[:-1] if nxt.endswith("s") and nxt[:-1] in CODE_HEADS else nxt
                if nxt in AUXILIARIES or nxt == "the":  # "what is the …", "which journal was the …"
                    return None
            return None
    return None


def code_spans(text: str, start: int, end: int, head: str | None = None) -> list[tuple[int, int, bool]]:
    """(start, end, is_term) of the code-shaped tokens in text[start:end], in order, without repeats; with
    `head`, also a plain word naming one ("the iconv command", "module gsl")."""
    found: dict[tuple[int, int], bool] = {}
    for m in _CODE.finditer(text, start, end):
        found.setdefault((m.start(), m.end()), False)
    for m in _TERM_LINE.finditer(text, start, end):
        found[(m.start(1), m.end(1))] = True
    if head is not None:
        named = re.compile(rf"\bthe ([a-z][\w-]+) {head}s?\b", re.IGNORECASE)
        for m in named.finditer(text, start, end):
            if m.group(1).lower() not in STOPWORDS:
                found.setdefault((m.start(1), m.end(1)), False)
    return [(s, e, t) for (s, e), t in sorted(found.items())]


def code_candidates(
    head: str, sentences: Iterable[Any], pages: list[Any], question_words: set[str]
) -> list[tuple[float, Any, int, int]]:
    """Scored code tokens of `sentences` (decoder/extractive/spans.py `Sentence`s, best first) as
    (score, sentence, start, end) in page-text chars.

    Args:
        head: the question's technical head noun (`code_head`).
        sentences: the sentences to read, with their scores and per-token question-word matches.
        pages: the page records the sentences index into.
        question_words: the question's lower-cased words (a token among them is not an answer).
    """
    out = []
    sentences = list(sentences)
    top = max((s.score for s in sentences), default=0.0) or 1.0
    for sent in sentences:
        text = pages[sent.hit].text
        words = [(t.start, t.end, t.low) for t in sent.tokens]
        for s, e, is_term in code_spans(text, sent.start, sent.end, head):
            token = text[s:e]
            if token.lower().strip("-\\.?") in question_words or not _fits(head, token, is_term):
                continue
            near = 0.0
            for t, m in zip(sent.tokens, sent.match, strict=True):
                if m > 0 and not (s <= t.start < e):
                    gap = _words_between(words, s, e, t.start)
                    near += m * math.exp(-gap / 6.0)
            near /= sent.qmass or 1.0
            bonus = 0.5 if is_term else 0.0
            if _next_to_head(words, s, e, head):
                bonus += 0.5
            out.append((sent.score / top + near + bonus, sent, s, e))
    out.sort(key=lambda c: -c[0])
    return out


def _fits(head: str, token: str, is_term: bool) -> bool:
    """Whether `token` can answer a question about a `head`: keys are key sequences, options start with a
    dash (or are a list's term), extensions with a dot; a lone plain word must be a lower-case term (a
    capitalised one is a label: "Synopsis", "Note"), at least 3 letters."""
    if head == "key":
        return bool(_KEYS.match(token))
    if head == "extension":
        return token.startswith(".")
    if head == "option" and not (token.startswith("-") or is_term):
        return False
    if not _CODE.fullmatch(token):
        return len(token) >= 3 and token[0].islower()
    return True


def _words_between(words: list[tuple[int, int, str]], s: int, e: int, at: int) -> int:
    if at < s:
        return sum(1 for ws, _, _ in words if at < ws < s)
    return sum(1 for ws, _, _ in words if e <= ws < at)


def _next_to_head(words: list[tuple[int, int, str]], s: int, e: int, head: str) -> bool:
    before = [w for ws, we, w in words if we <= s][-_HEAD_SPAN:]
    after = [w for ws, _, w in words if ws >= e][:_HEAD_SPAN]
    return any(w.rstrip("s") == head for w in (*before, *after))
