"""Print the SQL statements one page sends, with where each comes from (a tool for finding N+1s).

    python -m bench.trace [--contracts N] PAGE-NAME...

PAGE-NAME is a name from ``bench.bench.pages`` ("contract detail", "client's contract page"...), or "all".
"""
from __future__ import annotations

import argparse
import os
import tempfile
import traceback

from sqlalchemy import event

from directcontracts.extensions import db

from .bench import make_app, pages, seed_bulk, seed_http


def origin() -> str:
    """The innermost frames of the app's own code that led to the statement."""
    frames = [f for f in traceback.extract_stack()
              if "/directcontracts/" in f.filename and "/site-packages/" not in f.filename]
    return " < ".join(f"{os.path.basename(f.filename)}:{f.lineno} {f.name}" for f in reversed(frames[-4:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contracts", type=int, default=20)
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="dc-trace-")
    app = make_app(os.environ.get("DATABASE_URL") or "sqlite:///" + os.path.join(tmp.name, "trace.sqlite3"))
    with app.app_context():
        db.drop_all()
        db.create_all()
        engine = db.engine
    seeded = seed_http(app)
    seed_bulk(app, args.contracts)
    seen: list[tuple[str, str]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: seen.append((statement, origin())))
    for name, who, path in pages(seeded, args.contracts, app.config["CONTRACTS_PER_PAGE"]):
        if "all" not in args.names and name not in args.names:
            continue
        browser = seeded["member" if who == "fragment" else who]
        headers = {"HX-Request": "true"} if who == "fragment" else {}
        browser.get(path, headers=headers)
        seen.clear()
        assert browser.get(path, headers=headers).status_code == 200
        print(f"== {name} ({path}): {len(seen)} statements")
        for statement, where in seen:
            print(f"  {' '.join(statement.split())[:160]}\n      {where}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
