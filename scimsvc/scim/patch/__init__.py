"""PATCH (RFC 7644 §3.5.2), by stage; import the stage you need.

``paths``: what an operation's path designates (``parse_path``, cached).
``engine``: the operations on one document (``apply_patch``, ``PatchResult``).
"""
