"""How alike two names are, the way a person reading a UI change judges it: by words, not characters.

``submit-order`` and ``submitOrder`` are one name; ``email-input`` and ``email-field`` name the same
thing (the generic word differs); ``sign-in`` and ``log-in`` are synonyms; ``row-3`` and ``row-4`` are
different rows. Values frameworks generate (``:r3:``, ``mat-input-2``, ``ember123``, CSS-module and
CSS-in-JS hashes) carry no meaning and are recognised so they are neither trusted nor written.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(
    r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])"
)

# Words that say what kind of thing an element is rather than which one.
GENERIC = frozenset(
    {
        "btn",
        "button",
        "input",
        "field",
        "el",
        "elem",
        "element",
        "box",
        "container",
        "wrapper",
        "wrap",
        "item",
        "link",
        "text",
        "label",
        "icon",
        "form",
        "control",
        "ctrl",
        "cta",
        "action",
        "section",
        "page",
        "main",
        "primary",
        "secondary",
        "block",
        "component",
        "comp",
        "js",
        "qa",
        "test",
        "cy",
        "data",
        "id",
        "txt",
        "lbl",
        "fld",
        "inp",
        "div",
        "span",
        "area",
        "value",
        "group",
        "row",
        "col",
        "cell",
        "list",
        "card",
        "panel",
        "view",
        "modal",
        "dialog",
        "menu",
        "nav",
        "bar",
        "tab",
        "option",
        "select",
        "dropdown",
        "checkbox",
        "check",
        "radio",
        "toggle",
        "switch",
        "textarea",
        "title",
        "heading",
        "header",
        "footer",
        "content",
        "inner",
        "outer",
        "root",
        "new",
        "old",
        "default",
        "v2",
    }
)
STOP = frozenset(
    {"the", "a", "an", "of", "to", "for", "your", "my", "our", "and", "or", "in", "on", "at", "is", "by",
     "from", "as"}
)

# Words UIs use interchangeably; each group maps to its first word.
_SYNONYMS = [
    ("button", "btn"),
    ("label", "lbl"),
    ("text", "txt"),
    ("signin", "login", "logon"),
    ("signup", "register", "registration", "join"),
    ("signout", "logout", "logoff"),
    ("submit", "send", "confirm", "ok"),
    ("save", "apply", "update"),
    ("delete", "remove", "trash", "destroy", "del", "rm"),
    ("cancel", "dismiss", "abort"),
    ("close",),
    ("search", "find", "lookup", "query"),
    ("next", "continue", "proceed", "forward"),
    ("back", "previous", "prev", "return"),
    ("add", "create", "plus", "insert"),
    ("edit", "modify", "change", "rename"),
    ("cart", "basket", "bag", "trolley"),
    ("checkout", "pay", "purchase", "buy"),
    ("email", "mail"),
    ("password", "pass", "passwd", "pwd", "passcode"),
    ("username", "user", "userid", "handle"),
    ("phone", "tel", "telephone", "mobile"),
    ("address", "addr", "street"),
    ("zip", "postcode", "postal", "zipcode"),
    ("quantity", "qty", "amount", "count"),
    ("firstname", "fname", "forename"),
    ("lastname", "lname", "surname"),
    ("message", "msg", "comment", "note", "body"),
    ("subscribe", "newsletter", "optin"),
    ("terms", "tos", "agreement", "conditions"),
    ("accept", "agree", "allow", "approve"),
    ("settings", "preferences", "prefs", "options", "config"),
    ("profile", "account", "me", "myself", "yourself"),
    ("notification", "notifications", "alerts", "alert"),
    ("download", "export"),
    ("upload", "import", "attach"),
    ("description", "desc", "summary", "details"),
    ("error", "err", "invalid", "warning", "danger", "dangerous"),  # antd 5: ant-btn-dangerous
    ("total", "sum", "grandtotal"),
    ("price", "cost", "amount"),
    ("country", "nation"),
    ("company", "organisation", "organization", "org", "business", "employer"),
    ("date", "day", "when"),
    ("filter", "refine"),
    ("sort", "orderby"),
    ("menu", "hamburger", "burger", "navtoggle"),
    ("home", "dashboard"),
    ("help", "support", "faq"),
    ("remember", "rememberme"),
    ("forgot", "reset", "recover"),
    ("jump", "skip"),  # "Jump to recipe" / "Skip to content": in-page links
    ("column", "lane", "swimlane"),  # a kanban board's
    ("badge", "tag", "chip", "pill"),
    ("checkin", "arrival", "arrive"),
    ("release", "lift", "unblock"),  # a hold, a block: "Release hold" / "Lift hold"
    ("litre", "liter"), ("metre", "meter"), ("kilometre", "kilometer"), ("millilitre", "milliliter"),
]
_CANON: dict[str, str] = {}
for _group in _SYNONYMS:
    for _w in _group:
        _CANON.setdefault(re.sub(r"[^a-z0-9]", "", _w), _group[0])

# Phrases that are one word to a reader ("Log in" is "signin"; "Place order" and "Complete purchase"
# both mean checking out), matched on whole words in order. Where the parts mean something on their
# own ("submit order"), they stay beside the phrase's word.
_JOINED = {
    ("sign", "in"): "signin", ("log", "in"): "signin", ("log", "on"): "signin",
    ("sign", "up"): "signup", ("create", "account"): "signup", ("create", "an", "account"): "signup",
    ("sign", "out"): "signout", ("log", "out"): "signout", ("log", "off"): "signout",
    ("check", "out"): "checkout", ("check", "in"): "checkin",
    ("e", "mail"): "email", ("e", "mail", "address"): "email",
    ("user", "name"): "username", ("first", "name"): "firstname", ("given", "name"): "firstname",
    ("last", "name"): "lastname", ("family", "name"): "lastname", ("zip", "code"): "zip",
    ("post", "code"): "zip", ("postal", "code"): "zip", ("remember", "me"): "remember",
    ("keep", "me", "signed", "in"): "remember", ("stay", "signed", "in"): "remember",
}
_BESIDE = {
    ("place", "order"): "checkout", ("submit", "order"): "checkout", ("complete", "purchase"): "checkout",
    ("complete", "order"): "checkout", ("confirm", "order"): "checkout", ("buy", "now"): "checkout",
    ("pay", "now"): "checkout", ("place", "your", "order"): "checkout", ("add", "to", "cart"): "addtocart",
    ("add", "to", "bag"): "addtocart", ("add", "to", "basket"): "addtocart", ("email", "address"): "email",
    ("phone", "number"): "phone", ("mobile", "number"): "phone", ("forgot", "password"): "forgot",
    ("reset", "password"): "forgot",
}
_PHRASES = {**{k: (v, False) for k, v in _JOINED.items()}, **{k: (v, True) for k, v in _BESIDE.items()}}
_LONGEST_PHRASE = max(len(p) for p in _PHRASES)

# Framework-generated values: never meaningful, never to be written into a test.
_GENERATED = [
    re.compile(r"(?:^|[^\w]):r[0-9a-z]+:(?![\w])"),  # React useId, also inside (:r5:-form-item, field-:rh:)
    re.compile(r"^(?:radix|headlessui|downshift|react-select|rc|mui|chakra|reach|aria)[-:_].*\d"),
    re.compile(r"^mat-[a-z-]+-\d+$"),  # Angular Material
    re.compile(r"^(?:cdk|ng)-[a-z-]*\d+"),
    re.compile(r"^ember\d+$"),
    re.compile(r"^ext-(?:gen|comp|element)-?\d+"),
    re.compile(r"^(?:css|sc|jsx|emotion|styled|makeStyles|jss)-[A-Za-z0-9_-]{4,}$"),
    re.compile(r"^[A-Za-z][\w-]*?__[A-Za-z0-9_-]{5}$"),  # CSS modules: Button_primary__3xYz1
    re.compile(r"^_?[a-zA-Z0-9]{5,8}_\d+$"),
    re.compile(r"^svelte-[a-z0-9]+$"),
    re.compile(r"^_+[A-Za-z]+_+\d+$"),  # BootstrapVue __BVID__41
    re.compile(r"^(?:_r_[0-9a-z]+_|«r[0-9a-z]+»)$"),  # React 19 useId
    re.compile(r"^(?:[a-z]+-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),  # UUID
    re.compile(r"^(?:id|input|field|el|u|uid|gen|auto|yui|x|comp|tmp|c|f|g)[-_]?\d+(?:[-_]\d+)*$", re.I),
    re.compile(r"^[a-z]{1,3}\d{3,}$"),
]
_HASHY = re.compile(r"^(?=.*\d)(?=.*[a-zA-Z])[A-Za-z0-9]{5,}$")


# Words framework-generated names are made of, which say nothing about the element.
_FRAMEWORK = frozenset({
    "mat", "mdc", "ng", "tns", "cdk", "ember", "ext", "gen", "comp", "headlessui", "radix", "downshift",
    "react", "select", "rc", "mui", "chakra", "reach", "css", "sc", "jsx", "emotion", "svelte", "bvid",
    "r", "uid", "yui", "id", "auto", "tmp", "el",
})


def framework_word(word: str) -> bool:
    """A word UI frameworks put in the names they generate (ember, mat, mui, css): it says nothing."""
    return word in _FRAMEWORK


def nameless(value: str) -> bool:
    """A generated value whose words say nothing but the kind of element (``mat-input-2``, ``:r3:``),
    unlike a CSS-module class whose hash changes but whose name (``CheckoutSummary_placeOrder``) says
    what it is."""
    if not generated(value):
        return False
    return all(w.isdigit() or w in _FRAMEWORK or w in GENERIC for w in words(value))


def generated(value: str) -> bool:
    v = value.strip()
    return any(p.search(v) for p in _GENERATED)


@lru_cache(maxsize=8192)
def words(text: str, keep_parts: bool = True) -> tuple[str, ...]:
    """Lower-case words of a name or text: camelCase and digits split, hashes and stop words dropped,
    phrases that are one word to a reader ("sign in" / "sign-in" / "signIn") joined."""
    raw: list[str] = []
    for part in _SPLIT.split(text or ""):
        if not part:
            continue
        if _HASHY.match(part) and not part.isdigit() and sum(c.isdigit() for c in part) >= 2:
            continue  # a hash like 3xYz1, not a word
        raw += [_singular(w.lower()) for w in _CAMEL.split(part) if w]
    joined: list[str] = []
    i = 0
    while i < len(raw):
        for n in range(min(_LONGEST_PHRASE, len(raw) - i), 1, -1):
            phrase = _PHRASES.get(tuple(raw[i:i + n]))
            if phrase:
                word, parts_mean = phrase
                if parts_mean and keep_parts:
                    joined += [w for w in raw[i:i + n] if w not in STOP and w != word]
                joined.append(word)
                i += n
                break
        else:
            if raw[i] not in STOP:
                joined.append(raw[i])
            i += 1
    return tuple(joined)


# Plurals that are words of their own in UIs ("Save changes", "Settings", "Terms").
_KEEP_PLURAL = frozenset({"changes", "settings", "details", "news", "terms", "options", "notifications",
                          "preferences", "thanks", "series", "analytics", "sales", "orders"})


_IE_STEMS = ("cook", "mov", "calor", "self", "rook", "hood", "zomb", "smooth", "good", "brown", "newb",
             "freeb", "sort", "gen", "bird", "aunt", "cut", "pix", "prair", "boog", "lass")


def _singular(word: str) -> str:
    """guests → guest, addresses → address, categories → category (enough for names and labels)."""
    if len(word) <= 3 or word.isdigit() or word.endswith(("ss", "us", "is")) or word in _KEEP_PLURAL:
        return word
    if word.endswith("ies"):
        # Nouns in -ie keep it (cookies, movies, calories); the rest are -y (categories, replies).
        return word[:-1] if word[:-3].endswith(_IE_STEMS) or len(word) <= 5 else word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") else word


def canon(word: str) -> str:
    return _CANON.get(word, word)


def tokens(text: str) -> tuple[str, ...]:
    """The words of ``text`` with synonyms folded onto one word."""
    return tuple(canon(w) for w in words(text))


def _weight(token: str) -> float:
    return 0.5 if token in GENERIC else 1.0


def squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", (text or "").lower())


@lru_cache(maxsize=16384)
def similarity(a: str, b: str) -> float:
    """0..1: how likely ``b`` (a name on the page now) names what ``a`` (the old name) named."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    sa, sb = set(wa), set(wb)
    if opposed(sa, sb):
        return 0.0
    if _units(a) != _units(b):  # downPayment / downPaymentPct: another quantity
        rest_a = "-".join(w for w in wa if w not in _UNIT_WORDS)
        rest_b = "-".join(w for w in wb if w not in _UNIT_WORDS)
        return 0.5 * similarity(rest_a, rest_b) if rest_a and rest_b else 0.0
    # A word matches itself fully and a synonym (sign in / log in) at 0.75.
    credit = 0.0
    matched_b: set[str] = set()
    for w in sa:
        if w in sb:
            credit += _weight(w)
            matched_b.add(w)
            continue
        syn = next((v for v in sb if v not in matched_b and canon(v) == canon(w)), None)
        if syn is not None:
            credit += 0.75 * min(_weight(w), _weight(syn))
            matched_b.add(syn)
    union = sum(_weight(t) for t in sa) + sum(_weight(t) for t in sb if t not in matched_b)
    score_words = credit / union if union else 0.0
    # A name that only adds words is likely the same name ("email" ~ "login-email", "submit" ~
    # "submit-order", "invoice-row" ~ "invoice-table__row"), if nothing of the shorter one is lost
    # ("invoice-row" and "new-invoice" differ: the row is gone). A new name that drops words of the
    # old one is weaker: "cart" names much more than "cart-total" did.
    small, big = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    lost = [w for w in small if w not in big and not any(canon(w) == canon(v) for v in big)]
    core_small = [w for w in small if w not in GENERIC]
    if not lost and core_small:
        big_weight = sum(_weight(t) for t in big)
        kept = sum(_weight(t) for t in small)
        literal = small <= big
        subset = (0.55 + 0.35 * kept / big_weight) * (1.0 if literal else 0.85)
        if small is sb and sb != sa:
            subset *= 0.6  # the page's name is the shorter one: words of the old name are gone
        score_words = max(score_words, subset)
    ta, tb = tuple(canon(w) for w in wa), tuple(canon(w) for w in wb)
    qa, qb = squash(" ".join(ta)), squash(" ".join(tb))
    # Letters count only for a near-identical spelling (a typo, "firstName" / "first_name"): shared
    # endings like "-select" or "-button" make unrelated names look alike letter by letter.
    ratio = difflib.SequenceMatcher(None, qa, qb).ratio() if qa and qb else 0.0
    chars = ratio * 0.9 if ratio >= 0.85 else 0.0
    score = max(score_words, chars)
    # Different numbers name different things (row-3 is not row-4), unless nothing else differs.
    nums_a, nums_b = {t for t in sa if t.isdigit()}, {t for t in sb if t.isdigit()}
    if nums_a and nums_b and nums_a != nums_b:
        score *= 0.5
    return min(1.0, score)


# Words naming opposite actions: "Import CSV" is not a renamed "Export CSV".
_OPPOSITES = [
    ("import", "export"), ("upload", "download"), ("add", "remove"), ("add", "delete"), ("enable", "disable"),
    ("open", "close"), ("show", "hide"), ("next", "previous"), ("next", "back"), ("increase", "decrease"),
    ("signin", "signout"), ("login", "logout"), ("subscribe", "unsubscribe"), ("follow", "unfollow"),
    ("accept", "decline"), ("accept", "reject"), ("approve", "reject"), ("yes", "no"), ("start", "stop"),
    ("expand", "collapse"), ("lock", "unlock"), ("archive", "unarchive"), ("mute", "unmute"),
    ("like", "unlike"),
    ("on", "off"), ("min", "max"), ("first", "last"), ("in", "out"), ("plus", "minus"), ("save", "discard"),
    ("save", "cancel"), ("submit", "cancel"), ("confirm", "cancel"), ("buy", "sell"), ("credit", "debit"),
    ("public", "private"), ("pin", "unpin"), ("block", "unblock"), ("check", "uncheck"),
    ("select", "deselect"),
]
OPPOSITE: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    OPPOSITE.setdefault(_a, set()).add(_b)
    OPPOSITE.setdefault(_b, set()).add(_a)


def opposed(a: set[str], b: set[str]) -> bool:
    """Whether one side names an action the other names the opposite of (and not also the same)."""
    ca, cb = {canon(w) for w in a} | a, {canon(w) for w in b} | b
    return any(OPPOSITE.get(w, set()) & cb for w in ca - cb)


# Words a label can gain or lose without meaning another action ("Proceed to checkout").
FILLER = frozenset({"proceed", "go", "now", "please", "click", "here", "today", "changes", "it", "this",
                    "that", "all", "just", "and", "with", "optional", "required", "selected"})


_UNIT = re.compile(
    # a unit, not an amount: "(%)", "Amount ($)", not "€31.40" or "20%"
    r"(?<![\d.,])\s?[%$€£¥₹](?!\s?\d)"
    r"|\((?:kg|lb|lbs|g|oz|km|mi|m|cm|mm|in|ft|l|ml|h|hrs?|min|s|sec|days?|years?)\)",
    re.I,
)


_UNIT_WORDS = frozenset({"pct", "percent", "percentage", "kg", "lb", "lbs", "usd", "eur", "gbp", "cents"})


def _units(text: str) -> set[str]:
    """The units a label or name states: "(%)", "$", "(kg)", "Pct"."""
    found = {m.group(0).lower().strip("() ") for m in _UNIT.finditer(text)}
    found |= set(words(text)) & _UNIT_WORDS
    return {"%" if u in ("pct", "percent", "percentage") else u for u in found}


# A rate written with a slash spells out the same words as written in full: "Flow rate (L/min)" and
# "Flow rate (litres per minute)" (a release that spells units out), "Speed (km/h)".
_UNIT_ABBREVIATIONS = {
    "l": "litre", "ml": "millilitre", "m": "metre", "km": "kilometre", "mi": "mile", "kg": "kilogram",
    "g": "gram", "lb": "pound", "min": "minute", "h": "hour", "hr": "hour", "s": "second",
    "sec": "second", "d": "day", "wk": "week", "mo": "month", "yr": "year",
}
_RATE = re.compile(r"\b([a-z]{1,3})\s*/\s*([a-z]{1,3})\b")


def spell_rates(text: str) -> str:
    """``l/min`` → ``litre per minute`` where both sides are units (lower-case text)."""
    def spelled(m: re.Match[str]) -> str:
        a, b = _UNIT_ABBREVIATIONS.get(m.group(1)), _UNIT_ABBREVIATIONS.get(m.group(2))
        return f"{a} per {b}" if a and b else m.group(0)

    return _RATE.sub(spelled, text) if "/" in text else text


_QUANTIFIERS = frozenset({"all", "selected", "none", "every", "each", "some"})
_NEAR_SAME_TEXT = 0.85

# Words naming what a control does (their synonyms fold onto these).
_ACTION_WORDS = frozenset({
    "submit", "save", "delete", "cancel", "close", "search", "next", "back", "add", "edit", "checkout",
    "signin", "signup", "signout", "download", "upload", "accept", "filter", "sort", "forgot", "open",
    "send", "print", "share", "copy", "publish", "archive", "restore", "approve", "reject", "continue",
})


def text_similarity(a: str, b: str) -> float:
    """0..1 for visible texts (labels, names, link texts), stricter than for identifiers: a label that
    gains a word may name another action ("Save" and "Save as team default"), so every word either
    side has to be matched (a synonym counts three quarters); filler words do not count."""
    na, nb = " ".join((a or "").lower().split()), " ".join((b or "").lower().split())
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    na, nb = spell_rates(na), spell_rates(nb)
    if _units(a) != _units(b):
        # "Down payment" / "Down payment (%)", "Weight (kg)" / "Weight (lb)": another quantity, and
        # what the test types was meant for the other one.
        bare_a, bare_b = _UNIT.sub(" ", na), _UNIT.sub(" ", nb)
        bare_a = " ".join(w for w in words(bare_a, False) if w not in _UNIT_WORDS)
        bare_b = " ".join(w for w in words(bare_b, False) if w not in _UNIT_WORDS)
        return 0.5 * text_similarity(bare_a, bare_b) if bare_a and bare_b else 0.0
    # A label is read as phrases: "Place order" is one thing, not "place" and "order".
    wa = [w for w in words(na, False) if w not in FILLER] or list(words(na, False))
    wb = [w for w in words(nb, False) if w not in FILLER] or list(words(nb, False))
    if not wa or not wb:
        return 0.0
    # A filler word that takes the place of a word of the old name is not filler: "Re-run all jobs"
    # is not "Re-run failed jobs" less a word, it re-runs other jobs.
    raw_a, raw_b = words(na, False), words(nb, False)
    lost = [w for w in raw_a if w not in FILLER and all(canon(v) != canon(w) for v in raw_b)]
    gained = [w for w in raw_b if w not in STOP and all(canon(v) != canon(w) for v in raw_a)]
    quantified = {w for w in raw_a if w in _QUANTIFIERS} ^ {w for w in raw_b if w in _QUANTIFIERS}
    if (lost and gained) or len(quantified) > 1:
        wa, wb = list(raw_a), list(raw_b)
    sa, sb = set(wa), set(wb)
    if opposed(sa, sb):
        return 0.0
    # A menu item or tab that now names more than one thing: "Statements" / "Statements & documents",
    # "Privacy" / "Privacy and security". The old name is one of the new one's items, as written.
    # Not for actions: "Save and close" does more than "Save" did.
    items = [i.strip() for i in re.split(r"\s*(?:&|\+|\band\b|,)\s*", nb) if i.strip()]
    if len(items) > 1 and na in items and not {canon(w) for w in wa} & _ACTION_WORDS:
        return 0.8
    # Words naming the kind of thing ("card", "item", "button") weigh half: "Archive" is still
    # "Archive card" in the card's own menu.
    credit, matched = 0.0, set()
    for w in sa:
        if w in sb:
            credit += _weight(w)
            matched.add(w)
            continue
        syn = next((v for v in sb if v not in matched and canon(v) == canon(w)), None)
        if syn is not None:
            credit += 0.75 * min(_weight(w), _weight(syn))
            matched.add(syn)
    score = credit / (sum(_weight(w) for w in sa) + sum(_weight(w) for w in sb - matched))
    qa, qb = squash(na), squash(nb)
    typo = difflib.SequenceMatcher(None, qa, qb).ratio()
    if typo >= 0.85:  # a spelling fix or a changed character: "E-mail" / "Email"
        score = max(score, typo)
    nums_a, nums_b = {t for t in sa if t.isdigit()}, {t for t in sb if t.isdigit()}
    if nums_a and nums_b and nums_a != nums_b:
        score *= 0.5
    if len(sa) > 1 and not sa & sb and score < _NEAR_SAME_TEXT:
        # Only a synonym in common, and the rest of the old name gone: "Delete workspace" / "Remove"
        # (a member's row action) shares a verb, not a thing.
        score *= 0.8
    if lost and gained and score < _NEAR_SAME_TEXT:
        # A word of the old name replaced by another: "Re-run failed jobs" / "Re-run all jobs" re-run
        # other jobs, "Save draft" / "Save changes" save otherwise. Not a reworded label.
        score *= 0.6
    return score


def stem(word: str) -> str:
    """A crude stem, enough to see one verb in a test's title and a button ("deleting", "Delete")."""
    for end in ("ing", "ed", "es", "s", "e"):
        if word.endswith(end) and len(word) - len(end) >= 3:
            word = word[: -len(end)]
            return word[:-1] if end in ("ing", "ed") and word[-1] == word[-2] else word
    return word


def content_stems(text: str) -> set[str]:
    """Stems of the words of ``text`` that may name what a control does or holds."""
    return {stem(canon(w)) for w in words(text, False) if w not in STOP and w not in GENERIC and len(w) >= 3
            and not w.isdigit()}


def label_words(text: str) -> frozenset[str]:
    """The words of a visible label that say something (filler dropped), synonyms folded."""
    found = [w for w in words(" ".join((text or "").lower().split()), False) if w not in FILLER]
    return frozenset(canon(w) for w in found)


def contains_text(haystack: str, needle: str, *, case: bool = False) -> bool:
    h, n = " ".join((haystack or "").split()), " ".join((needle or "").split())
    return bool(n) and (n in h if case else n.lower() in h.lower())


# What a typed value says about the field it goes into.
_TYPED = [
    (re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.I), "email", ("email", "mail")),
    (re.compile(r"^\+?[\d\s().-]{7,}$"), "tel", ("phone", "tel", "mobile")),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "date", ("date", "day", "birth", "dob")),
    (re.compile(r"^https?://", re.I), "url", ("url", "website", "link", "site")),
    (re.compile(r"^\d+(?:[.,]\d+)?$"), "number", ("quantity", "amount", "number", "count", "age", "price")),
]


def typed_kind(value: str | None) -> tuple[str, tuple[str, ...]] | None:
    """(input type, words) a typed value suggests: an e-mail address goes into an email field."""
    if not value:
        return None
    for pattern, kind, words in _TYPED:
        if pattern.match(value.strip()):
            return kind, words
    return None


_NO_WORDS = frozenset({"date", "time", "datetime-local", "month", "week", "number", "range", "tel", "color"})


def fits_input(typed: str, input_type: str) -> bool:
    """Whether a browser input of ``input_type`` takes the text a test types: prose goes into no
    date, number or phone field, and an e-mail field gets an address."""
    text = typed.strip()
    if input_type in _NO_WORDS:
        return not re.search(r"[^\W\d_]{3,}", text)
    if input_type == "email":
        return "@" in text or " " not in text
    if input_type == "url":
        return " " not in text
    return True
