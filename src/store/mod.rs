//! Storage: sqlx repositories and migrations.
