"""Host-process Lambda runtime executor for LocalStack (Node.js runtimes only).

Selected in LocalStack with ``LAMBDA_RUNTIME_EXECUTOR=host-node``.
"""

__version__ = "0.1.0"
