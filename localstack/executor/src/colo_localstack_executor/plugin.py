"""plux plugin that exposes :class:`HostNodeRuntimeExecutor` to LocalStack.

Registered in the entry-point group ``localstack.lambda.runtime_executor`` under the name ``host-node``
(see pyproject.toml). LocalStack's ``get_runtime_executor()`` loads the plugin whose name equals
``LAMBDA_RUNTIME_EXECUTOR`` and calls its ``load()`` to obtain the executor class.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostNodeRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host-node"

    def load(self, *args, **kwargs):
        # imported lazily so that listing plugins never imports the executor module
        from colo_localstack_executor.executor import HostNodeRuntimeExecutor

        return HostNodeRuntimeExecutor
