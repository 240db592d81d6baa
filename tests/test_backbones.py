"""Backbones: the ResNets of the literature, torchvision and timm architectures by name, and pretrained
weights the user has; every one split into ``features`` and a linear ``head``."""
import pytest
import torch

import lifelong as ll
from lifelong.cli import main
from lifelong.config import ConfigError
from lifelong.models import build_model, load_weights
from lifelong.scenarios import build_stream, from_arrays

from conftest import fast


@pytest.mark.parametrize("name, millions, width", [("resnet18", 11.17, 512), ("reduced-resnet18", 1.09, 160),
                                                   ("resnet32", 0.46, 64)])
def test_the_resnets_have_their_papers_sizes(name, millions, width):
    """On CIFAR-10: 11.17M parameters for Mammoth's ResNet-18, 1.09M for GEM's reduced one, 0.46M for
    ResNet-32 (He et al. 2016, Table 6)."""
    net = build_model(name, (3, 32, 32), 10)
    assert round(sum(p.numel() for p in net.parameters()) / 1e6, 2) == millions
    assert net.embedding_dim == width and net.head.in_features == width
    assert net.features(torch.zeros(2, 3, 32, 32)).shape == (2, width)


def test_a_strategy_learns_with_a_resnet_and_its_batchnorm():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(120, 3, 8, 8, generator=g), torch.arange(120) % 4
    x[y % 2 == 1, 0] += 2.0  # a class signal in the red channel
    stream = build_stream({"builder": "split", "n_tasks": 2, "setting": "task-incremental"},
                          data=from_arrays(x, y, x[:40], y[:40], name="toy"), seed=0)
    strategy = dict(model="resnet32", model_args={"width": 4}, epochs=3, lr=0.01)
    result = ll.run(fast("replay", **strategy), stream, seed=0)
    assert min(result.accuracy_matrix[-1]) > 0.9  # evaluated in eval mode, on the running statistics
    assert ll.run(fast("replay", **strategy), stream, seed=0).accuracy_matrix == result.accuracy_matrix


@pytest.mark.parametrize("name", ["torchvision:resnet18", "timm:resnet18"])
def test_a_librarys_architecture_by_name_is_split_into_features_and_head(name):
    net = build_model(name, (3, 32, 32), 7)
    assert isinstance(net.head, torch.nn.Linear) and net.head.out_features == 7
    emb = net.features(torch.zeros(2, 3, 32, 32))
    assert emb.shape == (2, net.embedding_dim) == (2, 512)
    assert not any(isinstance(m, torch.nn.Linear) for m in net.features.modules())  # the classifier is the head


def test_a_librarys_architecture_that_does_not_fit_is_one_line():
    with pytest.raises(ConfigError, match=r"model: cannot be built for inputs of shape \(1, 28, 28\).*3 channels"):
        build_model("torchvision:resnet18", (1, 28, 28), 10)  # torchvision's stem takes 3 channels
    assert build_model("timm:resnet18", (1, 28, 28), 10).embedding_dim == 512  # timm's takes in_chans
    with pytest.raises(ConfigError, match="not an architecture torchvision knows"):
        build_model("torchvision:resnet_19", (3, 32, 32), 10)
    with pytest.raises(ConfigError, match="model_args"):
        build_model("torchvision:resnet18", (3, 32, 32), 10, depth=3)


def test_pretrained_weights_of_the_backbone_or_the_whole_network(tmp_path):
    import torchvision

    pretrained = torchvision.models.resnet18(num_classes=1000)  # a checkpoint with its own classifier
    torch.save(pretrained.state_dict(), tmp_path / "backbone.pt")
    strategy = fast("naive", model="torchvision:resnet18", weights=str(tmp_path / "backbone.pt"))
    net = build_model("torchvision:resnet18", (3, 32, 32), 10)
    load_weights(net, str(tmp_path / "backbone.pt"))
    assert torch.equal(net.features.conv1.weight, pretrained.conv1.weight)
    assert torch.equal(net.features.layer4[1].bn2.running_var, pretrained.layer4[1].bn2.running_var)
    assert net.head.out_features == 10  # the head keeps its fresh initialisation
    own = build_model("resnet32", (3, 32, 32), 10)
    torch.save({"state_dict": own.state_dict()}, tmp_path / "whole.pt")
    other = build_model("resnet32", (3, 32, 32), 10)
    load_weights(other, str(tmp_path / "whole.pt"))
    assert all(torch.equal(a, b) for a, b in zip(own.state_dict().values(), other.state_dict().values()))
    with pytest.raises(ConfigError, match=r"weights.*does not fit the network: it gives features.0.weight the shape"):
        load_weights(build_model("resnet32", (3, 32, 32), 10, width=8), str(tmp_path / "whole.pt"))
    with pytest.raises(ConfigError, match="weights.*no such file"):
        load_weights(net, str(tmp_path / "none.pt"))
    assert strategy.weights == str(tmp_path / "backbone.pt")


def test_weights_that_do_not_fit_are_one_line_from_the_cli(tmp_path, capsys):
    torch.save(build_model("mlp", (64,), 10).state_dict(), tmp_path / "mlp.pt")
    out = tmp_path / "out"
    code = main(["run", "--scenario", "split-digits", "--strategy", "naive", "--set", "model=cnn", "--set",
                 f"weights={tmp_path / 'mlp.pt'}", "--shots", "none", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "does not fit the network" in err[-1] and "mlp.pt" in err[-1] and not out.exists()
