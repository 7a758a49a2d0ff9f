"""The ``swarm-node`` command line: ``main.py`` holds the group; each other module registers a few commands.

The CLI is thin: a command parses its options, builds the config, calls one function (``join`` and ``verify`` call
``node.runtime``) and maps the one error root, ``NodeError``, to ``click.ClickException`` (a clean message, exit
status 1). Every command has ``--help`` with an example.
"""
