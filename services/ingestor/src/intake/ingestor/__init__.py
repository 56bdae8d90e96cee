"""The ingestor: turns `message.fetched` into issues and replies with their attachments, and reports every outcome.

Pure core (no I/O library; import-linter checks it): `parsing` with `plain_headers`, `mime_split`,
`html_text`, `filenames` and `tnef`; `limits`, `senders`, `auto_generated`, `matching`, `threads`,
`decision`, `batching`. Shells: `ingest` and `repository` (PostgreSQL), `handler`, `deliveries` and
`batches` (RabbitMQ), `database_watch`, `storage_cleanup` and `outcome_retention`, `metrics`, `app`
(wiring), `__main__` (the `intake-ingestor` command).
"""
