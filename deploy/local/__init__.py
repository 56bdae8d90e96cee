"""`make run` and its helpers: the local stack, its development mailbox, sample mail."""
