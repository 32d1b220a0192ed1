"""SAM2's mask decoder for a batch of point prompts on one image, without its per-prompt image traffic.

SAM2's MaskDecoder.predict_masks copies the image embedding and its positional encoding once per
prompt (`repeat_interleave`) and then, in the first two-way block, projects those identical copies
per prompt: the keys and values of the token-to-image attention and the queries of the
image-to-token attention depend on the image only. Here (same modules, same weights, same order
of operations per prompt) those run once on the batch-1 tensors and are broadcast as stride-0
views into the attention; the first per-prompt image-side tensor is the first block's updated
keys. It also skips what the engine never reads: the single-mask output token's mask (multimask
output keeps tokens 1-3) and the object-score head. `cast_inputs` casts the image embedding, its
positional encoding and the high-resolution features once per frame to the autocast dtype (bf16 on
CUDA), so autocast does not cast them per op and the upscaling's additions stay in bf16.

Outputs equal SAM2's eager forward to fp32 rounding (test_sam2_decoder.py); benchmarks/
decoder_traffic.py estimates the bytes each lever saves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F


# SAM2's modules (SAM2Base, MaskDecoder, TwoWayTransformer, ...) come from the untyped sam2 package and are
# reached through nn.Module's attribute lookup, which torch types as Tensor | Module: to mypy they are Any.
Sam2Module = Any


@dataclass(frozen=True)
class DecoderLevers:
    """Which savings to apply (all on in the engine; the benchmark switches them one by one)."""

    broadcast_image: bool = True  # no per-prompt copy of the image; block 1's image side computed once
    used_outputs_only: bool = True  # only the 3 multimask masks and IoUs


@dataclass(frozen=True)
class ImageInputs:
    """The per-frame decoder inputs, cast once."""

    embedding: torch.Tensor  # [1,C,h,w]
    positional: torch.Tensor  # [1,C,h,w]
    high_res: tuple[torch.Tensor, ...]  # SAM2's stride-4 and stride-8 features


def cast_inputs(embedding: torch.Tensor, positional: torch.Tensor, high_res: Sequence[torch.Tensor],
                dtype: Optional[torch.dtype]) -> ImageInputs:
    """The frame's decoder inputs in `dtype` (None or float32: unchanged), cast once for every batch."""
    cast = (lambda t: t) if dtype in (None, torch.float32) else (lambda t: t.to(dtype))
    return ImageInputs(cast(embedding), cast(positional), tuple(cast(t) for t in high_res))


def decode_masks(decoder: Sam2Module, image: ImageInputs, sparse: torch.Tensor, dense: torch.Tensor,
                 levers: DecoderLevers = DecoderLevers()) -> tuple[torch.Tensor, torch.Tensor]:
    """Multimask low-res logits [B,3,h',w'] and predicted IoUs [B,3] of B point prompts on one image.

    `sparse` [B,T,C] and `dense` are the prompt encoder's outputs for points only (no mask input,
    so `dense` is the same no-mask embedding for every prompt).
    """
    if decoder.training:
        raise RuntimeError("decode_masks is the inference path: put the SAM2 model in eval mode")
    start = 1 if decoder.pred_obj_scores else 0
    parts = [decoder.obj_score_token.weight] if decoder.pred_obj_scores else []
    output_tokens = torch.cat(parts + [decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    tokens = torch.cat((output_tokens.unsqueeze(0).expand(sparse.shape[0], -1, -1), sparse), dim=1)
    batch = tokens.shape[0]
    shared_dense = dense.shape[0] == 1 or dense.stride(0) == 0
    if levers.broadcast_image and shared_dense:
        hs, keys = _transformer_broadcast(decoder.transformer, image.embedding + dense[:1], image.positional, tokens)
    else:  # SAM2's own path: one copy of the image per prompt
        src = torch.repeat_interleave(image.embedding, batch, dim=0) + dense
        hs, keys = decoder.transformer(src, torch.repeat_interleave(image.positional, batch, dim=0), tokens)
    first = start + 2 if levers.used_outputs_only else start + 1  # mask token 0 is the single-mask output
    mask_tokens_out = hs[:, first:start + 1 + decoder.num_mask_tokens, :]
    _, channels, height, width = image.embedding.shape
    upscaled = _upscale(decoder, keys.transpose(1, 2).reshape(batch, channels, height, width), image.high_res)
    mlps = decoder.output_hypernetworks_mlps[first - start - 1:]
    hyper_in = torch.stack([mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(mlps)], dim=1)
    b, c, h, w = upscaled.shape
    masks = (hyper_in @ upscaled.view(b, c, h * w)).view(b, -1, h, w)
    iou = decoder.iou_prediction_head(hs[:, start, :])
    if not levers.used_outputs_only:
        masks = masks[:, 1:]
    return masks, iou[:, 1:]


def sam2_decode(decoder: Sam2Module, image: ImageInputs, sparse: torch.Tensor,
                dense: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM2's own MaskDecoder.forward, as the engine called it before the levers: the reference
    decode_masks is tested (test_sam2_decoder.py) and benchmarked (benchmarks/decoder_traffic.py) against."""
    masks, iou, _, _ = decoder(image_embeddings=image.embedding, image_pe=image.positional,
                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                               multimask_output=True, repeat_image=True, high_res_features=list(image.high_res))
    return masks, iou


def _upscale(decoder: Sam2Module, src: torch.Tensor, high_res: Sequence[torch.Tensor]) -> torch.Tensor:
    """SAM2's output upscaling, with the high-resolution features added (broadcast over prompts)."""
    if not decoder.use_high_res_features:
        return decoder.output_upscaling(src)
    dc1, ln1, act1, dc2, act2 = decoder.output_upscaling
    feat_s0, feat_s1 = high_res
    upscaled = act1(ln1(dc1(src) + feat_s1))
    return act2(dc2(upscaled) + feat_s0)


def _transformer_broadcast(transformer: Sam2Module, src: torch.Tensor, positional: torch.Tensor,
                           tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TwoWayTransformer.forward for one image [1,C,h,w] and B prompts' tokens, image side not repeated."""
    keys = src.flatten(2).permute(0, 2, 1)  # [1,HW,C]
    key_pe = positional.flatten(2).permute(0, 2, 1)
    first, *rest = transformer.layers
    queries, keys = _first_block(first, tokens, keys, tokens, key_pe)
    for layer in rest:  # keys are per prompt from here on; key_pe broadcasts in SAM2's own additions
        queries, keys = layer(queries=queries, keys=keys, query_pe=tokens, key_pe=key_pe)
    attn_out = transformer.final_attn_token_to_image(q=queries + tokens, k=keys + key_pe, v=keys)
    return transformer.norm_final_attn(queries + attn_out), keys


def _first_block(block: Sam2Module, queries: torch.Tensor, keys: torch.Tensor, query_pe: torch.Tensor,
                 key_pe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """TwoWayAttentionBlock.forward with image-only keys [1,HW,C]: their projections run once."""
    batch = queries.shape[0]
    if block.skip_first_layer_pe:
        queries = block.self_attn(q=queries, k=queries, v=queries)
    else:
        q = queries + query_pe
        queries = queries + block.self_attn(q=q, k=q, v=queries)
    queries = block.norm1(queries)
    image_keys = keys + key_pe  # [1,HW,C]: the same for every prompt
    to_image = block.cross_attn_token_to_image
    attn_out = _attend(to_image, to_image.q_proj(queries + query_pe), to_image.k_proj(image_keys),
                       to_image.v_proj(keys), batch)
    queries = block.norm2(queries + attn_out)
    queries = block.norm3(queries + block.mlp(queries))
    q = queries + query_pe
    to_token = block.cross_attn_image_to_token
    attn_out = _attend(to_token, to_token.q_proj(image_keys), to_token.k_proj(q), to_token.v_proj(queries), batch)
    return queries, block.norm4(keys + attn_out)


def _attend(attention: Sam2Module, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, batch: int) -> torch.Tensor:
    """SAM2 Attention.forward after its input projections; batch-1 operands broadcast as views."""
    heads = [attention._separate_heads(x, attention.num_heads).expand(batch, -1, -1, -1) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*heads)
    return attention.out_proj(attention._recombine_heads(out))
