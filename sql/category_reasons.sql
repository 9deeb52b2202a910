-- category_reasons: why the images in each category are there.
-- Answers: for each category, the rules that filed its images (a label, an object,
--   a face count, text, the fallback, unsafe, the top label) with how many images
--   each filed and one top label among them (latest result per image).
-- Parameters: none.
SELECT primary_category AS category,
       REGEXP_REPLACE(COALESCE(category_rule, 'unknown'), r' \([0-9.]+\)$', '') AS rule,
       COUNT(*) AS images,
       MIN(top_label) AS example_top_label
FROM latest_classifications
GROUP BY category, rule
ORDER BY category, images DESC, rule
