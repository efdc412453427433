import pytest
import torch

from kamcore.nn.kamnet import KAMNET_PRESETS, KamNet, KamNetConfig


def _input(cfg, batch, dtype=torch.float32):
    s = 2 * cfg.bandwidth
    return torch.poisson(torch.full((batch, cfg.n_time, s, s), 0.2, dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tiny_forward_backward_shapes(dtype):
    torch.manual_seed(0)
    cfg = KamNetConfig.from_preset("tiny")
    net = KamNet(cfg).to(dtype)
    x = _input(cfg, 3, dtype)
    logits, att = net.forward_with_attention(x)
    assert logits.shape == (3,) and att.shape == (3, cfg.n_time) and logits.dtype == dtype
    torch.testing.assert_close(att.sum(1), torch.ones(3, dtype=dtype))
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_tiny_gradcheck_float64():
    torch.manual_seed(1)
    cfg = KamNetConfig.from_preset("tiny")
    net = KamNet(cfg).double().eval()  # eval: batch norm uses running statistics, a fixed function
    x = _input(cfg, 2, torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: net(inp), (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_paper_preset_builds_and_trains_a_step():
    torch.manual_seed(2)
    cfg = KamNetConfig.from_preset("paper")
    assert cfg.lstm_channels == [12, 22] and cfg.bandwidths == [14, 10, 6, 2] and cfg.fc[0] == 1080
    net = KamNet(cfg)
    x = _input(cfg, 2)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), torch.tensor([1.0, 0.0]))
    loss.backward()
    assert torch.isfinite(loss)


def test_presets_and_bad_configs():
    assert set(KAMNET_PRESETS) >= {"paper", "cpu", "tiny"}
    assert KamNetConfig.from_preset("cpu", fc=[16]).fc == [16]
    with pytest.raises(ValueError, match="unknown KamNet preset 'huge'"):
        KamNetConfig.from_preset("huge")
    with pytest.raises(ValueError, match="bandwidths"):
        KamNet(KamNetConfig.from_preset("tiny", bandwidths=[3, 2]))


def test_output_is_invariant_to_azimuthal_rotation_of_the_context():
    """Everything after the ConvLSTM is rotation invariant: rolling the context in phi by half a turn
    (a rotation about z that maps every layer's grid onto itself, so ReLU commutes with it) leaves the
    score unchanged to float precision."""
    torch.manual_seed(3)
    cfg = KamNetConfig.from_preset("tiny")
    net = KamNet(cfg).double().eval()
    z = torch.rand(2, cfg.lstm_channels[-1], 8, 8, dtype=torch.float64)

    def tail(ctx):
        for conv, norm in zip(net.convs, net.norms):
            ctx = torch.relu(norm(conv(ctx)))
        from kamcore.nn.so3integrate import so3_integrate
        return net.head(so3_integrate(ctx))

    torch.testing.assert_close(tail(torch.roll(z, 4, dims=-1)), tail(z), atol=1e-9, rtol=1e-7)


def test_cpu_preset_starts_remembering_and_normalises_the_context():
    from kamcore.nn.kamnet import KamNet, KamNetConfig

    cfg = KamNetConfig.from_preset("cpu")
    assert cfg.forget_bias == 3.0 and cfg.context_norm and cfg.attention_init == 0.3 and cfg.attention == "slice"
    assert cfg.attention_scale == "sqrt"  # the plain sum collapsed onto one slice (kamcore.nn.convlstm)
    tiny = KamNet(KamNetConfig.from_preset("tiny", forget_bias=3.0, context_norm=True))
    assert isinstance(tiny.context_norm, torch.nn.BatchNorm2d)
    assert all(torch.all(c.conv_x.bias[c.hidden_channels:2 * c.hidden_channels] == 3.0) for c in tiny.lstm.cells)
    x = torch.rand(3, 4, 8, 8)
    out, att = tiny.train().forward_with_attention(x)
    assert out.shape == (3,) and att.shape == (3, 4)
    out.sum().backward()
    assert tiny.lstm.attention_weight.grad is not None
    assert isinstance(KamNet(KamNetConfig.from_preset("paper")).context_norm, torch.nn.Identity)
