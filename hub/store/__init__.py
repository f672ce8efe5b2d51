"""Durable state: SQLAlchemy 2 (async) over SQLite or PostgreSQL, schema versioned by Alembic."""
