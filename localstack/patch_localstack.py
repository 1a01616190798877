"""Post-install fix-up for localstack-core 4.13.1 on Python 3.11.

localstack-core 4.13.1 was built and tested on Python 3.13, where ``threading.Lock`` is a class.
On Python 3.11 and 3.12 it is a factory function, so the eagerly evaluated annotation
``install_lock: Lock | None`` in ``localstack/packages/api.py`` raises ``TypeError`` at import time.
That breaks ``localstack.packages`` and everything importing it, notably
``localstack.services.lambda_.plugins`` (the Lambda custom endpoints hook) and ``localstack.utils.diagnose``.

This script quotes that one annotation (turning it into a string that is never evaluated) in the
installed copy. It is idempotent and exits non-zero if the file has an unexpected shape.
Run with the virtual environment's interpreter: ``.venv/bin/python patch_py311.py``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BROKEN = "install_lock: Lock | None = None"
FIXED = 'install_lock: "Lock | None" = None'


def main() -> int:
    spec = importlib.util.find_spec("localstack")
    if spec is None or not spec.submodule_search_locations:
        print("patch_py311: localstack is not installed in this interpreter", file=sys.stderr)
        return 1
    target = Path(list(spec.submodule_search_locations)[0]) / "packages" / "api.py"
    text = target.read_text(encoding="utf-8")
    if FIXED in text:
        print(f"patch_py311: already applied ({target})")
    elif BROKEN in text:
        target.write_text(text.replace(BROKEN, FIXED), encoding="utf-8")
        print(f"patch_py311: quoted the Lock annotation in {target}")
    else:
        print(f"patch_py311: unexpected content in {target}; not patched", file=sys.stderr)
        return 1
    # Verify: the modules that failed before must import now.
    import localstack.packages  # noqa: F401
    import localstack.services.lambda_.plugins  # noqa: F401

    return 0


if __name__ == "__main__":
    sys.exit(main())
