"""Storage: SQLAlchemy engine, sessions and Alembic migrations shared by both products."""
