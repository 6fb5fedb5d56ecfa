-- One row per household with children and agency involved with it: signals, never records. Parameters:
-- %(as_of)s the date the signals are judged on, %(feeds)s the signal feeds (<partner>.<feed>) that may be used
-- for signposting today, %(levels)s the care levels lowest first, %(reviews)s and %(months)s the health-visiting
-- reviews and the age in months by which each is due. Each block reads one agency's fact through the household's members.
WITH families AS (
    SELECT household_key, children FROM linked.household WHERE children > 0
), members AS (
    SELECT m.person_key, m.household_key, m.role
    FROM linked.household_members AS m JOIN families USING (household_key)
), care AS (  -- open social-care episodes: the highest level open, since when
    SELECT mb.household_key, p.partner_id AS agency, p.partner_id || '.social_care' AS feed_id,
           (array_agg(f.episode_type ORDER BY array_position(%(levels)s::text[], f.episode_type) DESC NULLS LAST,
                      d.date))[1] AS care_level,
           count(*)::integer AS open_episodes,
           (array_agg(d.date ORDER BY array_position(%(levels)s::text[], f.episode_type) DESC NULLS LAST,
                      d.date))[1] AS care_since,
           max(d.date) AS last_activity
    FROM conformed.fact_social_care_episodes AS f JOIN members AS mb USING (person_key)
    JOIN conformed.dim_partner AS p USING (partner_key) JOIN conformed.dim_date AS d ON d.date_key = f.start_date_key
    WHERE f.is_open AND p.partner_id || '.social_care' = ANY(%(feeds)s)
    GROUP BY 1, 2
), police AS (  -- incidents in the 12 months to as_of involving any member
    SELECT mb.household_key, p.partner_id AS agency, p.partner_id || '.incidents' AS feed_id,
           count(DISTINCT coalesce(f.incident_ref_pseudonym, f.record_key))::integer AS incidents_12m,
           max(d.date) AS last_incident, bool_or(f.incident_category = 'domestic_abuse') AS domestic_abuse
    FROM conformed.fact_police_incidents AS f JOIN members AS mb USING (person_key)
    JOIN conformed.dim_partner AS p USING (partner_key) JOIN conformed.dim_date AS d ON d.date_key = f.incident_date_key
    WHERE d.date > %(as_of)s::date - interval '12 months' AND d.date <= %(as_of)s
      AND p.partner_id || '.incidents' = ANY(%(feeds)s)
    GROUP BY 1, 2
), housing AS (  -- an open tenancy held by a member
    SELECT mb.household_key, p.partner_id AS agency, p.partner_id || '.tenancies' AS feed_id,
           true AS tenancy_open, min(d.date) AS tenancy_since, max(d.date) AS last_activity
    FROM conformed.fact_tenancies AS f JOIN members AS mb USING (person_key)
    JOIN conformed.dim_partner AS p USING (partner_key) JOIN conformed.dim_date AS d ON d.date_key = f.tenancy_start_date_key
    WHERE f.is_open AND p.partner_id || '.tenancies' = ANY(%(feeds)s)
    GROUP BY 1, 2
), reviews AS (
    SELECT f.person_key, f.review_type, d.date, p.partner_id
    FROM conformed.fact_health_visiting_reviews AS f JOIN conformed.dim_date AS d ON d.date_key = f.review_date_key
    JOIN conformed.dim_partner AS p USING (partner_key)
    WHERE p.partner_id || '.hv_reviews' = ANY(%(feeds)s) AND d.date <= %(as_of)s
), due AS (  -- each child's reviews whose deadline fell in the 12 months to as_of
    SELECT mb.household_key, mb.person_key, r.review_type, p.partner_id AS agency
    FROM members AS mb JOIN conformed.fact_births AS b USING (person_key)
    JOIN conformed.dim_date AS bd ON bd.date_key = b.birth_month_date_key
    JOIN conformed.dim_partner AS p ON p.partner_key = b.partner_key
    CROSS JOIN unnest(%(reviews)s::text[], %(months)s::integer[]) AS r (review_type, months)
    WHERE mb.role = 'child' AND p.partner_id || '.hv_reviews' = ANY(%(feeds)s)
      AND bd.date + make_interval(months => r.months + 1) BETWEEN %(as_of)s::date - interval '12 months' AND %(as_of)s
), health AS (
    SELECT household_key, agency, agency || '.hv_reviews' AS feed_id,
           count(*) FILTER (WHERE missed)::integer AS reviews_missed,
           string_agg(DISTINCT review_type, ', ' ORDER BY review_type) FILTER (WHERE missed) AS missed_reviews,
           max(last_review) AS last_review
    FROM (
        -- A join, not NOT EXISTS in the select list: that runs as a scan of every review for each review due
        -- (282 s at Greater Manchester scale), this as one hash join.
        SELECT due.household_key, due.agency, due.review_type, held.person_key IS NULL AS missed, NULL::date AS last_review
        FROM due LEFT JOIN (SELECT DISTINCT person_key, review_type FROM reviews) AS held USING (person_key, review_type)
        UNION ALL
        SELECT mb.household_key, r.partner_id, NULL, false, r.date
        FROM reviews AS r JOIN members AS mb USING (person_key)
        WHERE r.date > %(as_of)s::date - interval '12 months'
    ) AS h
    GROUP BY 1, 2
    HAVING bool_or(missed) OR max(last_review) IS NOT NULL  -- a review missed, or one held in the window
)
SELECT s.household_key, s.agency, s.feed_id, families.children,
       care.care_level, care.open_episodes, care.care_since,
       police.incidents_12m, police.last_incident, police.domestic_abuse,
       housing.tenancy_open, housing.tenancy_since,
       health.reviews_missed, health.missed_reviews, health.last_review,
       greatest(care.last_activity, police.last_incident, housing.last_activity, health.last_review) AS last_activity
FROM (SELECT household_key, agency, feed_id FROM care UNION ALL SELECT household_key, agency, feed_id FROM police
      UNION ALL SELECT household_key, agency, feed_id FROM housing UNION ALL SELECT household_key, agency, feed_id FROM health) AS s
JOIN families USING (household_key)
LEFT JOIN care USING (household_key, agency)
LEFT JOIN police USING (household_key, agency)
LEFT JOIN housing USING (household_key, agency)
LEFT JOIN health USING (household_key, agency)
ORDER BY s.household_key, s.agency
