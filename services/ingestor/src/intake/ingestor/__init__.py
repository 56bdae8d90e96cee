"""The ingestor: turns `message.fetched` into issues and replies with their attachments, and reports every outcome.

Pure core (no I/O library; import-linter checks it): `parsing` with `message_headers`, `mime_parts`,
`plain_headers`, `mime_split`, `html_text`, `filenames` and `tnef`; `limits`, `senders`, `auto_generated`,
`matching`, `threads`, `message_facts`, `decision`, `batch_rules`, and the `issue_store` port. Shells:
`ingest` (one message) and `batch_ingest` (a batch) with `results` and `inbox_policies`, storing through
`postgres_store` over `repository`, `batch_repository` and `tracker_rows` (PostgreSQL), `handler`,
`deliveries` and `batch_handler` (RabbitMQ), `database_watch`, `storage_cleanup` and `outcome_retention`,
`metrics`, `app` (wiring), `__main__` (the `intake-ingestor` command).
"""
