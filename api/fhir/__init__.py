"""FHIR R4 export following the HL7 Personal Health Device (PHD) implementation guide 1.1.0
(``reference/rpm-ccm-rules.md`` §D): Patient, Device (sensor and gateway) and Observation resources,
searchset Bundles with paging, and OperationOutcome errors, as ``application/fhir+json``.

``vocabulary`` holds the code tables, ``resources`` the pure mapping from stored rows to resources,
``search`` the parsing of FHIR search parameters and paging cursors, ``repository`` the queries and
``router`` the routes."""
