import pytest
import torch

from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.convlstm import AttentionConvLSTM, ConvLSTMCell


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_attention_normalisation(dtype):
    torch.manual_seed(0)
    m = AttentionConvLSTM((3, 5), (3, 3), n_time=6, height=8, width=8).to(dtype)
    x = torch.rand(4, 6, 8, 8, dtype=dtype)
    context, attention = m(x)
    assert context.shape == (4, 5, 8, 8) and attention.shape == (4, 6)
    assert context.dtype == dtype and attention.dtype == dtype
    # softmax over t at every (c, theta, phi): the per-slice sums add up to C*H*W
    torch.testing.assert_close(attention.sum(1), torch.full((4,), 5 * 8 * 8.0, dtype=dtype))
    assert (attention > 0).all()


def test_context_is_a_convex_combination_of_hidden_states():
    torch.manual_seed(1)
    m = AttentionConvLSTM((2,), (3,), n_time=4, height=6, width=6)
    with torch.no_grad():
        m.attention_weight.zero_()  # uniform attention: context = mean of h_t
    x = torch.rand(2, 4, 6, 6)
    context, attention = m(x)
    cell = m.cells[0]
    h = torch.zeros(2, 2, 6, 6)
    c = torch.zeros_like(h)
    hs = []
    for t in range(4):
        h, c = cell(x[:, t, None], (h, c))
        hs.append(h)
    torch.testing.assert_close(context, torch.stack(hs, 1).mean(1))
    torch.testing.assert_close(attention, torch.full((2, 4), 2 * 36 / 4.0))


def test_azimuthal_wrap_without_attention_weights():
    """With constant attention weights the stack commutes with a roll in phi (circular padding)."""
    torch.manual_seed(2)
    m = AttentionConvLSTM((3, 4), (3, 3), n_time=5, height=8, width=10)
    with torch.no_grad():
        m.attention_weight.fill_(0.05)
    x = torch.rand(2, 5, 8, 10)
    c1, a1 = m(torch.roll(x, 3, dims=-1))
    c2, a2 = m(x)
    torch.testing.assert_close(c1, torch.roll(c2, 3, dims=-1))
    torch.testing.assert_close(a1, a2)


def test_gradients_reach_every_parameter():
    m = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=6)
    c, a = m(torch.rand(2, 4, 6, 6))
    (c.square().mean() + a.std()).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_input_checks():
    m = AttentionConvLSTM((2,), (3,), n_time=4, height=6, width=6)
    with pytest.raises(ValueError, match=r"expected input \(B, 4, 6, 6\)"):
        m(torch.rand(1, 5, 6, 6))
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(1, 2, 4)


def test_cnn_baseline_shapes_and_training_step():
    torch.manual_seed(3)
    net = ConventionalCNN(CNNConfig(n_time=6, size=12, channels=[4, 8], hidden=[8]))
    x = torch.rand(5, 6, 12, 12)
    y = net(x)
    assert y.shape == (5,)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(y, torch.ones(5))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_forget_bias_keeps_an_early_hit_until_the_last_slice():
    """One hit in slice 0 of a sparse map: with the default gates it has faded from h_T, with a
    forget bias of 3 the cell integrates it (the CPU preset's initialisation, module docstring)."""
    x = torch.zeros(1, 12, 1, 8, 8)
    x[0, 0, 0, 4, 4] = 1.0

    def last_over_first(forget_bias):
        torch.manual_seed(3)
        cell = ConvLSTMCell(1, 4, 3, forget_bias=forget_bias)
        with torch.no_grad():
            cell.conv_x.weight.abs_()  # a definite response to the hit
            cell.conv_h.weight.zero_()
            if not forget_bias:
                cell.conv_x.bias.zero_()
        g = cell.input_gates(x)
        h = c = torch.zeros(1, 4, 8, 8)
        hs = []
        for k in range(12):
            h, c = cell.step(g[:, k], (h, c))
            hs.append(h[0, :, 4, 4].abs().sum().item())
        return hs[-1] / hs[0]
    assert last_over_first(0.0) < 0.01  # halved every slice
    assert last_over_first(3.0) > 0.5
    cell = ConvLSTMCell(1, 4, 3, forget_bias=3.0)
    assert torch.all(cell.conv_x.bias[4:8] == 3.0) and torch.all(cell.conv_x.bias[:4] == 0.0)
