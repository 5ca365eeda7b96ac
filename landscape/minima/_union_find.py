"""The one union-find (disjoint sets) of the package: Kruskal's tree, the linkage matrix, the
orbit merge, exact single linkage and the disconnectivity tree all join sets with it."""

from __future__ import annotations

import numpy as np


class UnionFind:
    """Disjoint sets of ``0 .. n - 1``; every set is named by its smallest member.

    >>> uf = UnionFind(4)
    >>> uf.union(3, 1), uf.union(1, 3), uf.find(3)
    (True, False, 1)
    >>> uf.labels().tolist()                      # sets numbered by their smallest member
    [0, 1, 2, 1]
    """

    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, i) -> int:
        """The smallest member of ``i``'s set (paths compressed on the way)."""
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, i, j) -> bool:
        """Join the sets of ``i`` and ``j``; False when they were one set already."""
        a, b = self.find(i), self.find(j)
        if a == b:
            return False
        self.parent[max(a, b)] = min(a, b)
        return True

    def labels(self) -> np.ndarray:
        """``(n,)`` set of each element, numbered ``0, 1, ...`` by smallest member."""
        roots = np.array([self.find(i) for i in range(len(self.parent))], np.int64)
        return np.unique(roots, return_inverse=True)[1].ravel()
