"""Human messages for syntax errors: "unexpected ';', expected an expression".

The parser hands over the furthest position it reached and every grammar expression that
failed there. Tokens are named in ``grammar.peg``; anonymous literals are described by the
rule they belong to (a ``(`` that starts a call suffix is not what the user forgot, the
``(`` after ``if`` is). Expectations that merely could have continued a complete expression
(an operator, ``.name``, a call) are dropped when something more specific is expected.
"""

from __future__ import annotations

import re
from typing import Any

from rhythm.catalog import RESERVED_WORDS

_CONTINUATION = "continuation"
_EXPRESSION = "an expression"
_STATEMENT = "a statement"

# Named tokens of the grammar -> what to call them in a message.
_TOKEN_WORDS: dict[str, str] = {
    "IDENT_ANY": "a name",
    "IDENT_REF": _EXPRESSION,
    "NUMBER": _EXPRESSION,
    "STRING": _EXPRESSION,
    "KW_LITERAL": _EXPRESSION,
    "UNARY_OP": _EXPRESSION,
    "ARROW_AHEAD": _EXPRESSION,
    "STMT_KEYWORD_AHEAD": _STATEMENT,
    "SUFFIX_AHEAD": _CONTINUATION,
    "TEMPLATE_CHARS": "'`'",
    "EOS": "';' or a line break",
    "EOF": "end of file",
    "THROW_SAME_LINE": "a value on the same line as 'throw'",
    "BINOP": _CONTINUATION,
    "ASSIGN_OP": _CONTINUATION,
    "ASSIGN_EQ": "'='",
    "QUESTION": _CONTINUATION,
    "OPT_DOT": _CONTINUATION,
    "POSTFIX_OP": _CONTINUATION,
    "SAME_LINE": _CONTINUATION,
}
_STATEMENT_KEYWORDS = {"let", "const", "if", "for", "while", "do", "return", "break",
                       "continue", "throw", "try"}  # fmt: skip
_CONTINUATION_RULES = {"member_suffix", "optional_suffix", "index_suffix", "call_suffix"}
_EXPRESSION_START_RULES = {"paren", "array_lit", "object_lit", "template"}

_TOKEN_AT = re.compile(
    r"(?:[^\W\d]|\$)[\w$]*|\d[\w.]*|\.\d[\w]*|===|!==|\*\*=|\?\?=|\|\|=|&&=|=>|==|!=|<=|>=|&&"
    r"|\|\||\?\?|\?\.|\+\+|--|\*\*|[-+*/%]=|\S"
)
_KEYWORDS = RESERVED_WORDS


def describe_failure(
    source: str, pos: int, expected: list[Any], owners: dict[int, str]
) -> tuple[str, int, int]:
    """Return (message, start offset, end offset) for a parse that failed at ``pos``."""
    pos = max(0, min(pos, len(source)))
    unexpected, end = _token_at(source, pos)
    wanted = _expectations(expected, owners)
    if unexpected.startswith("unterminated"):
        return unexpected, pos, end
    if wanted and len(wanted) <= 3:
        return f"unexpected {unexpected}, expected {_join(wanted)}", pos, end
    return f"unexpected {unexpected}", pos, end


def _token_at(source: str, pos: int) -> tuple[str, int]:
    """Describe the token at ``pos`` (e.g. "name 'foo'") and return where it ends."""
    if pos >= len(source):
        return "end of file", pos
    rest = source[pos:]
    if rest[0] in "\"'":
        line_end = rest.find("\n")
        closing = rest.find(rest[0], 1)
        if closing == -1 or (line_end != -1 and closing > line_end):
            return "unterminated string", pos + (line_end if line_end != -1 else len(rest))
    if rest.startswith("/*") and "*/" not in rest:
        return "unterminated comment", pos + 2
    if rest[0] in "\r\n":
        return "line break", pos + 1
    match = _TOKEN_AT.match(source, pos)
    text = match.group() if match else rest[0]
    end = pos + len(text)
    if text in _KEYWORDS:
        return f"keyword '{text}'", end
    if text[0].isdigit() or (text[0] == "." and len(text) > 1):
        return f"number '{text}'", end
    if text[0].isalpha() or text[0] in "_$":
        return f"name '{text}'", end
    if text in "\"'`":
        return "string", end
    return f"'{text}'", end


def _expectations(expected: list[Any], owners: dict[int, str]) -> list[str]:
    words: list[str] = []
    for expr in expected:
        word = _describe(expr, owners)
        if word and word not in words:
            words.append(word)
    specific = [w for w in words if w != _CONTINUATION]
    if _STATEMENT in specific:
        # Everything that can start a statement failed: name the category, not each token.
        specific = [w for w in specific if w not in (_EXPRESSION, "'{'", "';'")]
    # Specific tokens first, generic categories last.
    return sorted(specific, key=lambda w: (not w.startswith("'"), w))


def _describe(expr: Any, owners: dict[int, str]) -> str | None:
    name = getattr(expr, "name", "")
    if name:
        if name in _TOKEN_WORDS:
            return _TOKEN_WORDS[name]
        if name.startswith("KW_"):
            word = name[3:].lower()
            return _STATEMENT if word in _STATEMENT_KEYWORDS else f"'{word}'"
        if name in ("MAIN_WORD", "WORKFLOW_WORD"):
            return None  # the wrappers are optional: never what a user "forgot"
        return None  # a structural rule: its tokens are reported on their own
    literal = getattr(expr, "literal", None)
    if literal is None:
        return None
    owner = owners.get(id(expr), "")
    if (owner in _CONTINUATION_RULES and literal in ".[(") or (
        owner == "var_decl_core" and literal == ","
    ):
        return _CONTINUATION
    if owner in _EXPRESSION_START_RULES and literal in "([{`":
        return _EXPRESSION
    if owner == "empty_stmt":
        return _STATEMENT
    if owner in ("wrapped_main", "wrapped_workflow"):
        return None
    if not literal:
        return None
    return f"'{literal}'"


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
