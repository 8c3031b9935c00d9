-- People and conditions that several parts of carehub refer to: staff users (who acknowledged an
-- alert, who moved a device, who spent care time), the ICD-10-CM prefix table that maps a diagnosis
-- code to a chronic-condition key (reference/rpm-ccm-rules.md §B, ICD-10-CM FY2026), and each
-- patient's conditions with the keys derived from that table at write time, so alert profiles
-- (heart failure, COPD) and CCM eligibility read one vocabulary.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    practice_id   uuid NOT NULL REFERENCES practices (id),
    email         text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 254),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role          text NOT NULL CHECK (role IN ('admin', 'clinician', 'care_staff', 'logistics', 'billing')),
    -- Clinical credential, for rules that need a physician/QHP (CCM 99491, overrides under OVR-1).
    credential    text NOT NULL DEFAULT 'none' CHECK (credential IN ('none', 'physician', 'qhp', 'nurse', 'ma')),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (practice_id, id)
);
CREATE UNIQUE INDEX users_email ON users (lower(email));

-- reference/rpm-ccm-rules.md §B. Matching: strip the dot, upper-case, longest matching prefix wins.
CREATE TABLE icd10_condition_prefixes (
    prefix           text PRIMARY KEY CHECK (prefix ~ '^[A-Z][0-9A-Z]{0,6}$'),
    condition_key    text NOT NULL CHECK (condition_key ~ '^[a-z][a-z0-9_]*$'),
    condition_name   text NOT NULL,
    chronic_default  text NOT NULL CHECK (chronic_default IN ('true', 'false', 'review')),
    notes            text,
    code_set         text NOT NULL DEFAULT 'ICD-10-CM FY2026'
);
INSERT INTO icd10_condition_prefixes (prefix, condition_key, condition_name, chronic_default, notes)
VALUES
    ('I10', 'hypertension', 'Essential (primary) hypertension', 'true', NULL),
    ('I1A', 'hypertension', 'Resistant hypertension (I1A.0; added FY2024)', 'true', NULL),
    ('I11', 'hypertension', 'Hypertensive heart disease', 'true', 'I11.0 also implies heart failure'),
    ('I12', 'hypertension_ckd', 'Hypertensive chronic kidney disease', 'true', 'also tag ckd'),
    ('I13', 'hypertension_ckd', 'Hypertensive heart and chronic kidney disease', 'true', 'I13.0/I13.2 also imply heart failure'),
    ('I15', 'hypertension', 'Secondary hypertension', 'true', NULL),
    ('I16', 'hypertensive_crisis', 'Hypertensive urgency/emergency/crisis', 'false', 'acute event; never counts alone'),
    ('E08', 'diabetes', 'Diabetes due to underlying condition', 'true', NULL),
    ('E09', 'diabetes', 'Drug- or chemical-induced diabetes', 'true', NULL),
    ('E10', 'diabetes_type1', 'Type 1 diabetes mellitus', 'true', NULL),
    ('E11', 'diabetes_type2', 'Type 2 diabetes mellitus', 'true', 'E11.65 = with hyperglycemia'),
    ('E13', 'diabetes', 'Other specified diabetes mellitus', 'true', NULL),
    ('O24', 'diabetes_pregnancy', 'Diabetes in pregnancy/gestational', 'false', 'time-limited'),
    ('R7303', 'prediabetes', 'Prediabetes', 'false', 'usually not a CCM qualifying condition'),
    ('I50', 'heart_failure', 'Heart failure', 'true', 'drives HF weight rules in section C'),
    ('I25', 'ischemic_heart_disease', 'Chronic ischemic heart disease', 'true', NULL),
    ('I48', 'atrial_fibrillation', 'Atrial fibrillation and flutter', 'true', NULL),
    ('I70', 'atherosclerosis', 'Atherosclerosis (incl. PAD of extremities I70.2-)', 'true', NULL),
    ('I739', 'peripheral_vascular_disease', 'Peripheral vascular disease unspecified', 'true', NULL),
    ('I69', 'stroke_sequelae', 'Sequelae of cerebrovascular disease', 'true', 'I63 (acute infarction) is not chronic'),
    ('J44', 'copd', 'Chronic obstructive pulmonary disease', 'true', 'drives COPD SpO2 profile'),
    ('J43', 'copd', 'Emphysema', 'true', 'drives COPD SpO2 profile'),
    ('J41', 'copd', 'Simple and mucopurulent chronic bronchitis', 'true', NULL),
    ('J42', 'copd', 'Unspecified chronic bronchitis', 'true', NULL),
    ('J45', 'asthma', 'Asthma', 'true', NULL),
    ('J47', 'bronchiectasis', 'Bronchiectasis', 'true', NULL),
    ('J961', 'chronic_respiratory_failure', 'Chronic respiratory failure', 'true', 'consider COPD SpO2 profile'),
    ('G4733', 'sleep_apnea', 'Obstructive sleep apnea', 'true', NULL),
    ('N18', 'ckd', 'Chronic kidney disease (N18.1-N18.6; N18.30-32 stage 3 split)', 'true', 'N18.6 ESRD: watch ESRD monthly-service conflict'),
    ('F01', 'dementia', 'Vascular dementia', 'true', NULL),
    ('F02', 'dementia', 'Dementia in other diseases classified elsewhere', 'true', NULL),
    ('F03', 'dementia', 'Unspecified dementia', 'true', NULL),
    ('G30', 'alzheimers', 'Alzheimer''s disease', 'true', NULL),
    ('G310', 'dementia', 'Frontotemporal dementia', 'true', NULL),
    ('G3183', 'dementia', 'Dementia with Lewy bodies / neurocognitive disorder with Lewy bodies', 'true', NULL),
    ('F32', 'depression', 'Major depressive disorder single episode (incl. F32.A)', 'review', 'single episode may not last 12 months'),
    ('F33', 'depression', 'Major depressive disorder recurrent', 'true', NULL),
    ('F341', 'depression', 'Dysthymic disorder', 'true', NULL),
    ('F411', 'anxiety', 'Generalized anxiety disorder', 'review', NULL),
    ('F31', 'bipolar', 'Bipolar disorder', 'true', NULL),
    ('F20', 'schizophrenia', 'Schizophrenia', 'true', NULL),
    ('M15', 'osteoarthritis', 'Polyosteoarthritis', 'true', NULL),
    ('M16', 'osteoarthritis', 'Osteoarthritis of hip', 'true', NULL),
    ('M17', 'osteoarthritis', 'Osteoarthritis of knee', 'true', NULL),
    ('M18', 'osteoarthritis', 'Osteoarthritis of first carpometacarpal joint', 'true', NULL),
    ('M19', 'osteoarthritis', 'Other and unspecified osteoarthritis', 'true', NULL),
    ('M05', 'rheumatoid_arthritis', 'Rheumatoid arthritis with rheumatoid factor', 'true', NULL),
    ('M06', 'rheumatoid_arthritis', 'Other rheumatoid arthritis', 'true', NULL),
    ('M80', 'osteoporosis', 'Osteoporosis with current pathological fracture', 'true', NULL),
    ('M81', 'osteoporosis', 'Osteoporosis without current pathological fracture', 'true', NULL),
    ('E78', 'hyperlipidemia', 'Disorders of lipoprotein metabolism / hyperlipidemia', 'true', NULL),
    ('E66', 'obesity', 'Obesity (E66.01 morbid; E66.81- class 1-3 added FY2025; E66.9)', 'true', 'exclude E663 (overweight) below'),
    ('E663', 'overweight', 'Overweight', 'false', 'longest-prefix override of E66'),
    ('E03', 'hypothyroidism', 'Other hypothyroidism', 'true', NULL),
    ('G20', 'parkinsons', 'Parkinson''s disease', 'true', NULL),
    ('G35', 'multiple_sclerosis', 'Multiple sclerosis', 'true', NULL),
    ('G40', 'epilepsy', 'Epilepsy and recurrent seizures', 'true', NULL),
    ('K70', 'liver_disease', 'Alcoholic liver disease', 'true', NULL),
    ('K74', 'liver_disease', 'Fibrosis and cirrhosis of liver', 'true', NULL),
    ('B20', 'hiv', 'HIV disease', 'true', NULL),
    ('C', 'cancer', 'Malignant neoplasm (C00-C96)', 'review', 'active cancer only; history codes Z85 do not count');

-- Codes that imply a second condition (the notes column of §B): hypertensive heart disease with
-- heart failure, hypertensive CKD.
CREATE TABLE icd10_condition_implications (
    prefix       text NOT NULL CHECK (prefix ~ '^[A-Z][0-9A-Z]{0,6}$'),
    implied_key  text NOT NULL,
    PRIMARY KEY (prefix, implied_key)
);
INSERT INTO icd10_condition_implications (prefix, implied_key)
VALUES ('I110', 'heart_failure'), ('I130', 'heart_failure'), ('I132', 'heart_failure'),
       ('I12', 'ckd'), ('I13', 'ckd');

-- ICD-10-CM code as written (with or without the dot) -> its normalised form.
CREATE FUNCTION carehub_icd10_normalise(code text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT upper(replace(btrim(code), '.', '')) $$;

-- The condition keys of one code: the longest matching prefix's key plus every implied key.
CREATE FUNCTION carehub_condition_keys(code text) RETURNS text[]
    LANGUAGE sql STABLE STRICT AS $$
    WITH c AS (SELECT carehub_icd10_normalise(code) AS n),
    main AS (
        SELECT p.condition_key FROM icd10_condition_prefixes p, c
         WHERE c.n LIKE p.prefix || '%'
         ORDER BY length(p.prefix) DESC LIMIT 1
    ),
    implied AS (
        SELECT i.implied_key FROM icd10_condition_implications i, c WHERE c.n LIKE i.prefix || '%'
    )
    SELECT coalesce(array_agg(DISTINCT k ORDER BY k), '{}')
      FROM (SELECT condition_key AS k FROM main UNION SELECT implied_key FROM implied) keys
$$;

-- A patient's diagnoses. condition_keys is derived from the code by the trigger below (never
-- written by callers); an empty array means the code is not in the chronic-condition table.
CREATE TABLE patient_conditions (
    id              uuid PRIMARY KEY,
    practice_id     uuid NOT NULL,
    patient_id      uuid NOT NULL,
    icd10_code      text NOT NULL CHECK (icd10_code ~ '^[A-Z][0-9][0-9A-Z](\.?[0-9A-Z]{1,4})?$'),
    condition_keys  text[] NOT NULL DEFAULT '{}',
    description     text CHECK (length(description) <= 300),
    -- The clinician attests the condition is expected to last at least 12 months (CCM).
    chronic         boolean NOT NULL,
    onset_on        date,
    resolved_on     date,
    recorded_by     uuid,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (resolved_on IS NULL OR onset_on IS NULL OR resolved_on >= onset_on),
    FOREIGN KEY (practice_id, patient_id) REFERENCES patients (practice_id, id),
    FOREIGN KEY (practice_id, recorded_by) REFERENCES users (practice_id, id),
    UNIQUE (patient_id, icd10_code)
);
CREATE INDEX patient_conditions_keys ON patient_conditions USING gin (condition_keys);

CREATE FUNCTION carehub_derive_condition_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.condition_keys := carehub_condition_keys(NEW.icd10_code);
    RETURN NEW;
END
$$;
CREATE TRIGGER patient_conditions_keys BEFORE INSERT OR UPDATE OF icd10_code, condition_keys
    ON patient_conditions FOR EACH ROW EXECUTE FUNCTION carehub_derive_condition_keys();
