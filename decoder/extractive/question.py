"""Question analysis for the extractive reader: what kind of answer is wanted, and which words anchor it.

The expected answer type comes from the question word and, for what/which questions, from the head noun that
follows it ("what year" → a date, "which city" → a place, "how many" → a count). Word lists are general
English category nouns, not fitted to any dataset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from decoder.extractive.text import (
    AUXILIARIES,
    DETERMINERS,
    IRREGULAR_PAST,
    PREPOSITIONS,
    STOPWORDS,
    VERB_FORMS,
    Token,
    stem,
    tokenize,
)

# Answer types.
PERSON, DATE, YEAR, COUNT, QUANTITY, MONEY, PERCENT, DURATION, LOCATION, ENTITY = (
    "person",
    "date",
    "year",
    "count",
    "quantity",
    "money",
    "percent",
    "duration",
    "location",
    "entity",
)
REASON, MANNER, THING = "reason", "manner", "thing"

WH_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how"])

# Head nouns that say which kind of answer a what/which question wants.
_FOCUS_TYPES: dict[str, str] = {}
for _t, _words in {
    YEAR: "year years",
    DATE: """date day days month months decade decades century centuries era period time times season dates
        ages""",
    LOCATION: """city cities country countries state states place places location locations region regions
    area
        areas continent town towns village villages nation nations island islands river rivers mountain
        mountains province provinces county counties capital street streets neighborhood neighbourhood
        district
        districts site venue stadium building buildings port harbor ocean sea lake desert valley border coast
        territory territories borough campus park""",
    PERSON: """person people man men woman women president king queen leader leaders player players emperor
        author writer scientist scientists general commander official officials ruler rulers minister governor
        mayor father mother son daughter brother sister wife husband family artist architect composer poet
        philosopher inventor founder coach quarterback actor actress singer director chancellor pope bishop
        explorer engineer physicist chemist mathematician economist historian professor student students
        teacher
        individual individuals group groups tribe tribes dynasty""",
    ENTITY: """team teams company companies organization organisation organizations university universities
        college school schools party parties band church newspaper network networks agency agencies
        institution institutions club clubs league army navy government empire kingdom brand firm corporation
        magazine station channel show film book album song language languages religion denomination
        nationality ethnicity award prize""",
    PERCENT: "percentage percent proportion fraction share rate",
    QUANTITY: """number amount population total count size length distance height weight area depth width
        temperature speed score margin capacity volume quantity age""",
    MONEY: "cost price value budget revenue salary fee fine worth",
}.items():
    for _w in _words.split():
        _FOCUS_TYPES.setdefault(_w, _t)

# "what type of X", "the name of X": look through to X.
# fmt: off
_LIGHT_HEADS = frozenset(
    [
        "type", "types", "kind", "kinds", "sort", "sorts", "form", "forms", "name", "names", "term",
        "terms", "part", "parts", "example", "examples", "one",
    ]
)
# fmt: on
# fmt: off
_HOW_QUANTITY = frozenset(
    [
        "large", "big", "high", "tall", "deep", "wide", "heavy", "fast", "far", "often", "frequently",
        "small", "long", "old", "many", "much", "hot", "cold", "early", "late",
    ]
)
# fmt: on
# fmt: off
_MONEY_VERBS = frozenset(
    [
        "cost", "costs", "pay", "paid", "money", "worth", "spend", "spent", "price", "earn", "earned",
        "fund", "funds", "budget", "sell", "sold",
    ]
)
# fmt: on


@dataclass
class QuestionInfo:
    """What the reader needs to know about a question.

    Attributes:
        text: the question.
        tokens: its tokens.
        answer_type: one of the type constants above (THING when nothing more specific applies).
        focus: the head noun of a what/which phrase ("" if none), lower-cased.
        wh: the question word found ("" if none).
        wh_is_subject: the wh-phrase is followed directly by a verb ("Who won …"), so the answer tends to come
            before the matched words in the sentence.
        keys: content-word stems of the question (what a sentence should share with it).
        side: for each key, where the answer is expected relative to that word in a declarative sentence:
            +1 the answer follows the word, -1 it precedes it, 0 either.
    """

    text: str
    tokens: list[Token]
    answer_type: str
    focus: str = ""
    wh: str = ""
    wh_is_subject: bool = False
    keys: list[str] = field(default_factory=list)
    side: dict[str, int] = field(default_factory=dict)


_COPULA = frozenset(["is", "are", "was", "were", "'s"])


def _has_main_verb(words: list[str]) -> bool:
    """A finite or participle verb among the words ("was founded", "is located"): not a bare copula."""
    return any(w in IRREGULAR_PAST or w in VERB_FORMS or (len(w) > 4 and w.endswith("ed")) for w in words)


def _head_after(words: list[str], i: int) -> tuple[str, int]:
    """The head noun of the phrase starting at words[i] (skipping determiners, looking through "type of")."""
    j = i
    while j < len(words) and words[j] in DETERMINERS:
        j += 1
    head, k = "", j
    while k < len(words) and words[k].isalnum() and words[k] not in STOPWORDS and words[k] not in AUXILIARIES:
        w = words[k]
        if head and (w in IRREGULAR_PAST or w in VERB_FORMS or (len(w) > 4 and w.endswith("ed"))):
            break  # "which team won …", "what company paid …": the verb ends the wh-phrase
        head = w
        k += 1
    if head in _LIGHT_HEADS and k + 1 < len(words) and words[k] == "of":
        inner, k2 = _head_after(words, k + 1)
        if inner:
            return inner, k2
    return head, k


def analyze_question(question: str) -> QuestionInfo:
    """Work out the answer type, focus noun and anchor words of a question.

    Args:
        question: the question text.

    Returns:
        A `QuestionInfo`.
    """
    toks = tokenize(question)
    words = [t.low for t in toks]
    keys = []
    for t in toks:
        if t.key and t.key not in keys and t.low not in WH_WORDS:
            keys.append(t.key)
    wi = next((i for i, w in enumerate(words) if w in WH_WORDS), -1)
    info = QuestionInfo(question, toks, THING, keys=keys)
    if wi < 0:
        # "Name the …" / a statement with a blank: the object noun is the focus.
        if words and words[0] in ("name", "list", "identify", "give"):
            info.focus, _ = _head_after(words, 1)
            info.answer_type = _FOCUS_TYPES.get(info.focus, THING)
        return info
    wh = words[wi]
    info.wh = wh
    nxt = words[wi + 1] if wi + 1 < len(words) else ""
    phrase_end = wi + 1
    if wh in ("who", "whom", "whose"):
        info.answer_type = PERSON
        info.wh_is_subject = wh == "who" and nxt not in AUXILIARIES | {"did", "does", "do"}
        if nxt in _COPULA:
            # "Who were the two abbots …" ~ "the two abbots, William and John": the noun names the answer
            info.focus, _ = _head_after(words, wi + 2)
    elif wh == "when":
        info.answer_type = DATE
    elif wh == "where":
        info.answer_type = LOCATION
    elif wh == "why":
        info.answer_type = REASON
    elif wh == "how":
        if nxt == "many":
            info.answer_type = COUNT
            info.focus, phrase_end = _head_after(words, wi + 2)
        elif nxt == "much":
            info.answer_type = MONEY if any(w in _MONEY_VERBS for w in words) else QUANTITY
        elif nxt == "long":
            info.answer_type = DURATION
        elif nxt in _HOW_QUANTITY:
            info.answer_type = QUANTITY
        else:
            info.answer_type = MANNER
    else:  # what / which
        if nxt in AUXILIARIES or nxt in ("did", "does", "do"):
            # "what was the theme of X" → the subject's head; "what did X do" → no focus.
            if nxt not in ("did", "does", "do"):
                info.focus, phrase_end = _head_after(words, wi + 2)
        elif nxt in PREPOSITIONS:
            info.focus = ""
        else:
            info.focus, phrase_end = _head_after(words, wi + 1)
            follow = words[phrase_end] if phrase_end < len(words) else ""
            info.wh_is_subject = follow not in AUXILIARIES and follow not in ("did", "does", "do")
        info.answer_type = _FOCUS_TYPES.get(info.focus, THING)
        if info.answer_type == QUANTITY and "percent" in words:
            info.answer_type = PERCENT
    if info.focus in ("year", "years") and info.answer_type in (DATE, YEAR):
        info.answer_type = YEAR
    # Word order: a declarative sentence keeps the question's words in place of the wh-phrase. Words before
    # the wh-word precede the answer; words after it follow it when the wh-phrase is the subject ("which team
    # won X" ~ "Denver won X") and precede it after inversion ("what did Tesla invent" ~ "Tesla invented Y").
    after = 1 if not info.wh_is_subject else -1
    if nxt in _COPULA and not _has_main_verb(words[wi + 2 :]):
        # "Who were the color analysts?" equates the answer with the rest: "A and B as color analysts" and
        # "the color analysts were A and B" are both declarative forms, so no side is expected.
        after = 0
    for t_i, t in enumerate(toks):
        if t.key and t.key in keys and t.key not in info.side:
            info.side[t.key] = 1 if t_i < wi else (0 if t_i < phrase_end else after)
    if info.answer_type == COUNT and info.focus:
        info.side[stem(info.focus)] = -1  # "how many points" ~ "30 points": the count comes first
    return info
