-- label_search: every image with a given label above a confidence.
-- Answers: where the images showing LABEL are (original and category copy),
--   best match first. The label is matched case-insensitively.
-- Parameters:
--   @label STRING  the label to look for, e.g. cat
--   @min_confidence FLOAT64 [0..1] = 0.7  the lowest score to accept
SELECT c.uri, c.primary_category AS category, l.name AS label, l.score, c.category_uri
FROM latest_classifications AS c, UNNEST(c.labels) AS l
WHERE LOWER(l.name) = LOWER(@label) AND l.score >= @min_confidence
ORDER BY l.score DESC, c.uri
