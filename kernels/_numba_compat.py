"""Keep numba-cuda importable on NumPy releases that dropped aliases it still references.

numba-cuda 0.30 calls ``np.row_stack``, which NumPy 2.5 removed (AttributeError when compiling
any kernel). The alias is restored only where it is missing, before ``numba.cuda`` is imported.
"""

import numpy as np

if not hasattr(np, "row_stack"):
    np.row_stack = np.vstack
