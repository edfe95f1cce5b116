"""Performance tools: ``make bench`` (``python -m bench.bench``)."""
