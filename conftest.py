"""Root conftest: shared pytest plugins. Each support module owns one kind of real test dependency."""

pytest_plugins = [
    "tests.support.engines",
    "tests.support.server",
    "tests.support.fake_git_host",
    "tests.support.gitserver",
    "tests.support.pebble",
    "tests.support.proxy",
]
