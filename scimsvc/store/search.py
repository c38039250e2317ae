"""The filter → SQL transpiler (RFC 7644 §3.4.2.2), sorting, and paging over the users table.

A filter tree (``scim.filters``) becomes a boolean SQLAlchemy expression over
``users``, with ``user_values`` reached through ``users.id IN (SELECT user_id …)``.
``compile_comparison`` is the one place a comparison becomes SQL and
``match_predicate`` the one for ``co``/``sw``/``ew``. Comparisons are two-valued:
an absent attribute makes ``eq``/``ne``/``co``/… false, so ``not (…)`` is its exact
complement. Search structures (migration 0002): a trigram index on
``user_values.value_norm`` (FTS5 on SQLite, pg_trgm on PostgreSQL) for ``co``, and
``user_buckets``, the live users per block of BUCKET_SIZE ids, for deep pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (String, and_, bindparam, case, cast, column, false, func, literal,
                        literal_column, not_, or_, select, table, true)
from sqlalchemy.sql.elements import ColumnElement, Grouping
from sqlalchemy.sql.visitors import iterate

from ..database.prepared import PreparedQuery
from ..database.transactions import dialect_name, driver_connection, read_connection
from ..errors import InvalidFilter, InvalidValue
from ..models import MULTI_VALUED, Group, User, UserBucket, UserValue, group_members
from ..scim import schema
from ..scim.filters.grammar import shown
from ..scim.filters.tree import (ALL_OPS, MAX_NESTING, ORDERING_OPS, STRING_OPS, And, Comparison,
                                 Node, Not, Or, ValueFilter, boolean_operand, parse_filter,
                                 parse_time, resolve_ref)
from ..scim.schema import Attribute, ResolvedPath, fold
from .users import READ_COLUMNS

_users = User.__table__.c


def search_users(tenant_id: int, tree: Node | None = None, sort_by: str | None = None,
                 descending: bool = False, *, location_prefix: str = "", offset: int = 0,
                 limit: int) -> tuple[int, list[Any]]:
    """Count and page the tenant's live users matching ``tree`` (RFC 7644 §3.4.2).

    Returns (totalResults, the page as rows of READ_COLUMNS). users.id ends every
    order, so pages neither skip nor repeat a user. An unfiltered list in the
    default order is paged through the per-bucket counts; any other runs one page
    query (unless ``limit`` is 0) and one COUNT (unless a first page with room left
    already holds every match), both in one read transaction. Removed users are
    never part of the result. Raises InvalidValue for a bad sortBy and InvalidFilter
    for a bad filter.
    """
    order_by = sort_terms(sort_by, descending, location_prefix=location_prefix) if sort_by else []
    if tree is None and not order_by:
        return _page_in_id_order(tenant_id, offset, limit)
    conditions = [_users.tenant_id == tenant_id, _users.deleted_at.is_(None)]
    if tree is not None:
        conditions.append(compile_filter(tree, location_prefix=location_prefix,
                                         dialect=dialect_name()))
    connection = read_connection()
    users: list[Any] = []
    if limit != 0:
        page = (select(*READ_COLUMNS).where(*conditions).order_by(*order_by, _users.id)
                .offset(offset).limit(limit))
        users = connection.execute(page).all()
        if offset == 0 and len(users) < limit:
            return len(users), users
    total = connection.scalar(select(func.count()).select_from(User.__table__).where(*conditions))
    return total or 0, users


def _live_by(column: Any) -> PreparedQuery:
    return PreparedQuery(select(*READ_COLUMNS).where(
        _users.tenant_id == bindparam("tenant_id"), column == bindparam("value"),
        _users.deleted_at.is_(None),
    ).order_by(_users.id).limit(bindparam("limit")))


# Both served by an index: uq_users_tenant_username (live users) and ix_users_tenant_external_id.
_LIVE_BY = {"userName": (_live_by(_users.user_name_norm), fold),
            "externalId": (_live_by(_users.external_id), None)}


def find_users(tenant_id: int, attribute: str, value: str, limit: int) -> list[Any]:
    """The first ``limit`` live users (in id order) whose userName or externalId is ``value``.

    What ``search_users`` answers for ``attribute eq value`` (userName ignoring case,
    externalId exactly), as one prepared query: the lookup an IdP sends before every create.
    """
    query, normalise = _LIVE_BY[attribute]
    return query.all(driver_connection(), {
        "tenant_id": tenant_id, "value": normalise(value) if normalise else value, "limit": limit})


_LIVE_TOTAL = PreparedQuery(select(func.coalesce(func.sum(UserBucket.live), 0).label("total"))
                            .where(UserBucket.tenant_id == bindparam("tenant_id")))
_running = select(
    UserBucket.bucket, UserBucket.live,
    (func.sum(UserBucket.live).over(order_by=UserBucket.bucket) - UserBucket.live).label("before"),
).where(UserBucket.tenant_id == bindparam("tenant_id")).subquery()
_BUCKET_AT = PreparedQuery(select(_running.c.bucket, _running.c.before)
                           .where(_running.c.before + _running.c.live > bindparam("offset"))
                           .order_by(_running.c.bucket).limit(1))
_PAGE_FROM = PreparedQuery(
    select(*READ_COLUMNS)
    .where(_users.tenant_id == bindparam("tenant_id"), _users.deleted_at.is_(None),
           _users.id >= bindparam("first_id"))
    .order_by(_users.id).offset(bindparam("skip")).limit(bindparam("limit")))


def _page_in_id_order(tenant_id: int, offset: int, limit: int) -> tuple[int, list[Any]]:
    """``search_users`` for an unfiltered list in id order, at any depth.

    The per-bucket counts give the total and the block of ids holding user number
    ``offset``, so the page query skips fewer than BUCKET_SIZE users where COUNT and
    OFFSET would read every user before the page.
    """
    driver = driver_connection()
    params = {"tenant_id": tenant_id}
    total = _LIVE_TOTAL.first(driver, params).total
    if limit == 0 or offset >= total:
        return total, []
    at = _BUCKET_AT.first(driver, {**params, "offset": offset})
    if at is None:
        return total, []  # users removed since the total was read
    first_id = at.bucket * BUCKET_SIZE
    return total, _PAGE_FROM.all(driver, {**params, "first_id": first_id,
                                           "skip": offset - at.before, "limit": limit})


# Both are baked into revision 0002's DDL: changing them needs a new revision.
TRIGRAM_TABLE = "dx_user_values_trigram"
BUCKET_SIZE = 1024
# FTS5's trigram tokenizer indexes runs of 3 characters: shorter fragments cannot use it.
TRIGRAM_MIN = 3


def value_contains_candidates(dialect: str, value_id: Any, fragment: str) -> Any:
    """A superset of the user_values rows whose value_norm contains ``fragment``, from an index.

    Returns an SQL condition on ``value_id`` (user_values.id) to AND with the exact
    LIKE, or None when no index helps: on PostgreSQL the GIN trigram index serves
    the LIKE itself; fragments shorter than a trigram are left to the LIKE.
    """
    if dialect != "sqlite" or len(fragment) < TRIGRAM_MIN:
        return None
    # An FTS5 string (double quotes, inner quotes doubled) matches as a substring with
    # the trigram tokenizer; every other character is taken literally.
    phrase = '"' + fragment.replace('"', '""') + '"'
    index = table(TRIGRAM_TABLE, column("rowid"))
    return value_id.in_(
        select(index.c.rowid).where(literal_column(TRIGRAM_TABLE).op("MATCH")(phrase)))


def reads_trigram_index(clause: Any) -> bool:
    """Tell whether ``clause`` holds a ``value_contains_candidates`` condition."""
    return any(getattr(element, "name", None) == TRIGRAM_TABLE and hasattr(element, "c")
               for element in iterate(clause))


# --- Compilation ---------------------------------------------------------------



@dataclass(frozen=True)
class Target:
    """Where a single value lives in SQL and how to compare it.

    ``folded`` means the column already holds ``fold(value)``; ``column`` means a
    plain column a B-tree index can serve (prefix ranges are worth it).
    """

    expr: Any
    attribute: Attribute
    nullable: bool = True
    folded: bool = False
    column: bool = False

    @property
    def type(self) -> str:
        return self.attribute.type


def compile_filter(text_or_tree: str | Node, *, location_prefix: str = "",
                   dialect: str = "sqlite") -> ColumnElement[bool]:
    """Compile a SCIM filter into a boolean expression over ``User`` (RFC 7644 §3.4.2.2).

    ``location_prefix`` is what ``meta.location`` starts with (``…/Users/``);
    ``dialect`` ("sqlite", "postgresql") only picks index-friendly forms.
    Raises InvalidFilter naming any unknown or unfilterable attribute.
    """
    tree = parse_filter(text_or_tree) if isinstance(text_or_tree, str) else text_or_tree
    return _Compiler(location_prefix, dialect).node(tree, None, 0)


class _Compiler:
    def __init__(self, location_prefix: str, dialect: str):
        self.location_prefix = location_prefix
        self.dialect = dialect

    # ``scope`` is None at the top level, or the ResolvedPath of the complex
    # attribute whose value filter (``attr[...]``) is being compiled. ``negated``
    # says a ``not`` encloses the node: only there can SQL's NULL (an absent value)
    # differ from false, so only there do comparisons get an IS NOT NULL guard
    # (elsewhere the guard would only distract the planner from the index).
    def node(self, node: Node, scope: ResolvedPath | None, depth: int,
             negated: bool = False) -> ColumnElement[bool]:
        if depth > MAX_NESTING:
            raise InvalidFilter(f"The filter is nested more than {MAX_NESTING} levels deep.")
        if isinstance(node, And):
            return _balanced(and_, [self.node(item, scope, depth + 1, negated)
                                    for item in node.items])
        if isinstance(node, Or):
            return _balanced(or_, [self.node(item, scope, depth + 1, negated)
                                   for item in node.items])
        if isinstance(node, Not):
            return not_(self.node(node.item, scope, depth + 1, True))
        if isinstance(node, ValueFilter):
            return self.value_filter(node, scope, depth, negated)
        return self.comparison(node, scope, negated)

    def value_filter(self, node: ValueFilter, scope: ResolvedPath | None,
                     depth: int, negated: bool) -> ColumnElement[bool]:
        if scope is not None:
            raise InvalidFilter("Invalid filter: value filters cannot be nested.")
        outer = resolve_ref(node.attr, None)
        attribute = outer.attribute
        if attribute.type != "complex":
            raise InvalidFilter(f"'{node.attr}' is not a complex attribute: "
                                f"it cannot take a [filter].")
        if attribute.multi_valued:
            if attribute.name == "groups":
                return groups_match(self.group_node(node.filter, outer, depth + 1))
            if attribute.name not in MULTI_VALUED:
                raise InvalidFilter(f"'{node.attr}' cannot be filtered.")
            # A subquery: its WHERE starts un-negated again; IN itself is never NULL.
            return values_match(attribute.name, self.node(node.filter, outer, depth + 1))
        # A single complex value (name[...]): its sub-attributes are plain columns/paths.
        return self.node(node.filter, outer, depth + 1, negated)

    def comparison(self, node: Comparison, scope: ResolvedPath | None,
                   negated: bool) -> ColumnElement[bool]:
        if node.op not in ALL_OPS:
            raise InvalidFilter(f"The operator '{node.op}' is not supported.")
        if scope is None and node.attr.uri is None and node.attr.sub is None \
                and node.attr.name.lower() == "schemas":
            return self.schemas(node)
        resolved = resolve_ref(node.attr, scope)
        attribute = resolved.attribute
        if scope is None and attribute.multi_valued:
            if attribute.name == "groups":
                if resolved.sub_attribute is None and node.op == "pr":
                    return groups_match(true())
                return groups_match(group_comparison(
                    resolved.sub_attribute.name if resolved.sub_attribute else "value",
                    node.op, node.value))
            if attribute.name not in MULTI_VALUED:
                raise InvalidFilter(f"'{node.attr}' cannot be filtered.")
            sub = resolved.sub_attribute
            if sub is None and node.op == "pr":
                return values_match(attribute.name, true())
            if sub is None:
                # RFC 7644 §3.4.2.2: "emails eq x" compares each email's value.
                sub = attribute.sub("value")
                if sub is None:
                    raise InvalidFilter(f"'{attribute.name}' has no 'value': name one of its "
                                        f"sub-attributes in the filter.")
            item = ResolvedPath(resolved.schema, attribute, sub)
            return values_match(attribute.name,
                                compile_comparison(self.value_target(item), node.op, node.value,
                                                   self.dialect, guarded=False))
        if scope is not None and attribute.multi_valued:
            return compile_comparison(self.value_target(resolved), node.op, node.value,
                                      self.dialect, guarded=negated)
        if resolved.leaf.type == "complex":
            if node.op != "pr":
                raise InvalidFilter(f"'{node.attr}' is a complex attribute: compare one of its "
                                    f"sub-attributes (e.g. '{attribute.name}."
                                    f"{attribute.sub_attributes[0].name}').")
            return self.complex_present(resolved)
        return compile_comparison(self.user_target(resolved), node.op, node.value, self.dialect,
                                  guarded=negated)

    def group_node(self, node: Node, scope: ResolvedPath, depth: int) -> ColumnElement[bool]:
        """The inside of ``groups[…]``: and/or/not of comparisons over one group row."""
        if depth > MAX_NESTING:
            raise InvalidFilter(f"The filter is nested more than {MAX_NESTING} levels deep.")
        if isinstance(node, And):
            return and_(*(self.group_node(item, scope, depth + 1) for item in node.items))
        if isinstance(node, Or):
            return or_(*(self.group_node(item, scope, depth + 1) for item in node.items))
        if isinstance(node, Not):
            return not_(self.group_node(node.item, scope, depth + 1))
        if isinstance(node, ValueFilter):
            raise InvalidFilter("Invalid filter: value filters cannot be nested.")
        resolved = resolve_ref(node.attr, scope)
        if resolved.attribute.name != "groups" or resolved.sub_attribute is None:
            raise InvalidFilter(f"Inside groups[…], compare value or display, not "
                                f"{shown(str(node.attr))}.")
        return group_comparison(resolved.sub_attribute.name, node.op, node.value)

    @staticmethod
    def schemas(node: Comparison) -> ColumnElement[bool]:
        """``schemas`` (RFC 7644 §3.4.2.2, Figure 2): the core URN, plus each extension present.

        Schema URIs compare ignoring case; the multi-valued rule applies (any URN).
        """
        if node.op == "pr":
            return true()
        if not isinstance(node.value, str):
            raise InvalidFilter("'schemas' holds URNs: compare it with a quoted string.")
        wanted = node.value.lower()
        tests = {"eq": lambda u: u == wanted, "ne": lambda u: u != wanted,
                 "co": lambda u: wanted in u, "sw": lambda u: u.startswith(wanted),
                 "ew": lambda u: u.endswith(wanted), "gt": lambda u: u > wanted,
                 "ge": lambda u: u >= wanted, "lt": lambda u: u < wanted,
                 "le": lambda u: u <= wanted}
        if tests[node.op](schema.USER_SCHEMA.lower()):
            return true()
        present = [User.data[(extension.id,)].as_string().is_not(None)
                   for extension in schema.EXTENSIONS if tests[node.op](extension.id.lower())]
        return or_(*present) if present else false()

    @staticmethod
    def complex_present(resolved: ResolvedPath) -> ColumnElement[bool]:
        if resolved.attribute.name == "meta":
            return true()
        # Empty complex values are pruned before storage, so stored means present.
        return User.data[_json_path(resolved)].as_string().is_not(None)

    def user_target(self, resolved: ResolvedPath) -> Target:
        """The SQL for a single-valued attribute of the user (RFC 7643 §4.1, §4.3)."""
        leaf = resolved.leaf
        dotted = resolved.dotted if resolved.extension is None else None
        # Lambdas: only the expression of the attribute compared is built.
        columns = {
            "id": lambda: Target(User.scim_id, leaf, nullable=False, column=True),
            "externalId": lambda: Target(User.external_id, leaf, column=True),
            "userName": lambda: Target(User.user_name_norm, leaf, nullable=False, folded=True,
                                       column=True),
            "active": lambda: Target(User.active, leaf, nullable=False, column=True),
            "displayName": lambda: Target(User.display_name, leaf, column=True),
            "name.givenName": lambda: Target(User.given_name, leaf, column=True),
            "name.familyName": lambda: Target(User.family_name, leaf, column=True),
            "meta.created": lambda: Target(User.created_at, leaf, nullable=False, column=True),
            "meta.lastModified": lambda: Target(User.updated_at, leaf, nullable=False,
                                                column=True),
            "meta.resourceType": lambda: Target(literal("User", String), leaf, nullable=False),
            "meta.version": lambda: Target(
                literal('W/"') + cast(User.version, String) + literal('"'), leaf, nullable=False),
            "meta.location": lambda: Target(literal(self.location_prefix) + User.scim_id, leaf,
                                            nullable=False),
        }
        if dotted in columns:
            return columns[dotted]()
        return Target(User.data[_json_path(resolved)].as_string(), leaf)

    @staticmethod
    def value_target(resolved: ResolvedPath) -> Target:
        """The SQL for a sub-attribute of one value of a multi-valued attribute."""
        leaf = resolved.leaf
        name = leaf.name
        if name == "value":
            if leaf.case_exact:
                return Target(UserValue.value, leaf, column=True)
            return Target(UserValue.value_norm, leaf, folded=True, column=True)
        if name == "type":
            return Target(UserValue.type, leaf, column=True)
        if name == "primary":
            return Target(UserValue.primary, leaf, column=True)
        if name == "display":
            return Target(UserValue.display, leaf, column=True)
        return Target(UserValue.item[(name,)].as_string(), leaf)


def sort_terms(sort_by: str, descending: bool = False, *,
               location_prefix: str = "") -> list[Any]:
    """ORDER BY terms for ``sortBy`` (RFC 7644 §3.4.2.3).

    Strings sort by their caseExact (folded when case-insensitive); a multi-valued
    attribute sorts by its primary value, else its first; a user without the value
    sorts last when ascending and first when descending. The caller appends users.id
    to make the order total. Raises InvalidValue for a path that names no sortable
    attribute (RFC 7644 §3.12: "the value specified was not compatible with the
    operation").
    """
    urn, rest = schema.split_urn(sort_by.strip())
    name, _, sub = rest.partition(".")
    resolved = None
    if name:
        resolved = schema.resolve(urn, name, sub or None)
        if resolved is None and urn == schema.USER_SCHEMA:
            resolved = schema.resolve(None, name, sub or None)
    if resolved is None or resolved.leaf.returned == "never":
        raise InvalidValue(f"sortBy '{shown(sort_by)}' does not name a sortable attribute.")
    attribute = resolved.attribute
    compiler = _Compiler(location_prefix, "sqlite")
    if attribute.multi_valued:
        sub_attribute = resolved.sub_attribute or attribute.sub("value")
        if sub_attribute is None or attribute.name not in MULTI_VALUED:
            raise InvalidValue(f"sortBy '{shown(sort_by)}' does not name a sortable attribute.")
        target = compiler.value_target(ResolvedPath(resolved.schema, attribute, sub_attribute))
        expr = target.expr
        if sub_attribute.type in ("string", "reference") and not sub_attribute.case_exact \
                and not target.folded:
            expr = func.lower(expr)
        # RFC 7644 §3.4.2.3: "the value of the primary attribute, if any, or else the
        # first value in the list".
        expr = (
            select(expr)
            .where(UserValue.user_id == User.id, UserValue.attr == attribute.name)
            .order_by(case((UserValue.primary.is_(True), 0), else_=1), UserValue.position)
            .limit(1)
            .scalar_subquery()
        )
        nullable = True
    else:
        if resolved.leaf.type == "complex":
            raise InvalidValue(f"sortBy '{shown(sort_by)}' is a complex attribute: name one of its "
                               f"sub-attributes (RFC 7644 §3.4.2.3).")
        target = compiler.user_target(resolved)
        leaf = resolved.leaf
        expr = target.expr
        if leaf.type in ("string", "reference") and not leaf.case_exact and not target.folded:
            expr = func.lower(expr)
        nullable = target.nullable
    if descending:
        return ([expr.is_(None).desc()] if nullable else []) + [expr.desc()]
    return ([expr.is_(None)] if nullable else []) + [expr.asc()]


class _Group(Grouping):
    """Parentheses that and_/or_ keep (they flatten a plain Grouping of the same operator)."""

    inherit_cache = True
    operator = None


def _balanced(combine: Any, clauses: list[Any], width: int = 64) -> ColumnElement[bool]:
    """``a OR b OR …`` as a tree of parenthesised groups of at most ``width`` terms.

    SQLite parses a flat chain into an expression ``n`` deep and refuses more than
    1000 (SQLITE_MAX_EXPR_DEPTH); grouping keeps the depth near ``width``.
    """
    while len(clauses) > width:
        clauses = [_Group(combine(*clauses[i:i + width]))
                   for i in range(0, len(clauses), width)]
    return combine(*clauses)


def _json_path(resolved: ResolvedPath) -> tuple[str, ...]:
    path: tuple[str, ...] = (resolved.extension,) if resolved.extension else ()
    path += (resolved.attribute.name,)
    if resolved.sub_attribute is not None:
        path += (resolved.sub_attribute.name,)
    return path


def values_match(attr: str, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """True when one value of the multi-valued ``attr`` satisfies ``predicate`` (RFC 7644 §3.4.2.2).

    An uncorrelated ``users.id IN (SELECT user_id …)``: never NULL, so ``not`` stays exact,
    and a selective predicate is answered from ``ix_user_values_lookup``.
    """
    of_attr = UserValue.attr == attr
    if reads_trigram_index(predicate):
        # The trigram index must drive: with "attr = ?" usable as an index search, SQLite
        # would walk every value of attr instead.
        of_attr = UserValue.attr.concat("") == attr
    return User.id.in_(select(UserValue.user_id).where(of_attr, predicate))


def groups_match(predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """True when one of the user's groups satisfies ``predicate`` (over ``groups`` columns).

    A correlated EXISTS on group_members (ix_group_members_user), to groups of the user's
    own tenant only: never NULL, so ``not`` stays exact.
    """
    gm = group_members.c
    return (select(literal(1)).select_from(group_members.join(Group, Group.id == gm.group_id))
            .where(gm.user_id == _users.id, Group.tenant_id == _users.tenant_id, predicate)
            .exists())


def group_comparison(sub: str, op: str, value: Any) -> ColumnElement[bool]:
    """``groups.value`` (the group's id, case-exact) or ``groups.display`` (its displayName,
    ignoring case) compared by ``eq``, ``ne`` or ``pr``, over one group row."""
    if sub not in ("value", "display"):
        raise InvalidFilter(f"Users can be filtered on groups.value and groups.display only, "
                            f"not groups.{sub}.")
    if op == "pr":
        return true()  # a group always has an id and a displayName
    if op not in ("eq", "ne"):
        raise InvalidFilter(f"groups.{sub} can be compared with eq, ne and pr only.")
    if not isinstance(value, str):
        raise InvalidFilter(f"groups.{sub} is a string: compare it with a quoted string.")
    column, wanted = (Group.scim_id, value) if sub == "value" else \
        (Group.display_name_norm, fold(value))
    return column == wanted if op == "eq" else column != wanted


def compile_comparison(target: Target, op: str, value: Any, dialect: str = "sqlite", *,
                       guarded: bool = True) -> ColumnElement[bool]:
    """Compile ``target op value`` into an SQL predicate (RFC 7644 §3.4.2.2, Table 3).

    String comparisons follow the attribute's caseExact (RFC 7643 §2.2); ``co``/``sw``/
    ``ew`` match ``%`` and ``_`` literally; gt/ge/lt/le on booleans and binary values
    are invalidFilter, as the RFC requires. An absent value never matches; with
    ``guarded`` the predicate is two-valued (false, not NULL, when the value is
    absent), which it must be under ``not``.
    """
    attribute = target.attribute
    kind = attribute.type
    name = attribute.name
    if op == "pr":
        if kind in ("string", "reference", "binary"):
            return _guard(target, target.expr != "")
        return target.expr.is_not(None) if target.nullable else true()
    if value is None:
        # "eq null" / "ne null": RFC 7643 §2.5 treats null as unassigned.
        if op == "eq":
            return not_(compile_comparison(target, "pr", None, dialect))
        if op == "ne":
            return compile_comparison(target, "pr", None, dialect)
        raise InvalidFilter(f"'{op} null' is not a valid comparison.")
    if kind == "boolean":
        value = boolean_operand(op, name, value)
        predicate = target.expr == value if op == "eq" else target.expr != value
        return _guard(target, predicate) if guarded else predicate
    if kind == "dateTime":
        predicate = _compare_time(target, op, value)
        return _guard(target, predicate) if guarded else predicate
    if not isinstance(value, str):
        raise InvalidFilter(f"'{name}' is a string: compare it with a quoted value.")
    if kind == "binary" and op in ORDERING_OPS:
        raise InvalidFilter(f"'{name}' is binary: gt, ge, lt and le do not apply to it.")
    if attribute.case_exact:
        expr = target.expr
    else:
        value = fold(value)
        expr = target.expr if target.folded else func.lower(target.expr)
    if op == "eq":
        predicate = expr == value
    elif op == "ne":
        predicate = expr != value
    elif op in ORDERING_OPS:
        predicate = {"gt": expr > value, "ge": expr >= value,
                     "lt": expr < value, "le": expr <= value}[op]
    else:
        predicate = match_predicate(target, expr, op, value, dialect)
        if op == "co" and expr is UserValue.value_norm:
            # An index-served superset of the matches (trigram index); the LIKE stays the exact test.
            candidates = value_contains_candidates(dialect, UserValue.id, value)
            if candidates is not None:
                predicate = and_(candidates, predicate)
    return _guard(target, predicate) if guarded else predicate


def _guard(target: Target, predicate: ColumnElement[bool]) -> ColumnElement[bool]:
    """Make a predicate false (not NULL) when the value is absent, so ``not`` is exact."""
    if not target.nullable:
        return predicate
    return and_(target.expr.is_not(None), predicate)


def match_predicate(target: Target, expr: Any, op: str, value: str,
                    dialect: str = "sqlite") -> ColumnElement[bool]:
    """``co`` / ``sw`` / ``ew`` on one attribute (RFC 7644 §3.4.2.2): the swap point.

    ``expr`` is ``target.expr`` folded when the attribute ignores case, and ``value``
    is folded likewise. LIKE … ESCAPE makes ``%`` and ``_`` in ``value`` literal. A
    trigram-index form (FTS5, pg_trgm) for, say, ``emails.value co`` belongs here,
    chosen by ``target`` (``target.expr is UserValue.value_norm``) and ``dialect``.
    """
    exact = target.attribute.case_exact
    ranged = target.column and dialect == "sqlite"
    if value == "":
        return expr.is_not(None)  # every string contains, starts and ends with ""
    if op == "co":
        predicate = expr.contains(value, autoescape=True)
        if exact:
            # SQLite's LIKE ignores ASCII case; replace() never does (both databases).
            predicate = and_(predicate, func.replace(expr, value, "") != expr)
        return predicate
    if op == "sw":
        predicate = expr.startswith(value, autoescape=True)
        if exact:
            predicate = and_(predicate, func.substr(expr, 1, len(value)) == value)
        if ranged:
            upper = _prefix_upper_bound(value)
            # A B-tree range the index can serve; LIKE above keeps it exact.
            bounds = [expr >= value] + ([expr < upper] if upper is not None else [])
            predicate = and_(*bounds, predicate)
        return predicate
    predicate = expr.endswith(value, autoescape=True)
    if exact:
        predicate = and_(predicate,
                         func.substr(expr, func.length(expr) - len(value) + 1) == value)
    return predicate


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (binary order)."""
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return None
    following = last + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be encoded
        following = 0xE000
    return prefix[:-1] + chr(following)


_MS = timedelta(milliseconds=1)
_LAST_MS = datetime.max - _MS


def _floor_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _compare_time(target: Target, op: str, value: Any) -> ColumnElement[bool]:
    """Chronological comparison (RFC 7644 §3.4.2.2) at the precision the client sees.

    Timestamps are stored to the microsecond but rendered to the millisecond
    (``meta.created`` = floor to ms), so a value read back from a resource must
    match it: each operator compares floor_ms(stored) with the given instant,
    written as a range over the raw column so an index can serve it.
    """
    if op in STRING_OPS:
        raise InvalidFilter(f"'{target.attribute.name}' is a date-time: "
                            f"use eq, ne, gt, ge, lt, le or pr.")
    moment = parse_time(value)
    floor = _floor_ms(moment)
    on_boundary = floor == moment
    # The millisecond after the floor; None past datetime.max (9999-12-31T23:59:59.999Z),
    # where "before it" holds for every stored time and "from it on" for none.
    following = floor + _MS if floor <= _LAST_MS else None
    ceil = floor if on_boundary else following
    expr = target.expr
    if op in ("eq", "ne"):
        if not on_boundary:
            predicate = false()
        elif following is None:
            predicate = expr >= floor
        else:
            predicate = and_(expr >= floor, expr < following)
        if op == "ne":
            predicate = not_(predicate)
    elif op in ("ge", "gt"):
        bound = ceil if op == "ge" else following
        predicate = false() if bound is None else expr >= bound
    else:  # lt, le
        bound = ceil if op == "lt" else following
        predicate = expr.is_not(None) if bound is None else expr < bound
    return predicate
