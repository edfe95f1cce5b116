"""Run Debian's wapiti (3.0.4) with its ``-x`` exclusions working on Python 3.11.

Its ``wildcard_translate`` appends ``(?ms)`` at the end of the pattern, which Python 3.11 refuses
("global flags not at the start"), so any ``-x`` kills the scan. Without ``-x /logout`` the
crawler would submit the logout form (with a valid CSRF token) and scan the rest logged out.
Run with the interpreter wapiti is installed for: ``/usr/bin/python3 tests/tools/wapiti_excludes.py ARGS``.
"""
import re
import sys

from wapitiCore.main.wapiti import wapiti_main
from wapitiCore.net import crawler


def wildcard_translate(pattern: str):
    """``*`` matches anything; the rest literally, to the end of the URL."""
    return re.compile("(?ms)" + ".*".join(re.escape(part) for part in pattern.split("*")) + r"\Z")


crawler.wildcard_translate = wildcard_translate

if __name__ == "__main__":
    sys.argv[0] = "wapiti"
    sys.exit(wapiti_main())
