"""PyTorch models written the way their authors write them, for `amdcgan import` tests; none comes from amdcgan."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet(nn.Module):
    """LeNet-5 in torchvision style (features, then classifier) for 28x28 digits: the first convolution pads by 2."""

    def __init__(self, num_classes: int = 10, pool: type[nn.Module] = nn.AvgPool2d):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Tanh(), pool(2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Tanh(), pool(2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, num_classes),
        )
        self.input_shape = (1, 28, 28)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def lenet_discriminator() -> LeNet:
    return LeNet(num_classes=1)


def lenet_max_pool() -> LeNet:
    return LeNet(num_classes=1, pool=nn.MaxPool2d)


class MLP(nn.Module):
    """Three fully connected layers, functional activations and dropout."""

    def __init__(self, sizes: tuple[int, ...], out_activation=None):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out_activation = out_activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc1(x.view(x.size(0), -1)))
        x = F.dropout(F.relu(self.fc2(x)), 0.25, self.training)
        x = self.fc3(x)
        return self.out_activation(x) if self.out_activation is not None else x


class MLPGan(nn.Module):
    """A vanilla GAN of two 3-layer MLPs on 14x14 images."""

    def __init__(self):
        super().__init__()
        self.generator = MLP((16, 32, 64, 196), torch.tanh)
        self.discriminator = MLP((196, 32, 16, 1))


class DCGAN32Generator(nn.Module):
    """The PyTorch DCGAN example's generator shape, for 32x32x3 images (noise as nz x 1 x 1)."""

    def __init__(self, nz: int = 16, ngf: int = 4):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class DCGAN32Discriminator(nn.Module):
    """DCGAN discriminator for 32x32x3 with the activations a crossbar periphery has (ReLU, no sigmoid)."""

    def __init__(self, ndf: int = 4, activation: type[nn.Module] = nn.ReLU, sigmoid: bool = False):
        super().__init__()
        layers = [nn.Conv2d(3, ndf, 4, 2, 1, bias=False), activation(),
                  nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), activation(),
                  nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), activation(),
                  nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers, *([nn.Sigmoid()] if sigmoid else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1, 1).squeeze(1)


class DCGAN32(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = DCGAN32Generator()
        self.discriminator = DCGAN32Discriminator()
        self.generator.input_shape = (16, 1, 1)


class DCGAN32Original(DCGAN32):
    """The example's own discriminator: LeakyReLU(0.2) and a sigmoid, neither of which has a circuit here."""

    def __init__(self):
        super().__init__()
        self.discriminator = DCGAN32Discriminator(activation=lambda: nn.LeakyReLU(0.2), sigmoid=True)


class Odd(nn.Module):
    """Convolutions with features a crossbar does not map, and a residual connection."""

    def __init__(self):
        super().__init__()
        self.grouped = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.dilated = nn.Conv2d(4, 4, 3, padding=2, dilation=2)
        self.wide = nn.Conv2d(4, 4, (3, 5))
        self.input_shape = (4, 8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dilated(self.grouped(x)) + x
        return self.wide(x)


class Attention(nn.Module):
    """A linear layer, self-attention over its features, and a sigmoid."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.attention = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 1)
        self.input_shape = (8,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).unsqueeze(1)
        x, _ = self.attention(x, x, x)
        return torch.sigmoid(self.head(x.squeeze(1)))
