"""Use cases: load, authorise, apply the domain, commit once, then send mail."""
