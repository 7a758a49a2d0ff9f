"""trainer: one experiment (data, locked harness and evaluator, sandboxed runner, hardware fingerprint).

Imports nothing of the rest of the project. The file map is filled in as the package grows.
"""
