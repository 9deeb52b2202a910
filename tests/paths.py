"""Where the tests find the repository and their fixtures, wherever the test file sits."""
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
