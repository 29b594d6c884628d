"""Text plumbing for the extractive reader: tokens with offsets, sentences, stemming, closed word classes.

Pure Python. Every token keeps its character span into the page text so an answer maps back to lines and
boxes. The word lists are small closed classes of English (determiners, prepositions, auxiliaries, …) plus a
few open-class hints (months, number words, units); nothing here is fitted to a dataset.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A number (1,000 / 3.5 / 1990s / 19th), a word (with inner hyphens/apostrophes), or one other visible char.
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?\b|[^\W\d_](?:[\w]|[-'’](?=\w))*|\d+\w*|\S")
# fmt: off
_ABBREV = frozenset(
    [
        "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "lt", "sgt", "capt", "cmdr",
        "gov", "sen", "rep", "rev", "fr", "no", "nos", "vol", "vols", "fig", "figs", "ca", "c", "approx",
        "vs", "etc", "inc", "ltd", "co", "corp", "bros", "dept", "est", "jan", "feb", "mar", "apr", "jun",
        "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "op", "al", "e.g", "i.e", "u.s",
        "u.k", "a.m", "p.m",
    ]
)
# fmt: on
_SENT_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])|\n\s*\n")

# fmt: off
STOPWORDS = frozenset(
    [
        "a", "an", "the", "this", "that", "these", "those", "of", "in", "on", "at", "by", "for", "with",
        "from", "to", "into", "onto", "upon", "during", "after", "before", "between", "among", "under",
        "over", "through", "about", "against", "within", "without", "across", "since", "until", "toward",
        "towards", "per", "via", "as", "and", "or", "but", "nor", "so", "yet", "if", "then", "than",
        "because", "while", "although", "though", "whether", "is", "are", "was", "were", "be", "been",
        "being", "am", "has", "have", "had", "having", "do", "does", "did", "will", "would", "shall",
        "should", "can", "could", "may", "might", "must", "it", "its", "it's", "he", "she", "they", "them",
        "his", "her", "their", "theirs", "we", "us", "our", "i", "me", "my", "you", "your", "him", "who",
        "whom", "whose", "which", "what", "when", "where", "why", "how", "there", "here", "not", "no",
        "also", "such", "some", "any", "each", "every", "other", "another", "both", "either", "neither",
        "all", "most", "more", "many", "much", "few", "several", "very", "only", "just", "own", "same",
        "too", "s", "'d", "'ll", "'re", "'ve", "one", "ones",
    ]
)
# fmt: on
# fmt: off
DETERMINERS = frozenset(
    [
        "a", "an", "the", "this", "that", "these", "those", "his", "her", "its", "their", "our", "my",
        "your", "some", "any", "each", "every", "no", "another", "such", "both",
    ]
)
# fmt: on
# fmt: off
PREPOSITIONS = frozenset(
    [
        "of", "in", "on", "at", "by", "for", "with", "from", "to", "into", "onto", "upon", "during",
        "after", "before", "between", "among", "amongst", "under", "over", "through", "throughout",
        "about", "against", "within", "without", "across", "since", "until", "till", "toward", "towards",
        "per", "via", "near", "beyond", "behind", "below", "above", "beneath", "beside", "besides",
        "along", "around", "amid", "despite", "except", "inside", "outside", "like", "unlike", "than",
        "including", "following", "versus", "as",
    ]
)
# fmt: on
# fmt: off
CONJUNCTIONS = frozenset(
    [
        "and", "or", "but", "nor", "yet", "so", "whereas", "while", "although", "though", "because", "if",
        "unless", "whether",
    ]
)
# fmt: on
# fmt: off
PRONOUNS = frozenset(
    [
        "i", "you", "he", "she", "it", "we", "they", "me", "him", "us", "them", "myself", "himself",
        "herself", "itself", "ourselves", "themselves", "who", "whom", "whose", "which", "that", "what",
        "whoever", "whatever", "where", "when",
    ]
)
# fmt: on
# fmt: off
AUXILIARIES = frozenset(
    [
        "is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "having", "do",
        "does", "did", "will", "would", "shall", "should", "can", "could", "may", "might", "must", "'s",
    ]
)
# fmt: on
# fmt: off
ADVERBS = frozenset(
    [
        "not", "also", "only", "very", "too", "just", "even", "still", "already", "often", "always",
        "never", "sometimes", "usually", "then", "there", "here", "now", "later", "earlier", "thus",
        "however", "therefore", "moreover", "furthermore", "meanwhile", "nevertheless", "nonetheless",
        "instead", "rather", "quite", "almost", "nearly", "eventually", "finally", "initially",
        "currently", "previously", "originally", "mostly", "largely", "mainly", "partly", "especially",
        "particularly", "generally", "typically", "approximately", "roughly", "around", "perhaps",
        "probably", "possibly", "yet", "again", "ago", "once", "twice", "hence", "else", "otherwise",
        "together", "apart",
    ]
)
# fmt: on
# Words in -ly that are nouns or names, not adverbs.
# fmt: off
_LY_NOUNS = frozenset(
    [
        "family", "supply", "assembly", "ally", "rally", "reply", "italy", "july", "monopoly", "anomaly",
        "butterfly", "bully", "holy", "lily", "jelly", "belly", "melancholy", "homily", "folly", "fly",
        "apply", "comply", "rely",
    ]
)
# fmt: on
# Past forms that do not end in -ed: a finite verb rarely sits inside a short answer.
# fmt: off
IRREGULAR_PAST = frozenset(
    [
        "was", "were", "had", "did", "made", "took", "gave", "became", "began", "came", "went", "won",
        "lost", "led", "held", "built", "found", "left", "saw", "said", "told", "thought", "brought",
        "bought", "fought", "taught", "caught", "sought", "wrote", "knew", "grew", "drew", "threw", "flew",
        "chose", "spoke", "broke", "rose", "fell", "ran", "sold", "sent", "spent", "meant", "kept", "felt",
        "met", "paid", "laid", "stood", "understood", "struck", "hung", "shot", "sat", "bore", "wore",
        "tore", "swore", "drove", "rode", "sang", "sank", "drank", "ate", "fed", "fled", "froze", "got",
        "hid", "lent", "overcame", "overtook", "rang", "shook", "shone", "slid", "spun", "stole", "stuck",
        "swept", "swam", "swung", "undertook", "woke", "withdrew", "arose", "awoke", "bent", "bound",
        "blew", "dealt", "dug", "dwelt", "forgot", "forgave", "heard", "hurt", "leapt", "mistook",
        "sprang", "strove", "upheld", "wept", "became", "begun", "written", "known", "grown", "drawn",
        "thrown", "flown", "chosen", "spoken", "broken", "risen", "fallen", "given", "taken", "eaten",
        "driven", "ridden", "frozen", "hidden", "stolen", "forgotten", "seen", "shown", "gotten",
    ]
)
# fmt: on
# Common verbs (base forms). Marked as verbs only where the context allows no noun reading (see is_verbish).
# fmt: off
_VERBS = frozenset(
    [
        "accept", "achieve", "acquire", "add", "agree", "allow", "appear", "apply", "argue", "arrive",
        "ask", "attempt", "avoid", "become", "begin", "believe", "belong", "bring", "build", "buy", "call",
        "carry", "cause", "claim", "come", "compete", "concern", "conclude", "consider", "consist",
        "contain", "continue", "contribute", "create", "decide", "defeat", "define", "deliver", "depend",
        "describe", "design", "destroy", "determine", "develop", "die", "discover", "eat", "elect",
        "enable", "encourage", "ensure", "enter", "establish", "exist", "expand", "expect", "explain",
        "face", "fail", "feel", "fight", "find", "follow", "force", "gain", "get", "give", "go", "grow",
        "happen", "hear", "help", "hold", "identify", "include", "increase", "indicate", "influence",
        "inform", "introduce", "invent", "involve", "join", "keep", "kill", "know", "lack", "lead",
        "learn", "leave", "let", "lie", "like", "live", "look", "lose", "maintain", "make", "mean", "meet",
        "move", "need", "note", "obtain", "occur", "offer", "operate", "own", "pass", "perform",
        "persuade", "place", "prefer", "prepare", "prevent", "produce", "promote", "protect", "prove",
        "provide", "publish", "pursue", "put", "raise", "reach", "read", "receive", "recognize", "reduce",
        "refer", "reflect", "refuse", "regard", "reject", "relate", "release", "rely", "remain",
        "remember", "remove", "replace", "represent", "require", "result", "return", "reveal", "rise",
        "run", "say", "see", "seek", "seem", "sell", "send", "serve", "set", "show", "sign", "speak",
        "spend", "stand", "start", "stay", "stop", "suggest", "suffer", "support", "take", "teach", "tell",
        "tend", "think", "travel", "try", "turn", "understand", "unite", "use", "vary", "visit", "want",
        "watch", "wear", "win", "wish", "work", "write",
    ]
)
# fmt: on


def _verb_forms(base: str) -> set[str]:
    forms = {base, base + "s", base + "es", base + "ing", base + "ed", base + "d"}
    if base.endswith("e"):
        forms |= {base[:-1] + "ing", base + "d"}
    if base.endswith("y") and base[-2] not in "aeiou":
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if len(base) > 2 and base[-1] not in "aeiouwxy" and base[-2] in "aeiou" and base[-3] not in "aeiou":
        forms |= {base + base[-1] + "ing", base + base[-1] + "ed"}
    return forms


VERB_FORMS = frozenset(f for b in _VERBS for f in _verb_forms(b))
# -ing words that are usually nouns.
# fmt: off
_ING_NOUNS = frozenset(
    [
        "building", "buildings", "king", "kings", "thing", "things", "nothing", "something", "anything",
        "everything", "morning", "evening", "spring", "string", "ring", "wing", "sibling", "ceiling",
        "meeting", "painting", "wedding", "training", "engineering", "feeling", "beginning", "ending",
        "offering", "clothing", "housing", "funding", "earnings", "opening", "setting", "reading",
        "writing", "teaching", "learning", "understanding", "being", "during", "bring", "sing", "sting",
        "swing", "cling", "fling", "sling", "wring",
    ]
)
# fmt: on

# fmt: off
MONTHS = frozenset(
    [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
        "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct",
        "nov", "dec",
    ]
)
# fmt: on
WEEKDAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
# fmt: off
NUMBER_WORDS = frozenset(
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
        "hundreds", "thousand", "thousands", "million", "millions", "billion", "billions", "trillion",
        "dozen", "dozens", "half", "quarter",
    ]
)
# fmt: on
# fmt: off
ORDINAL_WORDS = frozenset(
    [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
        "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
        "eighteenth", "nineteenth", "twentieth",
    ]
)
# fmt: on
# fmt: off
CURRENCY = frozenset(
    [
        "$", "£", "€", "¥", "dollar", "dollars", "pound", "pounds", "euro", "euros", "yen", "cent",
        "cents", "usd",
    ]
)
# fmt: on
PERCENT = frozenset(["%", "percent", "per-cent", "percentage"])
# fmt: off
TIME_UNITS = frozenset(
    [
        "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month",
        "months", "year", "years", "decade", "decades", "century", "centuries", "millennium", "millennia",
    ]
)
# fmt: on
DATE_WORDS = frozenset(["century", "centuries", "decade", "bc", "ad", "bce", "ce"]) | MONTHS | WEEKDAYS

_YEAR = re.compile(r"^(?:1[0-9]{3}|20[0-9]{2})s?$|^[0-9]{2,4}0s$|^'[0-9]0s$")
_DIGIT = re.compile(r"\d")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$")


@dataclass(frozen=True)
class Token:
    """One token: `text` = page_text[start:end]; `low` lower-cased; `key` its matching stem ('' if none)."""

    text: str
    start: int
    end: int
    low: str
    key: str

    @property
    def is_word(self) -> bool:
        return self.text[0].isalnum()

    @property
    def is_cap(self) -> bool:
        return self.text[0].isupper()


def stem(word: str) -> str:
    """A light suffix stripper so that found/founded/founding or nation/nations meet; lower-case input."""
    w = word
    if w.endswith(("'s", "’s")):
        w = w[:-2]
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("ied") and len(w) > 4:
        return w[:-3] + "y"
    for suffix in (
        "ations",
        "ation",
        "ments",
        "ment",
        "ingly",
        "ings",
        "ing",
        "edly",
        "ness",
        "ed",
        "es",
        "ly",
        "s",
        "e",
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                break
            w = w[: -len(suffix)]
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # stopp -> stop, winn -> win
    return w


def fold_accents(word: str) -> str:
    """Strip diacritics ("gospić" -> "gospic"): people type names without them, so matching ignores them."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str, offset: int = 0) -> list[Token]:
    """Tokens of `text` with spans shifted by `offset` (so a sentence's tokens index the page text)."""
    out = []
    for m in _TOKEN.finditer(text):
        t = m.group()
        low = t.lower().replace("’", "'")
        key = "" if (low in STOPWORDS or not t[0].isalnum()) else stem(fold_accents(low))
        out.append(Token(t, m.start() + offset, m.end() + offset, low, key))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of `text`, trimmed of surrounding whitespace.

    Splits after . ! ? (and closing quotes/brackets) before an upper-case letter or digit, except after common
    abbreviations and single initials; a blank line always ends a sentence.
    """
    spans = []
    start = 0
    for m in _SENT_END.finditer(text):
        end = m.end()
        if m.group().startswith("."):
            before = text[start : m.start()].rsplit(None, 1)
            last = before[-1].lower().rstrip(".") if before else ""
            last = last.lstrip("\"'(“‘[")
            if (
                last in _ABBREV
                or (len(last) == 1 and last.isalpha())
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]", last)
            ):
                continue
        spans.append((start, end))
        start = end
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def is_year(low: str) -> bool:
    return bool(_YEAR.match(low))


def is_number(low: str) -> bool:
    return bool(_DIGIT.search(low)) or low in NUMBER_WORDS


def is_ordinal(low: str) -> bool:
    return low in ORDINAL_WORDS or bool(_ORDINAL.match(low))


def is_adverb(low: str) -> bool:
    """A closed-list adverb or a lower-case -ly word that is not a known -ly noun."""
    return low in ADVERBS or (len(low) > 4 and low.endswith("ly") and low.isalpha() and low not in _LY_NOUNS)


def is_verbish(tok: Token, prev: Token | None = None) -> bool:
    """A likely verb: an auxiliary, an irregular past, a lower-case -ed word, or a common verb form.

    A common verb form counts only where the previous token allows no noun reading: after a determiner or a
    preposition "set", "return" or "support" are nouns; after "to" they are infinitives.
    """
    low = tok.low
    if low in AUXILIARIES or low in IRREGULAR_PAST:
        return True
    if tok.is_cap or not low.isalpha():
        return False
    if len(low) > 4 and low.endswith("ed"):
        return True
    p = prev.low if prev is not None else ""
    if low in VERB_FORMS:
        return p == "to" or p not in DETERMINERS and p not in PREPOSITIONS and p not in ("'s", "of")
    if len(low) > 5 and low.endswith("ing") and low not in _ING_NOUNS:
        return p not in DETERMINERS and p not in PREPOSITIONS
    return False
