-- taxonomy_categories: each image's category under the taxonomy in the category_rules table.
-- Answers: the category the taxonomy last written by `python -m tools.refile` gives each
--   image (latest result per image), computed here from its stored labels, objects,
--   faces and text: the first category with a matching rule, else the fallback;
--   unsafe images get the quarantine category. Beside it, the category the row holds.
-- Parameters:
--   @quarantine_category STRING = quarantine  the category of unsafe images
WITH found AS (
  SELECT c.bucket, c.name, c.generation, 'label' AS kind, LOWER(TRIM(l.name)) AS item, l.score AS score,
         CAST(NULL AS INT64) AS amount
  FROM latest_classifications AS c, UNNEST(c.labels) AS l
  UNION ALL
  SELECT c.bucket, c.name, c.generation, 'object', LOWER(TRIM(o.name)), o.score, CAST(NULL AS INT64)
  FROM latest_classifications AS c, UNNEST(c.objects) AS o
  UNION ALL
  SELECT c.bucket, c.name, c.generation, 'faces', CAST(NULL AS STRING), CAST(NULL AS FLOAT64),
         ARRAY_LENGTH(c.faces)
  FROM latest_classifications AS c
  UNION ALL
  SELECT c.bucket, c.name, c.generation, 'text', CAST(NULL AS STRING), CAST(NULL AS FLOAT64),
         LENGTH(REGEXP_REPLACE(COALESCE(c.text, ''), r'\s', ''))
  FROM latest_classifications AS c
),
matched AS (
  SELECT f.bucket, f.name, f.generation, MIN(r.position) AS position
  FROM found AS f
  JOIN category_rules AS r ON r.kind = f.kind
  WHERE (f.kind IN ('label', 'object') AND f.item = r.name AND f.score >= r.min_score)
     OR (f.kind IN ('faces', 'text') AND f.amount >= r.min_count)
  GROUP BY f.bucket, f.name, f.generation
),
categories AS (
  SELECT DISTINCT position, category FROM category_rules
)
SELECT c.uri, c.generation,
       CASE WHEN c.is_safe = FALSE THEN @quarantine_category
            ELSE COALESCE(k.category, (SELECT MIN(category) FROM category_rules WHERE kind = 'fallback'))
       END AS category,
       c.primary_category AS stored_category
FROM latest_classifications AS c
LEFT JOIN matched AS m ON m.bucket = c.bucket AND m.name = c.name AND m.generation = c.generation
LEFT JOIN categories AS k ON k.position = m.position
ORDER BY c.uri, c.generation
