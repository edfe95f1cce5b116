"""Pure domain layer: money, fees, states, ledger rules. No Flask, no SQLAlchemy."""
