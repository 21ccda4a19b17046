"""Episode seeds, chosen so that test episodes never replay a training episode.

Episode i of a run seeded s plays on the environment seed ``episode_seed(s, i)``. Test episodes
(model.py, the demo) are the runs ``TEST_SEED_BASE + SEED``; train.py's evaluations are the runs
0..popsize-1, and its training seeds are drawn at random below 2**31 from another stream.
"""

from __future__ import annotations

import numpy as np

TEST_SEED_BASE = 1_000_000


def episode_seed(seed: int, index: int) -> int:
    """A well-mixed 31-bit environment seed (an int in [0, 2**31)) for episode `index` of a run
    seeded `seed`."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)
