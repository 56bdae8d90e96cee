-- What the fetcher did in the mailbox for each message, for the email log's timeline in the console
-- (issue 11). Other services read only this view, never fetcher.messages itself (DESIGN §2).
-- `action` is null for a message left in the mailbox (skipped, rejected, failed); `action_state`
-- pending / done / abandoned; `action_done_at` the database time the mailbox confirmed it.
CREATE VIEW fetcher.message_action_view AS
SELECT inbox_id, uidvalidity, uid, outcome, action, action_state, action_attempts, action_error, action_done_at
FROM fetcher.messages;
