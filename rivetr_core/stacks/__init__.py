"""Compose stacks: the deployment engine (``deployer``), the container and network names it uses (``naming``),
a compose service turned into a :class:`~rivetr_core.contract.RunSpec` (``runspec``) and where a deployment's
compose file comes from (``source``). Feature code, loaded with the first stack request or start-up recovery.
"""
