"""The ingestor: turns `message.fetched` into issues and replies with their attachments, and reports every outcome.

Pure core: `parsing`, `html_text`, `matching`, `threads`, `decision`. Shells: `ingest` (PostgreSQL),
`handler` (RabbitMQ), `app` (wiring), `__main__` (the `intake-ingestor` command).
"""
