"""Performance tools: ``make bench`` (``python -m bench.bench``)."""

#: The empty route the pages are measured against (registered by the bench only, never by the app).
EMPTY = "/_bench/empty"
