-- Each message's HTML body, so the console can show a sanitised copy in a sandboxed frame (issue 11).
-- Added at the end of the view: readers of the other columns are unaffected.
CREATE OR REPLACE VIEW tracker.message_view AS
SELECT id, issue_number, message_id, from_address, from_name, to_addresses, cc_addresses, subject,
       sent_at, body_text, created_at, inbox_id, uidvalidity, uid, body_html
FROM tracker.messages;
