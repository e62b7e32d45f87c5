"""The operator's and user's tools around the pipeline: the ``hadath`` command (:mod:`hadath.cli`),
the local Kafka and Elasticsearch (:mod:`hadath.infra`), the services as background processes
(:mod:`hadath.processes`), feeding (:mod:`hadath.feed`), Kafka administration and status
(:mod:`hadath.kafka_admin`), dead-letter replay (:mod:`hadath.replay`) and the isolated
pipelines of tests and benchmarks (:mod:`hadath.sandbox`).

Layering: ``hadath`` may import ``shared`` and ``services``; ``services`` import only ``shared``;
``shared`` imports neither. No service image ships this package.
"""
