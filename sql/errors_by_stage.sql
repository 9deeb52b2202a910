-- errors_by_stage: where and why images fail.
-- Answers: how many images failed at each stage (read, decode, annotate, parse,
--   write, copy, notification) and for which reason. Each image version counts
--   once, by its latest failure; images classified since then are left out.
-- Parameters: none.
WITH latest_errors AS (
  SELECT * EXCEPT (rn)
  FROM (
    SELECT e.*, ROW_NUMBER() OVER (
        PARTITION BY e.uri, e.generation ORDER BY e.failed_at DESC, e.stage, e.code) AS rn
    FROM errors AS e
  )
  WHERE rn = 1
)
SELECT e.stage, e.code, COUNT(*) AS images, MAX(e.failed_at) AS last_failed_at
FROM latest_errors AS e
WHERE NOT EXISTS (
  SELECT 1 FROM classifications AS c WHERE c.uri = e.uri AND c.generation = e.generation)
GROUP BY e.stage, e.code
ORDER BY images DESC, e.stage, e.code
