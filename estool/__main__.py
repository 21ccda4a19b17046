"""``python -m estool --problem module:function [trainer options]``: run the ES trainer."""

from estool.trainer import main

if __name__ == "__main__":
    raise SystemExit(main())
