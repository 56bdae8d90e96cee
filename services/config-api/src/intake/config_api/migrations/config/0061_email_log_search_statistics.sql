-- Row estimates for the email log's substring filters (`sender` fragment, `q`), so the planner picks the
-- trigram index for a rare fragment and walks the time index only for a common one.
-- With the default statistics (100 values) a rare fragment such as "chloe.khan" (~500 of 1,000,000 rows)
-- was estimated at 10,000 rows, so the page walked the time index and filtered ~110,000 rows (115 ms);
-- sampled at 1,000 values the estimate is ~1,000 and the trigram index answers in ~12 ms.
ALTER TABLE config.email_log
    ALTER COLUMN sender SET STATISTICS 1000,
    ALTER COLUMN subject SET STATISTICS 1000;
ANALYZE config.email_log (sender, subject);
