import pytest

# The given / when / then helper asserts; let pytest show its diffs.
pytest.register_assert_rewrite("tests.unit.scenario")
