"""SCIM filters (RFC 7644 §3.4.2.2), by stage; import the stage you need.

``grammar``: scim2-filter-parser's lexer and parser with our fixes, and their errors.
``tree``: the normalised tree (``Comparison``, ``ValueFilter``, ``And``, ``Or``, ``Not``)
and ``parse_filter``. ``evaluate``: a tree against a value in Python (PATCH, tests);
``scimsvc.store.search`` compiles the same tree to SQL.
"""
