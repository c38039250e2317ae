"""Caches keyed by client text hold short keys only, so a worker's memory stays bounded (issue 15)."""
from __future__ import annotations

import pytest

from scimsvc.errors import InvalidFilter
from scimsvc.scim.filters import tree
from scimsvc.scim.patch import paths


def test_a_long_distinct_patch_path_is_resolved_but_not_retained():
    long_path = 'emails[value eq "a" or ' + " or ".join(f'type eq "t{i}"' for i in range(2000)) + "]"
    before = paths._cached_path.cache_info()
    target = paths.parse_path(long_path)
    assert target is not None and target.attribute.name == "emails"
    after = paths._cached_path.cache_info()
    assert (after.currsize, after.misses, after.hits) == (before.currsize, before.misses, before.hits)


def test_a_short_patch_path_is_cached():
    paths.parse_path("name.givenName")
    hits = paths._cached_path.cache_info().hits
    paths.parse_path("name.givenName")
    assert paths._cached_path.cache_info().hits == hits + 1


def test_a_long_filter_shape_is_parsed_but_not_retained():
    text = " or ".join(f"userName eq {i}" for i in range(500))  # numbers stay in the shape
    before = tree._parse_shape.cache_info()
    parsed = tree.parse_filter(text)
    assert isinstance(parsed, tree.Or) and len(parsed.items) == 500
    after = tree._parse_shape.cache_info()
    assert (after.currsize, after.misses, after.hits) == (before.currsize, before.misses, before.hits)


def test_a_long_bad_filter_still_reports_invalid_filter():
    with pytest.raises(InvalidFilter):
        tree.parse_filter(" or ".join(f"userName eq {i}" for i in range(500)) + " and")


def test_the_caches_hold_at_most_their_entries_of_their_key_length():
    assert paths._cached_path.cache_info().maxsize * paths.MAX_CACHED_PATH <= 512 * 1024
    assert tree._parse_shape.cache_info().maxsize * tree.MAX_CACHED_SHAPE <= 512 * 1024
