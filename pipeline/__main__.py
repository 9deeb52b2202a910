"""`python -m pipeline`: the entry point, also used by the Flex Template launcher."""
import sys

from pipeline.run import main

if __name__ == "__main__":
    sys.exit(main())
