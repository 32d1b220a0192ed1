"""Global-patch removal (DESIGN.md 1.4): drop tokens that look like every region at once.

Some ViT tokens carry image-global information and are about equally similar to the tokens of
every region; pooling them blurs region tokens towards the image mean. With F the
L2-normalised token features and B the binary region masks, P = F F^T B^T / |r| is the mean
similarity of token i to region r. The N x N similarity matrix is never formed: P is computed
as F (B F)^T / |r|, which is the same product associated differently, O(N C R) time and
O(N R) memory, so a 100 x 100 token grid costs megabytes rather than 400 MB.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

EPSILON = 1e-9


def mean_region_similarity(features: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """P [N,R]: mean cosine similarity of each token to the tokens of each region."""
    unit = F.normalize(features.float(), dim=-1)
    region_sums = inside @ unit  # [R,C]: sum of the unit features inside each region
    sizes = inside.sum(dim=1).clamp_min(1.0)
    return (unit @ region_sums.T) / sizes


def global_token_mask(features: torch.Tensor, weights: torch.Tensor, threshold: float) -> torch.Tensor:
    """[N] bool, True for tokens to remove: belong - outside < threshold.

    features [N,C]; weights [R,N] soft region weights (a token belongs to r where weight > 0).
    Rows with no weight are not regions: they count nowhere (so callers pass every row, with no
    compaction and no host sync), and with no region at all nothing is removed.
    """
    inside = (weights > 0).float()
    similarity = mean_region_similarity(features, inside)  # [N,R]; 0 in the columns of empty rows
    inside_t = inside.T  # [N,R]
    regions = inside.amax(dim=1).sum()  # non-empty rows, on the device
    regions_in = inside_t.sum(dim=1)
    regions_out = regions - regions_in
    belong = (similarity * inside_t).sum(dim=1) / (regions_in + EPSILON)
    outside = (similarity * (1.0 - inside_t)).sum(dim=1) / (regions_out + EPSILON)
    return ((belong - outside) < threshold) & (regions > 0)
