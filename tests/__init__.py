"""The test suite, a package: helpers import as ``tests.support...`` with no path edits."""
