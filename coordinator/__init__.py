"""coordinator: the decisions of a node (agents, keep/discard under noise, adopt/verify/stack, trust).

Takes plain records, never the ledger or the network. The file map is filled in as the package grows.
"""
