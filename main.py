"""The Flex Template's entry file (FLEX_TEMPLATE_PYTHON_PY_FILE): the launcher runs
`python main.py --runner=DataflowRunner ... <template parameters>`, which is the
same as `python -m pipeline` with those flags."""
import sys

from pipeline.run import main

if __name__ == "__main__":
    sys.exit(main())
