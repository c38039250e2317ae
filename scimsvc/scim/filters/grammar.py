"""The filter grammar (RFC 7644 §3.4.2.2): scim2-filter-parser's lexer and parser, fixed.

``parse_ast`` turns filter text into the library's AST; every lexer or parser
failure is an ``InvalidFilter`` (400, RFC 7644 §3.12) whose detail names the
filter as written.
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

from scim2_filter_parser.lexer import SCIMLexer
from scim2_filter_parser.parser import SCIMParser, SCIMParserError
from sly.lex import LexError
from sly.yacc import SlyLogger

from ...errors import InvalidFilter

# A JSON string literal; no other token of the grammar can contain a double quote.
# (Underscored: inside a sly class body an unknown upper-case name reads as its own name.)
_STRING_LITERAL = r'"(?:[^"\\]|\\.)*"'

# Every string literal of a filter, as the lexer reads them.
STRING_LITERALS = re.compile(_STRING_LITERAL)


def shown(text: str) -> str:
    """Make ``text`` safe to echo in an error detail (lone surrogates escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def string_literal(raw: str, index: int) -> str:
    """Decode the JSON string literal ``raw`` found at ``index`` of a filter.

    Raises InvalidFilter for a malformed literal, a lone surrogate or a NUL.
    """
    try:
        value = json.loads(raw)
        value.encode("utf-8")  # a lone surrogate (\ud800) is no text a database can hold
    except ValueError:
        raise InvalidFilter(f"Invalid string literal {shown(raw)} at position "
                            f"{index + 1} of the filter.") from None
    if "\x00" in value:
        raise InvalidFilter("A filter value cannot contain the NUL character.")
    return value


class FilterLexer(SCIMLexer):
    """scim2-filter-parser's lexer with JSON literals done right (RFC 7644 §3.4.2.2 compValue).

    The stock lexer reads only one-digit numbers, does not decode string escapes
    (``"a\\"b"`` breaks), matches ``true``/``false``/``null`` only in lower case and
    as prefixes of attribute names, and loses the difference between ``true`` and
    ``"true"``. Here token values are typed: str, bool, None, int or float.
    """

    tokens = SCIMLexer.tokens

    # true/false/null are recognised as whole words by ATTRNAME below.
    del TRUE, FALSE, NULL  # noqa: F821
    ATTRNAME = SCIMLexer.ATTRNAME

    NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"

    def NUMBER(self, t):  # noqa: F811
        t.value = json.loads(t.value)
        return t

    @_(_STRING_LITERAL)  # noqa: F821
    def COMP_VALUE(self, t):
        t.value = string_literal(t.value, t.index)
        return t

    def ATTRNAME(self, t):  # noqa: F811 (sly: a function after a same-named pattern)
        # Operators in any case are remapped by the base class before this runs.
        word = t.value.lower()
        if word in ("true", "false"):
            t.type, t.value = word.upper(), word == "true"
        elif word == "null":
            t.type, t.value = "NULL", None
        return t

    def error(self, t):
        raise InvalidFilter(
            f"Invalid filter: unexpected character {t.value[0]!r} at position {t.index + 1}."
        )


class FilterParser(SCIMParser):
    """scim2-filter-parser's grammar with the precedence RFC 7644 §3.4.2.2 requires.

    The stock table declares ``("left", OR, AND)``, one level, so ``a or b and c``
    parses as ``(a or b) and c``. Here "not" binds tighter than "and", which binds
    tighter than "or". sly builds grammars from the class body, so the rules are
    re-attached here (the overloads of each rule are chained on the function).
    """

    tokens = FilterLexer.tokens
    log = SlyLogger(io.StringIO())  # the grammar's known conflicts are not news
    precedence = (
        ("left", OR),  # noqa: F821
        ("left", AND),  # noqa: F821
        ("right", NOT),  # noqa: F821
    )

    filter = SCIMParser.filter
    value_path = SCIMParser.value_path
    attr_exp = SCIMParser.attr_exp
    log_exp = SCIMParser.log_exp
    comp_value = SCIMParser.comp_value
    attr_path = SCIMParser.attr_path
    sub_attr = SCIMParser.sub_attr

    def error(self, p):
        if p is None:
            raise InvalidFilter("Invalid filter: it ends too early.")
        shown = json.dumps(p.value) if isinstance(p.value, str) and p.type == "COMP_VALUE" \
            else str(p.value if p.value is not None else "null")
        raise InvalidFilter(
            f"Invalid filter: unexpected {shown} at position {p.index + 1}."
        )


def parse_ast(text: str) -> Any:
    """Lex and parse ``text`` into scim2-filter-parser's AST.

    Raises InvalidFilter for any lexer or parser error, or an empty parse.
    """
    try:
        tree = FilterParser().parse(FilterLexer().tokenize(text))
    except InvalidFilter:
        raise
    except (SCIMParserError, LexError, ValueError, TypeError, AttributeError) as error:
        raise InvalidFilter(f"Invalid filter: {error}") from None
    if tree is None:
        raise InvalidFilter("Invalid filter.")
    return tree


__all__ = ["FilterLexer", "FilterParser", "STRING_LITERALS", "parse_ast", "shown", "string_literal"]
