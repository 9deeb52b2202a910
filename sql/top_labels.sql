-- top_labels: the labels found on the most images.
-- Answers: which labels the models found most often, on how many images, and how
--   sure they were on average (latest result per image).
-- Parameters:
--   @min_confidence FLOAT64 [0..1] = 0.0  count a label only when its score is at least this
--   @top INT64 [1..100000] = 20  how many labels to return
SELECT l.name AS label, COUNT(*) AS images, ROUND(AVG(l.score), 4) AS avg_score
FROM latest_classifications AS c, UNNEST(c.labels) AS l
WHERE l.score >= @min_confidence
GROUP BY label
ORDER BY images DESC, label
LIMIT @top
