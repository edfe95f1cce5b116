"""``gunicorn bench.serve:app``: the app as ``app.py`` builds it from the environment, plus the bench's empty
route (for ``bench --http`` only; never served by a real installation)."""
from directcontracts import create_app

from . import EMPTY

app = create_app()
app.add_url_rule(EMPTY, "bench_empty", lambda: "")
