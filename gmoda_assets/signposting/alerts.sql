-- New events that should prompt a call, for the council that leads the child's plan. Parameters: %(as_of)s the
-- date judged on, %(days)s how far back an event is new, %(feeds)s the signal feeds live for signposting,
-- %(reviews)s and %(months)s the health-visiting reviews and the age in months by which each is due.
WITH plans AS (  -- children and households on an open child-protection or child-in-need plan, and its council
    SELECT f.person_key, m.household_key, f.episode_type, p.partner_id AS lead_agency
    FROM conformed.fact_social_care_episodes AS f JOIN conformed.dim_partner AS p USING (partner_key)
    JOIN linked.household_members AS m USING (person_key)
    JOIN linked.household AS h ON h.household_key = m.household_key AND h.children > 0
    WHERE f.is_open AND f.episode_type IN ('child_protection', 'child_in_need')
      AND p.partner_id || '.social_care' = ANY(%(feeds)s)
), incidents AS (  -- a police incident involving a member of a household with a child-protection plan open
    SELECT DISTINCT pl.household_key, pl.lead_agency, 'police_incident_on_child_protection_plan' AS alert,
           p.partner_id AS agency, p.partner_id || '.incidents' AS feed_id, d.date AS event_date,
           f.incident_category AS detail, coalesce(f.incident_ref_pseudonym, f.record_key) AS event
    FROM plans AS pl JOIN linked.household_members AS m USING (household_key)
    JOIN conformed.fact_police_incidents AS f ON f.person_key = m.person_key
    JOIN conformed.dim_partner AS p ON p.partner_key = f.partner_key
    JOIN conformed.dim_date AS d ON d.date_key = f.incident_date_key
    WHERE pl.episode_type = 'child_protection' AND p.partner_id || '.incidents' = ANY(%(feeds)s)
      AND d.date > %(as_of)s::date - make_interval(days => %(days)s) AND d.date <= %(as_of)s
), missed AS (  -- a health-visiting review whose deadline passed lately with none held, for a child on a plan
    SELECT DISTINCT pl.household_key, pl.lead_agency, 'missed_review_child_on_plan' AS alert,
           p.partner_id AS agency, p.partner_id || '.hv_reviews' AS feed_id,
           (bd.date + make_interval(months => r.months + 1))::date AS event_date, r.review_type AS detail,
           pl.person_key::text || ':' || r.review_type AS event
    FROM plans AS pl JOIN conformed.fact_births AS b USING (person_key)
    JOIN conformed.dim_date AS bd ON bd.date_key = b.birth_month_date_key
    JOIN conformed.dim_partner AS p ON p.partner_key = b.partner_key
    CROSS JOIN unnest(%(reviews)s::text[], %(months)s::integer[]) AS r (review_type, months)
    WHERE p.partner_id || '.hv_reviews' = ANY(%(feeds)s)
      AND bd.date + make_interval(months => r.months + 1) > %(as_of)s::date - make_interval(days => %(days)s)
      AND bd.date + make_interval(months => r.months + 1) <= %(as_of)s
      AND NOT EXISTS (SELECT FROM conformed.fact_health_visiting_reviews AS v
                      WHERE v.person_key = pl.person_key AND v.review_type = r.review_type)
)
SELECT household_key, lead_agency, alert, agency, feed_id, event_date, detail, count(*)::integer AS events
FROM (SELECT * FROM incidents UNION ALL SELECT * FROM missed) AS e
WHERE EXISTS (SELECT FROM signposting.agency_visibility AS v  -- the lead may be told of that feed's events
              WHERE v.viewer = e.lead_agency AND v.feed_id = e.feed_id)
GROUP BY household_key, lead_agency, alert, agency, feed_id, event_date, detail
ORDER BY household_key, event_date, alert
