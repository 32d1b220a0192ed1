"""Segmented statistics: per-segment sorts, quantiles and MADs of many runs of values in one pass.

A frame's points are (segment, value) pairs: a segment is a mask (or a mask and an axis). Sorting
each segment's values is ONE int64 sort of the key (segment << 32) | order-preserving bits of the
float32 value: exact (no value is rounded into a combined float key), and the segments come out
contiguous, in segment order. A segment's run starts at the cumulative count of the segments
before it, so a quantile is two gathers, at start + floor(h) and start + floor(h) + 1.

Quantiles are numpy's default 'linear' method (type 7): for n sorted values v_0..v_{n-1} and level
q, h = (n - 1) q, value = lerp(v_floor(h), v_floor(h)+1, h - floor(h)), with numpy's own lerp
(a + (b - a) t for t < 0.5, b - (b - a)(1 - t) otherwise), in float64. The median is the 0.5
quantile (which can differ from np.median, a mean of the two middle values, in the last bit).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

_SEGMENT_SHIFT = 32
_SIGN_FLIP = 0x7FFFFFFF
_BIAS = 1 << 31


def ordered_bits(values: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 in [0, 2^32) with the same order as the floats (NaN-free input).

    Non-negative floats already order like their bit patterns; negative ones order backwards,
    so their magnitude bits are flipped.
    """
    bits = values.contiguous().view(torch.int32)
    bits = bits ^ ((bits >> 31) & _SIGN_FLIP)  # arithmetic shift: all ones for negatives, else 0
    return bits.to(torch.int64).add_(_BIAS)


def segment_keys(values: torch.Tensor, segments: torch.Tensor) -> torch.Tensor:
    """int64 keys ordering by (segment, value) exactly (segments in [0, 2^31), float32 values)."""
    return ordered_bits(values).add_(segments.to(torch.int64) << _SEGMENT_SHIFT)


def segment_sort(values: torch.Tensor, segments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(values sorted by (segment, value), their sorted keys): one int64 sort for all segments."""
    keys, order = torch.sort(segment_keys(values, segments))
    return values[order], keys


def segment_starts(counts: torch.Tensor) -> torch.Tensor:
    """Where each segment starts in the segment-major order: the counts of the segments before it."""
    return torch.cumsum(counts, 0) - counts


def segment_quantiles(sorted_values: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
                      levels: Sequence[float]) -> torch.Tensor:
    """[S, Q] float64 'linear' quantiles (numpy's default) of each run sorted_values[start:start+count].

    Empty runs give NaN.
    """
    q = torch.tensor(levels, dtype=torch.float64).to(sorted_values.device, non_blocking=True)  # no host wait
    if sorted_values.shape[0] == 0:
        return torch.full((counts.shape[0], q.shape[0]), float("nan"), dtype=torch.float64, device=q.device)
    position = (counts.to(torch.float64)[:, None] - 1.0) * q[None, :]
    lower = torch.floor(position)
    fraction = position - lower
    lower_index = lower.to(torch.int64).clamp_(min=0)
    upper_index = torch.minimum(lower_index + 1, (counts[:, None] - 1).clamp(min=0))
    last = int(sorted_values.shape[0]) - 1
    a = sorted_values[(starts[:, None] + lower_index).clamp_(max=last)].to(torch.float64)
    b = sorted_values[(starts[:, None] + upper_index).clamp_(max=last)].to(torch.float64)
    difference = b - a
    value = torch.where(fraction >= 0.5, b - difference * (1.0 - fraction), a + difference * fraction)
    return torch.where(counts[:, None] > 0, value, torch.full_like(value, float("nan")))


def segment_median_deviation(sorted_values: torch.Tensor, starts: torch.Tensor, counts: torch.Tensor,
                             median: torch.Tensor) -> torch.Tensor:
    """[S] float64 median of |v - median| over each run sorted_values[start:start+count] (the MAD),
    given the run's own median (the 0.5 'linear' quantile); NaN for empty runs. No sort needed.

    The median lies between the run's values floor(n/2) - 1 and floor(n/2), so the deviations are
    two ascending sequences: A_i = median - v[floor(n/2) - 1 - i] leftwards and
    B_j = v[floor(n/2) + j] - median rightwards. Their k-th smallest (k = (n - 1) // 2) is found
    for all runs at once by bisecting how many of the k + 1 smallest come from A (the classic
    k-th of two sorted arrays): bit_length(total) steps over S-element tensors instead of a sort
    of every deviation. The next smallest, for even n, is the smaller of the two next candidates.
    """
    device = sorted_values.device
    total = int(sorted_values.shape[0])
    if total == 0:
        return torch.full(counts.shape, float("nan"), dtype=torch.float64, device=device)
    split = counts // 2
    left, right = split, counts - split  # lengths of A and B
    k = torch.clamp((counts - 1) // 2, min=0)
    last = total - 1

    def from_left(i: torch.Tensor) -> torch.Tensor:
        return median - sorted_values[(starts + split - 1 - i).clamp_(0, last)].to(torch.float64)

    def from_right(j: torch.Tensor) -> torch.Tensor:
        return sorted_values[(starts + split + j).clamp_(0, last)].to(torch.float64) - median

    low = torch.clamp(k + 1 - right, min=0)  # fewest of the k + 1 smallest that can come from A
    high = torch.minimum(k + 1, left)  # most that can
    for _ in range(total.bit_length() + 1):  # bisection steps: log2 of the longest run, not a loop over data
        active = low < high
        middle = torch.div(low + high, 2, rounding_mode="floor")
        take_more = active & (from_right(k - middle) > from_left(middle))  # B's last taken > A's first left
        low = torch.where(take_more, middle + 1, low)
        high = torch.where(active & ~take_more, middle, high)
    taken_left, taken_right = low, k + 1 - low
    inf = torch.full((), math.inf, dtype=torch.float64, device=device)  # made there: no upload
    kth = torch.maximum(torch.where(taken_left > 0, from_left(taken_left - 1), -inf),
                        torch.where(taken_right > 0, from_right(taken_right - 1), -inf))
    following = torch.minimum(torch.where(taken_left < left, from_left(taken_left), inf),
                              torch.where(taken_right < right, from_right(taken_right), inf))
    mad = torch.where(counts % 2 == 0, following - (following - kth) * 0.5, kth)  # numpy's lerp at t = 0.5
    return torch.where(counts > 0, mad, torch.full_like(mad, float("nan")))
