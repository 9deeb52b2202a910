-- label_cooccurrence: which labels appear together on the same image.
-- Answers: the pairs of labels found on the most images, each pair once
--   (label_a sorts before label_b).
-- Parameters:
--   @min_confidence FLOAT64 [0..1] = 0.0  consider a label only when its score is at least this
--   @top INT64 [1..100000] = 50  how many pairs to return
WITH image_labels AS (
  SELECT DISTINCT c.bucket, c.name, c.generation, l.name AS label
  FROM latest_classifications AS c, UNNEST(c.labels) AS l
  WHERE l.score >= @min_confidence
)
SELECT a.label AS label_a, b.label AS label_b, COUNT(*) AS images
FROM image_labels AS a
JOIN image_labels AS b
  ON a.bucket = b.bucket AND a.name = b.name AND a.generation = b.generation AND a.label < b.label
GROUP BY label_a, label_b
ORDER BY images DESC, label_a, label_b
LIMIT @top
