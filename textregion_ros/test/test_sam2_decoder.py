"""The SAM2 decoder with its traffic levers (engine/sam2_decoder.py) gives SAM2's own outputs.

Reference: SAM2's own prompt encoder + MaskDecoder.forward (repeat_image=True, multimask), the
real SAM2.1-T class with random weights loaded by the fixtures' checkpoint code, on one encoded
image at sam2_image_size 256. Batches: one prompt, a partial last batch (5) and a full padded
batch (8, the size compilation pads every batch to). Tolerances:
  fp32: masks and IoUs within FP32_ATOL (the levers only reorder broadcasts; measured ~1e-6),
  bf16: masks within BF16_SCALE_TOL x the largest |logit| of SAM2 under the same bf16 autocast and
        IoUs within BF16_IOU_ATOL (bf16 keeps ~3 significant digits and the levers round the image
        inputs once instead of per op; measured on this CPU: 2 % of the logits' range, 0.004 IoU).
CUDA cases skip where torch sees no GPU.
"""
from __future__ import annotations

import pytest
import torch

from engine_fixtures import photo_like, small_config
from textregion_ros.engine.model_image import image_to_float
from textregion_ros.engine.op_traffic import OpTraffic, addressed_bytes
from textregion_ros.engine.precision import autocast, dtype_problem
from textregion_ros.engine.sam2_decoder import DecoderLevers, ImageInputs, cast_inputs, decode_masks, sam2_decode
from textregion_ros.engine.sam2_masks import Sam2MaskGenerator

FP32_ATOL = 1e-5
BF16_SCALE_TOL = 0.04  # random weights give logits of |x| < 0.5, so the bound is relative to their range
BF16_IOU_ATOL = 0.01  # IoUs ~0.55: bf16's step there is 0.002
BATCHES = {"one prompt": 1, "partial last batch": 5, "full padded batch": 8}
EVERY_LEVER_ALONE = {"none": DecoderLevers(False, False), "broadcast image only": DecoderLevers(True, False),
                     "used outputs only": DecoderLevers(False, True), "all": DecoderLevers(True, True)}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def encoded(model: torch.nn.Module, device: torch.device, dtype: torch.dtype = torch.float32):
    """(generator, fp32 ImageInputs) of one photo-like frame."""
    model = model.to(device)
    generator = Sam2MaskGenerator(model, small_config(points_per_side=3, device=str(device)), dtype)
    with torch.no_grad():
        features = generator.encode(image_to_float(torch.as_tensor(photo_like(96, 128), device=device)))
        image = ImageInputs(features["image_embed"], model.sam_prompt_encoder.get_dense_pe(),
                            tuple(features["high_res_feats"]))
    return generator, image


def prompts(model: torch.nn.Module, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse and dense prompt embeddings of `batch` distinct single points."""
    size = float(model.image_size)
    coords = torch.stack([torch.linspace(0.1, 0.9, batch) * size, torch.linspace(0.8, 0.2, batch) * size], dim=1)
    coords = coords[:, None, :].to(device)
    labels = torch.ones(coords.shape[:2], dtype=torch.int, device=device)
    return model.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)


@pytest.fixture(scope="module")
def frame(sam2_tiny):
    return encoded(sam2_tiny, torch.device("cpu"))


def decode_both(model, image, batch, levers=DecoderLevers(), dtype=torch.float32):
    device = image.embedding.device
    with torch.no_grad(), autocast(device, dtype):
        sparse, dense = prompts(model, batch, device)
        reference = sam2_decode(model.sam_mask_decoder, image, sparse, dense)
        lean = decode_masks(model.sam_mask_decoder, cast_inputs(image.embedding, image.positional, image.high_res,
                                                                dtype), sparse, dense, levers)
    return reference, lean


def assert_close(reference, lean, atol, iou_atol):
    (ref_masks, ref_iou), (masks, iou) = reference, lean
    assert masks.shape == ref_masks.shape and iou.shape == ref_iou.shape
    assert (masks.float() - ref_masks.float()).abs().max().item() <= atol
    assert (iou.float() - ref_iou.float()).abs().max().item() <= iou_atol


def bf16_mask_tolerance(reference: tuple[torch.Tensor, torch.Tensor]) -> float:
    return BF16_SCALE_TOL * reference[0].float().abs().max().item()


@pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
def test_all_levers_give_sam2s_masks_and_ious_in_fp32(sam2_tiny, frame, batch):
    reference, lean = decode_both(sam2_tiny, frame[1], batch)
    assert lean[0].shape[:2] == (batch, 3)
    assert_close(reference, lean, FP32_ATOL, FP32_ATOL)


@pytest.mark.parametrize("levers", EVERY_LEVER_ALONE.values(), ids=EVERY_LEVER_ALONE.keys())
def test_each_lever_on_its_own_gives_sam2s_outputs(sam2_tiny, frame, levers):
    reference, lean = decode_both(sam2_tiny, frame[1], BATCHES["partial last batch"], levers)
    assert_close(reference, lean, FP32_ATOL, FP32_ATOL)


def test_the_levers_keep_every_prompt_its_own_masks(sam2_tiny, frame):
    """A lever that mixed prompts up (e.g. broadcast the wrong operand) would give prompt 0's masks to all."""
    _, (masks, _) = decode_both(sam2_tiny, frame[1], BATCHES["partial last batch"])
    assert (masks[1:] - masks[:1]).abs().amax(dim=(1, 2, 3)).min().item() > 100 * FP32_ATOL


def test_a_per_prompt_dense_embedding_takes_sam2s_own_path_and_matches(sam2_tiny, frame):
    """Mask inputs make `dense` differ per prompt: the image cannot be shared, the result must still be SAM2's."""
    image = frame[1]
    with torch.no_grad():
        sparse, dense = prompts(sam2_tiny, 3, image.embedding.device)
        dense = dense + torch.randn(dense.shape, generator=torch.Generator().manual_seed(0))
        reference = sam2_decode(sam2_tiny.sam_mask_decoder, image, sparse, dense)
        lean = decode_masks(sam2_tiny.sam_mask_decoder, image, sparse, dense)
    assert_close(reference, lean, FP32_ATOL, FP32_ATOL)


def test_decoding_in_training_mode_is_refused(sam2_tiny, frame):
    decoder = sam2_tiny.sam_mask_decoder
    sparse, dense = prompts(sam2_tiny, 1, frame[1].embedding.device)
    decoder.train()
    try:
        with pytest.raises(RuntimeError, match="eval mode"):
            decode_masks(decoder, frame[1], sparse, dense)
    finally:
        decoder.eval()


def per_prompt_bytes(model, image, levers) -> float:
    """Bytes the decoder moves per extra prompt (OpTraffic's estimate at batches 2 and 6)."""
    moved = []
    for batch in (2, 6):
        with torch.no_grad():
            sparse, dense = prompts(model, batch, image.embedding.device)
            with OpTraffic(model.sam_mask_decoder) as traffic:
                decode_masks(model.sam_mask_decoder, image, sparse, dense, levers)
        moved.append(traffic.result.total_bytes)
    return (moved[1] - moved[0]) / 4


def test_broadcasting_the_image_saves_at_least_the_per_prompt_image_copies(sam2_tiny, frame):
    image = frame[1]
    copies = addressed_bytes(image.embedding) + addressed_bytes(image.positional)  # SAM2 repeats both per prompt
    saved = (per_prompt_bytes(sam2_tiny, image, DecoderLevers(False, True))
             - per_prompt_bytes(sam2_tiny, image, DecoderLevers(True, True)))
    assert saved >= copies


def test_keeping_only_the_used_outputs_saves_the_unused_mask_per_prompt(sam2_tiny, frame):
    image = frame[1]
    low_res = 4 * image.embedding.shape[-1] * image.embedding.shape[-2] * 4  # one fp32 mask at 4x the embedding
    saved = (per_prompt_bytes(sam2_tiny, image, DecoderLevers(True, False))
             - per_prompt_bytes(sam2_tiny, image, DecoderLevers(True, True)))
    assert saved >= low_res


def test_the_generator_decodes_with_the_levers_and_casts_the_image_once(sam2_tiny, frame, monkeypatch):
    """Sam2MaskGenerator.decode: one cast of the image inputs per frame, however many point batches."""
    import textregion_ros.engine.sam2_masks as sam2_masks

    generator = Sam2MaskGenerator(sam2_tiny, small_config(points_per_side=3, points_per_batch=4))
    with torch.no_grad():
        features = generator.encode(image_to_float(torch.as_tensor(photo_like(96, 128))))
    casts, batches = [], []
    monkeypatch.setattr(sam2_masks, "cast_inputs", lambda *a: casts.append(1) or cast_inputs(*a))
    monkeypatch.setattr(sam2_masks, "decode_masks", lambda *a: batches.append(1) or decode_masks(*a))
    proposals = generator.decode(features)
    assert (len(casts), len(batches)) == (1, 3)  # 9 points in batches of 4, 4, 1
    assert proposals.candidates == 27


def test_the_generator_gives_the_proposals_sam2s_own_decoder_gives(sam2_tiny, monkeypatch):
    import textregion_ros.engine.sam2_masks as sam2_masks

    generator = Sam2MaskGenerator(sam2_tiny, small_config(points_per_side=3, points_per_batch=4))
    with torch.no_grad():
        features = generator.encode(image_to_float(torch.as_tensor(photo_like(96, 128))))
    lean = generator.decode(features)
    monkeypatch.setattr(sam2_masks, "decode_masks", lambda decoder, image, sparse, dense: sam2_decode(
        decoder, image, sparse, dense))
    reference = generator.decode(features)
    assert len(lean) == len(reference) > 0
    assert (lean.logits.float() - reference.logits.float()).abs().max().item() <= 1e-2  # stored as fp16
    assert torch.allclose(lean.iou, reference.iou, atol=FP32_ATOL)


@pytest.mark.skipif(dtype_problem(torch.bfloat16, torch.device("cpu")) is not None,
                    reason="this CPU's torch cannot autocast to bf16")
@pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
def test_all_levers_in_bf16_stay_within_the_bf16_tolerance_of_sam2_in_bf16(sam2_tiny, frame, batch):
    reference, lean = decode_both(sam2_tiny, frame[1], batch, dtype=torch.bfloat16)
    assert_close(reference, lean, bf16_mask_tolerance(reference), BF16_IOU_ATOL)


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_all_levers_give_sam2s_outputs_on_cuda(sam2_tiny, dtype):
    import copy

    model = copy.deepcopy(sam2_tiny)
    _, image = encoded(model, torch.device("cuda"))
    reference, lean = decode_both(model, image, BATCHES["full padded batch"], dtype=dtype)
    if dtype == torch.float32:  # CUDA's SDPA and matmul kernels may use TF32 and other reduction orders
        assert_close(reference, lean, 1e-3, 1e-3)
    else:
        assert_close(reference, lean, bf16_mask_tolerance(reference), BF16_IOU_ATOL)


def test_the_compiled_decoder_stage_traces_the_levers_not_sam2s_per_prompt_copy(sam2_tiny, frame):
    """What torch.compile captures for the decoder stage (the graph, via a recording backend) has no
    repeat_interleave of the image: the levers are inside what gets compiled, not only in eager."""
    from textregion_ros.engine.compilation import CompiledStage
    from textregion_ros.engine.sam2_masks import Sam2Forwards

    graphs: list[torch.fx.GraphModule] = []

    def record(graph: torch.fx.GraphModule, _inputs):
        graphs.append(graph)
        return graph.forward

    torch._dynamo.reset()
    stage = CompiledStage("sam2_decoder", Sam2Forwards.eager(sam2_tiny).decoder, True, backend=record)
    image = frame[1]
    coords = torch.tensor([[[10.0, 20.0]], [[100.0, 50.0]], [[200.0, 220.0]]])
    labels = torch.ones(coords.shape[:2], dtype=torch.int)
    with torch.no_grad():
        masks, iou = stage(coords, labels, image.embedding, image.positional, list(image.high_res))
        sparse, dense = sam2_tiny.sam_prompt_encoder(points=(coords, labels), boxes=None, masks=None)
        reference = sam2_decode(sam2_tiny.sam_mask_decoder, image, sparse, dense)
    assert stage.report.failure is None and graphs
    targets = " ".join(str(node.target) for graph in graphs for node in graph.graph.nodes)
    assert "repeat_interleave" not in targets
    assert_close(reference, (masks, iou), FP32_ATOL, FP32_ATOL)
