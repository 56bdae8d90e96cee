-- Each message's mailbox key, so the console links a message on an issue to the email log row it came
-- from (issue 11). Columns are only added at the end: readers of the old columns are unaffected.
CREATE OR REPLACE VIEW tracker.message_view AS
SELECT id, issue_number, message_id, from_address, from_name, to_addresses, cc_addresses, subject,
       sent_at, body_text, created_at, inbox_id, uidvalidity, uid
FROM tracker.messages;
