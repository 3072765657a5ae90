"""Every physical constant of the MJCF states its unit and its source in a comment (issue 13, item 8).

The rule checked here: an element that sets a physical constant (stiffness, damping, armature, a servo
gain, a mass or inertia, a contact constant, a muscle parameter) has an XML comment right before it,
or on the same line after it, or it belongs to a run of same-tag siblings right after a comment that
names each of them (the actuator table). That comment names a unit and a source (a paper, talmolab's
arm, "tuned here", "chosen here", a MuJoCo default). And every file that a comment names exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MJCF = ROOT / "assets" / "mouse_reach_v0.xml"

#: Attributes that carry a physical constant, on any element.
PHYSICAL = frozenset({
    "stiffness", "damping", "armature", "frictionloss", "kp", "kv", "mass", "density", "diaginertia",
    "fullinertia", "force", "gain", "gainprm", "biasprm", "dynprm", "scale", "lengthrange", "vmax",
    "timeconst", "lmin", "lmax", "fpmax", "fvmax", "friction", "solref", "solimp", "margin", "gap",
})
#: Attributes that carry a physical constant only on these elements (elsewhere "range" is a joint limit).
PHYSICAL_ON = {"range": frozenset({"muscle", "general"})}

#: A number with an SI unit (as this file writes them), or the word "dimensionless".
UNIT = re.compile(r"\d\s*(N m s/rad|N m/rad|N m|N|kg m\^2|kg/m\^3|kg|m|s|rad|L0/s|L0)(?![\w^/])"
                  r"|\bdimensionless\b")
SOURCE = re.compile(r"tuned here|chosen here|derived here|MuJoCo (4\.0\.0 )?default|talmolab|et al\.|"
                    r"\(\d{4}\)|\b(19|20)\d\d\b", re.IGNORECASE)
#: A file named in a comment: a path or bare name ending in a known extension (URLs are removed first).
FILE = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:md|py|xml|txt|toml|cfg|csv|json|ya?ml|rst))\b")
URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Token:
    kind: str          # "comment", "open" (start or empty-element tag) or "other" (end tag, declaration)
    text: str
    start: int
    end: int
    tag: str = ""
    attrs: tuple[tuple[str, str], ...] = ()


def tokens(text: str) -> list[Token]:
    """Comments and tags of ``text`` in document order (the MJCF has no '>' inside attribute values)."""
    out = []
    for m in re.finditer(r"<!--.*?-->|<[^>]*>", text, re.S):
        s = m.group(0)
        if s.startswith("<!--"):
            out.append(Token("comment", s[4:-3], m.start(), m.end()))
        elif s.startswith(("</", "<?", "<!")):
            out.append(Token("other", s, m.start(), m.end()))
        else:
            tag = re.match(r"<([\w:-]+)", s).group(1)
            attrs = tuple(re.findall(r'([\w:-]+)\s*=\s*"([^"]*)"', s))
            out.append(Token("open", s, m.start(), m.end(), tag, attrs))
    return out


def physical_attributes(tok: Token) -> list[str]:
    return [name for name, _ in tok.attrs
            if name in PHYSICAL or tok.tag in PHYSICAL_ON.get(name, ())]


def documenting_comment(toks: list[Token], i: int, text: str) -> Token | None:
    """The comment that documents ``toks[i]``, or None (see the module docstring for the rule)."""
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if nxt is not None and nxt.kind == "comment" and "\n" not in text[tok.end:nxt.start]:
        return nxt                                     # on the same line, after the element
    j = i - 1
    while j >= 0 and toks[j].kind == "open" and toks[j].tag == tok.tag:
        j -= 1                                         # a run of same-tag siblings
    if j >= 0 and toks[j].kind == "comment":
        if j == i - 1:
            return toks[j]                             # right before the element
        name = dict(tok.attrs).get("name")
        if name is not None and re.search(rf"\b{re.escape(name)}\b", toks[j].text):
            return toks[j]                             # a group comment that names this element
    return None


def undocumented(text: str) -> list[str]:
    """Problems with the documentation of ``text``'s physical constants, one line each."""
    toks = tokens(text)
    problems = []
    for i, tok in enumerate(toks):
        attributes = physical_attributes(tok) if tok.kind == "open" else []
        if not attributes:
            continue
        where = f"line {text.count(chr(10), 0, tok.start) + 1}: <{tok.tag} {' '.join(attributes)}>"
        comment = documenting_comment(toks, i, text)
        if comment is None:
            problems.append(f"{where} has no comment giving its unit and source")
            continue
        if not UNIT.search(comment.text):
            problems.append(f"{where}: its comment names no unit")
        if not SOURCE.search(comment.text):
            problems.append(f"{where}: its comment names no source (a paper, or 'tuned here' ...)")
    return problems


def missing_files(text: str) -> list[str]:
    """Files named in ``text``'s comments that exist neither in the repository nor beside the MJCF."""
    named = {m.group(1) for tok in tokens(text) if tok.kind == "comment"
             for m in FILE.finditer(URL.sub(" ", tok.text))}
    return sorted(n for n in named if not (ROOT / n).exists() and not (MJCF.parent / n).exists())


@pytest.fixture(scope="module")
def text() -> str:
    return MJCF.read_text()


def test_every_physical_constant_has_a_unit_and_a_source(text):
    problems = undocumented(text)
    assert not problems, "\n".join(problems)


def test_the_check_sees_every_constant(text):
    # The constants the issue names are all found by the parser (a regex that found nothing would pass).
    found = {name for tok in tokens(text) if tok.kind == "open" for name in physical_attributes(tok)}
    assert {"stiffness", "damping", "armature", "kp", "kv", "mass", "force", "gain"} <= found
    assert sum(1 for tok in tokens(text) if tok.kind == "open" and tok.tag == "muscle"
               and "force" in dict(tok.attrs)) == 15


def test_every_file_named_in_a_comment_exists(text):
    assert not missing_files(text), f"comments name files not in the repository: {missing_files(text)}"


def test_a_removed_comment_is_caught(text):
    # Dropping the comment before the shoulder's joint default, or one muscle's row of the actuator
    # table, must fail the check.
    shoulder = re.search(r"<!--[^<]*?Passive shoulder.*?-->\s*", text, re.S)
    assert shoulder
    without = text[:shoulder.start()] + text[shoulder.end():]
    assert any("stiffness damping armature" in p for p in undocumented(without))
    without_row = text.replace("latissimus_dorsi_R\n         1.2 N (0.8)", "1.2 N (0.8)", 1)
    assert without_row != text
    assert any("<muscle force>" in p for p in undocumented(without_row))


def test_a_missing_file_or_comment_without_source_is_caught():
    doc = ('<mujoco><!-- see shared/SCIENCE.md and notes.md; reach_env/forelimb.py;'
           ' https://example.org/a/b.md --><default><!-- 3 N m/rad -->'
           '<joint stiffness="3"/></default></mujoco>')
    assert missing_files(doc) == ["notes.md", "shared/SCIENCE.md"]
    assert undocumented(doc) == ["line 1: <joint stiffness>: its comment names no source "
                                 "(a paper, or 'tuned here' ...)"]
