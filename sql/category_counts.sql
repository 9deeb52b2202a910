-- category_counts: how many images each category holds.
-- Answers: the size of each category folder, and its share of all classified
--   images (latest result per image).
-- Parameters: none.
SELECT primary_category AS category, COUNT(*) AS images,
       ROUND(COUNT(*) / SUM(COUNT(*)) OVER (), 4) AS share
FROM latest_classifications
GROUP BY category
ORDER BY images DESC, category
