-- failed_images: a manifest of the images whose latest outcome is an error, to re-run only those.
-- Answers: which image versions in Cloud Storage (bucket, name, generation) failed on
--   their last attempt and have not been classified since. Written as CSV it is a
--   manifest for --input_manifest (the bucket,name,generation header makes it one):
--   python -m tools.analytics failed_images --format=csv --duckdb=F > failed.csv
-- Parameters: none.
WITH latest_errors AS (
  SELECT e.bucket, e.name, e.generation, MAX(e.failed_at) AS failed_at
  FROM errors AS e
  WHERE e.uri LIKE 'gs://%' AND e.bucket IS NOT NULL AND e.name IS NOT NULL AND e.generation IS NOT NULL
  GROUP BY e.bucket, e.name, e.generation
),
latest_rows AS (
  SELECT c.bucket, c.name, c.generation, MAX(c.classified_at) AS classified_at
  FROM classifications AS c
  GROUP BY c.bucket, c.name, c.generation
)
SELECT e.bucket, e.name, e.generation
FROM latest_errors AS e
LEFT JOIN latest_rows AS c
  ON c.bucket = e.bucket AND c.name = e.name AND c.generation = e.generation
WHERE c.classified_at IS NULL OR c.classified_at < e.failed_at
ORDER BY e.bucket, e.name, e.generation
