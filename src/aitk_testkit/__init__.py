"""The aitk dev kit's test harness: the real az signed in to the local Azure stand-in with aitk from
the wheel (az_harness), the user's scenario (scenario: fine-tuning's leftovers, the OpenAI client),
tiny random models (tiny_models) and a stdlib stand-in for the launcher (fake_server.py). Used by
tests/cli, tests/e2e, tests/serve, benchmarks/ and scripts/demo.py; `pytest_plugin` gives the
session fixture `aitk_wheel`."""
