"""Root conftest: shared pytest plugins. Each support module owns one kind of real test dependency."""

pytest_plugins = [
    # The runtime contract suite, enabled the way a third-party runtime package enables it.
    "rivetr_core.testing.contract",
    "tests.support.engines",
    "tests.support.server",
    # in-process apps start from a copy of one migrated database instead of migrating each time
    "tests.support.schema_template",
    # werkzeug's URL builders compiled once per process, not once per in-process app
    "tests.support.route_builders",
    # a private PostgreSQL cluster (postgres_server; RIVETR_TEST_DATABASE=postgres switches in-process apps to it)
    "tests.support.postgres",
    "tests.support.fake_git_host",
    # proxy before gitserver, which imports it: a plugin imported first cannot get pytest's assert rewriting.
    "tests.support.proxy",
    "tests.support.gitserver",
    "tests.support.pebble",
    # moto's S3 server for the backup worker and destination tests
    "tests.support.s3",
    # which tests share a worker under pytest-xdist (engine tests together, other modules whole)
    "tests.support.workers",
    # which tests CI runs a second time on PostgreSQL (the db marker)
    "tests.support.db_marks",
]
