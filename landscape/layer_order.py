"""The order of a stack's weight layers from their shapes alone (:mod:`landscape.units` builds
layouts with it): which layer can read which one's units, and the orders in which they all do.
``layers`` are :class:`landscape.units.Layer` entries (their ``unit_axis`` and ``input_axis``),
``shapes`` their weights' shapes."""

from __future__ import annotations


def feeds(prev_shape, prev, shape, layer) -> bool:
    """Whether ``layer`` (weight of ``shape``) reads the units of ``prev`` (``prev_shape``):
    its inputs equal them, or, after a convolution (a weight with spatial axes), are a
    multiple of them (the units flattened with the positions)."""
    units, inputs = prev_shape[prev.unit_axis], shape[layer.input_axis]
    return inputs == units or (len(prev_shape) > 2 and inputs % units == 0)


def chained_orders(layers: list, shapes: list[tuple]) -> list[tuple[int, ...]]:
    """Up to two orders of ``layers`` (weights of ``shapes``) in which each layer reads the
    previous one's units (:func:`feeds`) and every convolution comes before every dense layer:
    depth-first, one try per kind of layer (layers of equal shape and axes are interchangeable,
    so a chain through one of several is two).

    >>> from landscape.units import Layer
    >>> dense = [Layer("a", None, 1, 0), Layer("b", None, 1, 0), Layer("c", None, 1, 0)]
    >>> chained_orders(dense, [(3, 1), (3, 3), (2, 3)])
    [(2, 1, 0)]
    >>> chained_orders(dense, [(3, 1), (3, 3), (3, 3)])  # hidden 3 -> 3 layers in either order
    [(1, 2, 0), (2, 1, 0)]
    """
    kind = [(s, layer.unit_axis, layer.input_axis) for s, layer in zip(shapes, layers)]
    found: list[tuple[int, ...]] = []

    def extend(order: tuple[int, ...], rest: tuple[int, ...]) -> None:
        if not rest:
            found.append(order)
            return
        tried = set()
        for i in rest:
            dense_then_conv = len(shapes[i]) > 2 and any(len(shapes[j]) == 2 for j in order)
            if len(found) >= 2 or kind[i] in tried or dense_then_conv or order and not feeds(
                    shapes[order[-1]], layers[order[-1]], shapes[i], layers[i]):
                continue
            tried.add(kind[i])
            before = len(found)
            extend(order + (i,), tuple(j for j in rest if j != i))
            twin = next((j for j in rest if j != i and kind[j] == kind[i]), None)
            if len(found) > before and twin is not None and len(found) < 2:
                swap = {i: twin, twin: i}
                found.append(tuple(swap.get(j, j) for j in found[before]))

    extend((), tuple(range(len(layers))))
    return found
