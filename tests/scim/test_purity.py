"""The SCIM core imports without the web framework or the database layer (ARCHITECTURE: scim is pure)."""
from __future__ import annotations

import subprocess
import sys

CORE = ("scimsvc.scim.schema", "scimsvc.scim.resource", "scimsvc.scim.projection",
        "scimsvc.scim.listing", "scimsvc.scim.versions", "scimsvc.scim.filters.grammar",
        "scimsvc.scim.filters.tree", "scimsvc.scim.filters.evaluate", "scimsvc.scim.patch.paths",
        "scimsvc.scim.patch.engine")


def test_importing_the_core_loads_neither_flask_nor_sqlalchemy():
    code = ("import sys\n" + "".join(f"import {name}\n" for name in CORE) +
            "print(sorted(m for m in ('flask', 'werkzeug', 'sqlalchemy', 'flask_sqlalchemy') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
