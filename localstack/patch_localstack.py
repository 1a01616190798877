"""Post-install fix-ups for localstack-core 4.13.1 running on the host (no Docker) under Python 3.11.

Each fix-up replaces one exact line of the installed package; the script is idempotent and exits non-zero
if a target file does not have the expected content (e.g. after a version change of the lock).
Run with the virtual environment's interpreter: ``.venv/bin/python patch_localstack.py``.

1. ``localstack/packages/api.py`` — Python 3.11 compatibility. localstack-core 4.13.1 was built and tested
   on Python 3.13, where ``threading.Lock`` is a class. On 3.11/3.12 it is a factory function, so the
   eagerly evaluated annotation ``install_lock: Lock | None`` raises ``TypeError`` at import time. That
   breaks ``localstack.packages`` and everything importing it, notably ``localstack.services.lambda_.plugins``
   (the Lambda custom-endpoints hook) and ``localstack.utils.diagnose``. The fix quotes the annotation.

2. ``localstack/runtime/server/twisted.py`` — listen address. The default (twisted) gateway ignores the host
   part of ``GATEWAY_LISTEN`` for IPv4 and listens on all interfaces (0.0.0.0:4566) even with
   ``GATEWAY_LISTEN=127.0.0.1:4566``. An unauthenticated AWS emulator should stay on loopback, so the fix
   passes the configured host as the listening interface.

3. ``localstack/services/cloudformation/engine/v2/change_set_model_describer.py`` — CloudFormation
   DescribeChangeSet with ``IncludePropertyValues`` (the CDK CLI always asks for it) fails with
   ``AttributeError: 'NothingType' object has no attribute 'properties'`` (HTTP 500) when an update leaves a
   resource with no ``Properties`` at all — e.g. removing ``autoDeleteObjects`` from a CDK bucket removes its
   only property (a tag). ``cdk deploy`` then retries and gives up. The fix skips the Before/AfterContext
   of such a side instead of dereferencing the "nothing" placeholder.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PATCHES = [
    (
        "packages/api.py",
        "install_lock: Lock | None = None",
        'install_lock: "Lock | None" = None',
    ),
    (
        "runtime/server/twisted.py",
        "endpoint = endpoints.TCP4ServerEndpoint(reactor, host_and_port.port)",
        "endpoint = endpoints.TCP4ServerEndpoint(reactor, host_and_port.port, interface=host_and_port.host or '')",
    ),
    (
        "services/cloudformation/engine/v2/change_set_model_describer.py",
        "            if after_properties is not None:\n                after_context_properties",
        "            if after_properties is not None and not is_nothing(after_properties):\n"
        "                after_context_properties",
    ),
    (
        "services/cloudformation/engine/v2/change_set_model_describer.py",
        "            if before_properties is not None:\n                before_context_properties",
        "            if before_properties is not None and not is_nothing(before_properties):\n"
        "                before_context_properties",
    ),
]


def main() -> int:
    spec = importlib.util.find_spec("localstack")
    if spec is None or not spec.submodule_search_locations:
        print("patch_localstack: localstack is not installed in this interpreter", file=sys.stderr)
        return 1
    root = Path(list(spec.submodule_search_locations)[0])
    failed = 0
    for rel, broken, fixed in PATCHES:
        target = root / rel
        text = target.read_text(encoding="utf-8")
        if fixed in text:
            print(f"patch_localstack: {rel}: already applied")
        elif text.count(broken) == 1:
            target.write_text(text.replace(broken, fixed), encoding="utf-8")
            print(f"patch_localstack: {rel}: patched")
        else:
            print(f"patch_localstack: {rel}: unexpected content; not patched", file=sys.stderr)
            failed += 1
    if failed:
        return 1
    # Verify: the modules that failed before must import now.
    import localstack.packages  # noqa: F401
    import localstack.runtime.server.twisted  # noqa: F401
    import localstack.services.lambda_.plugins  # noqa: F401
    from localstack.services.cloudformation.engine.v2 import change_set_model_describer

    assert hasattr(change_set_model_describer, "is_nothing")

    return 0


if __name__ == "__main__":
    sys.exit(main())
