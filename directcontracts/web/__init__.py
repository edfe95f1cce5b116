"""The web layer: blueprints, template helpers, htmx plumbing."""

from ..redaction import RedactClientTokens, install_log_redaction  # noqa: F401  (used by create_app, tests)
