"""The web layer: blueprints, template helpers, htmx plumbing."""
