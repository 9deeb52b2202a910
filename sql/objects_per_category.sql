-- objects_per_category: the objects located in each category's images.
-- Answers: for each category, which objects the detector found, how many
--   instances and on how many images (latest result per image).
-- Parameters:
--   @min_confidence FLOAT64 [0..1] = 0.0  count an object only when its score is at least this
SELECT c.primary_category AS category, o.name AS object, COUNT(*) AS instances,
       COUNT(DISTINCT c.uri) AS images
FROM latest_classifications AS c, UNNEST(c.objects) AS o
WHERE o.score >= @min_confidence
GROUP BY category, object
ORDER BY category, instances DESC, object
