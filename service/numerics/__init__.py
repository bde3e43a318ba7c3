"""Pure numerics: numpy and the standard library only (no Flask, no SQLAlchemy, no I/O)."""
