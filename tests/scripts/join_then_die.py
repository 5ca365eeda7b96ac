"""Join ``jax.distributed`` as ``landscape run`` does, then exit at once (code 9), before the
processes exchange their host names and launch token: a partner that dies in the middle of
the join. Used by ``tests/test_cli_join.py``::

    python tests/scripts/join_then_die.py 127.0.0.1:PORT COUNT INDEX
"""

import os
import sys

if __name__ == "__main__":
    import jax

    address, count, index = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    jax.distributed.initialize(address, count, index, initialization_timeout=120)
    os._exit(9)
