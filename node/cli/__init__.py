"""The ``swarm-node`` command line: ``main.py`` holds the group; each other module registers a few commands.

The CLI is thin: a command parses its options, builds one library object, calls one function and maps
errors to a clean message and exit code. Every command has ``--help`` with an example.
"""
