"""The database: subscriptions, snapshots, the outbox and run cards (SQLAlchemy async)."""
