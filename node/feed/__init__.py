"""The shared results feed: what people watch.

Files:
    views.py     builds the feed (best per hardware class, latest results, series, lineage) from the ledger
    terminal.py  the live terminal view of ``swarm-node feed`` (rich)
    web.py       the dashboard's HTTP server (127.0.0.1 by default) and its JSON API
    static/      the dashboard page (HTML, JS, CSS; no external assets, works offline)
"""
