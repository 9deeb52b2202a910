-- daily_volume: images and unsafe share per day and category.
-- Answers: which categories grow, and how much unsafe content arrives each day
--   (day of the upload time, UTC; unsafe = safe search found adult, violence or
--   racy content LIKELY or VERY_LIKELY; images without safe search count as safe).
-- Parameters:
--   @since DATE = 0001-01-01  first day to include
SELECT DATE(event_time) AS day, primary_category AS category, COUNT(*) AS images,
       COUNTIF(is_safe IS FALSE) AS unsafe,
       ROUND(COUNTIF(is_safe IS FALSE) / COUNT(*), 4) AS unsafe_share
FROM latest_classifications
WHERE DATE(event_time) >= @since
GROUP BY day, category
ORDER BY day, category
