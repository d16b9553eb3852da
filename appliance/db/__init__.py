"""The appliance database (audit log, users): its engine (SQLite or PostgreSQL), migrations and tables."""
