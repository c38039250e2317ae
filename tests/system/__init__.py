"""Tests that start real ``scimsvc serve`` (or other) processes; all marked ``system``."""
