"""protocol: the wire layer of swarm-node (identity, signed messages, strict validation).

Pure Python, no I/O beyond the identity key file, no imports from the rest of the project.
The file map is filled in as the package grows.
"""
