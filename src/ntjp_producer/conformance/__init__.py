"""The conformance kit: what a real consumer reads, checked without trusting our own schemas.

``shapes`` describes, as data, each response as Socialstyrelsen's deployed producer answered it
(``../shared/reference/fmb-contracts.md`` and ``rivta-ntjp.md``): element names, namespaces, order,
cardinality and value formats. ``match`` holds an answer against such a description; ``probe``
calls any running producer of these contracts and reports one line per check. The test suite holds
every FMB and PingForConfiguration answer against the same descriptions, so the producer and the
``ntjp-producer check`` command can never disagree about what "conforming" means.
"""
