"""Order validation: Great Expectations suites, holds with reasons, and ops decisions."""
