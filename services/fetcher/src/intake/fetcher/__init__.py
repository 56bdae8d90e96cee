"""The fetcher: watches IMAP mailboxes, stores each new message in the blob store, publishes `message.fetched`.

It applies the mailbox action (mark read / delete) only after `message.processed` says the message is safe.
"""
