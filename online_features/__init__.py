"""Online features: nightly batches published to Redis, looked up by entity key at scoring time.

- :mod:`online_features.layout`: the key layout (the contract every reader and writer follows);
- :mod:`online_features.publish`: writes a partition's rows as a new batch, then moves the pointer;
- :mod:`online_features.lookup`: reads an entity's features (current batch, else the previous one);
- :mod:`online_features.server`: a throwaway ``redis-server`` for tests, benchmarks and the quickstart.

See ``docs/online-features.md``.
"""
