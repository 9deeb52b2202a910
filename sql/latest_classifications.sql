-- latest_classifications (view): one row per image version, its latest result.
-- Answers: what the pipeline last concluded about each image (bucket, name,
--   generation), however many times re-runs, retries or late redeliveries wrote it.
--   Every other analysis reads this view, never the raw table.
-- Parameters: none.
SELECT * EXCEPT (rn)
FROM (
  SELECT c.*, ROW_NUMBER() OVER (
      PARTITION BY c.bucket, c.name, c.generation ORDER BY c.classified_at DESC, c.uri) AS rn
  FROM classifications AS c
)
WHERE rn = 1
