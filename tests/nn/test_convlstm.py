import pytest
import torch

from kamcore.nn.cnn import CNNConfig, ConventionalCNN
from kamcore.nn.convlstm import AttentionConvLSTM, ConvLSTMCell


@pytest.mark.parametrize("attention", ["slice", "cellwise"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_attention_normalisation(dtype, attention):
    torch.manual_seed(0)
    m = AttentionConvLSTM((3, 5), (3, 3), n_time=6, height=8, width=8, attention=attention).to(dtype)
    x = torch.rand(4, 6, 8, 8, dtype=dtype)
    context, att = m(x)
    assert context.shape == (4, 5, 8, 8) and att.shape == (4, 6)
    assert context.dtype == dtype and att.dtype == dtype
    torch.testing.assert_close(att.sum(1), torch.ones(4, dtype=dtype))  # fractions per event
    assert (att > 0).all()
    shape = (6, 5, 8, 1) if attention == "slice" else (6, 5, 8, 8)
    assert m.attention_weight.shape == shape


def _hidden_states(m, x):
    """The last layer's h_t, step by step through the cells' public forward (the reference)."""
    seq = x.unsqueeze(2)
    for cell in m.cells:
        h = torch.zeros(x.shape[0], cell.hidden_channels, *x.shape[-2:], dtype=x.dtype)
        c = torch.zeros_like(h)
        hs = []
        for t in range(x.shape[1]):
            h, c = cell(seq[:, t], (h, c))
            hs.append(h)
        seq = torch.stack(hs, 1)
    return seq


@pytest.mark.parametrize("scale", ["sqrt", "sum"])
@pytest.mark.parametrize("fast", [True, False])
def test_slice_attention_is_eqs_3_and_4(scale, fast):
    """S(t) = softmax_t (sum_{c,theta,phi} h_t W h_T) / d and context = sum_t S(t) h_t, written out, with
    d = sqrt(C H W) ("sqrt") or 1 ("sum", eq. 3 as printed)."""
    torch.manual_seed(1)
    m = AttentionConvLSTM((2, 3), (3, 3), n_time=5, height=6, width=7, attention_scale=scale, fast=fast).double()
    with torch.no_grad():
        m.attention_weight.normal_()
    x = torch.rand(3, 5, 6, 7, dtype=torch.float64)
    context, att = m(x)
    hs = _hidden_states(m, x)
    d = (3 * 6 * 7) ** 0.5 if scale == "sqrt" else 1.0
    energy = torch.stack([(hs[:, t] * m.attention_weight[t] * hs[:, -1]).sum(dim=(1, 2, 3)) for t in range(5)], 1) / d
    s = torch.exp(energy) / torch.exp(energy).sum(1, keepdim=True)
    torch.testing.assert_close(att, s)
    torch.testing.assert_close(context, (s[:, :, None, None, None] * hs).sum(1))


def test_slice_attention_starts_event_dependent():
    """At initialisation two different events get different attention and an empty map a
    uniform one (the first checkpoints' attention was a fixed ramp whatever the event)."""
    torch.manual_seed(2)
    # 8 = 0.5 sqrt(C H W): the energies of the plain sum with W = 0.5
    m = AttentionConvLSTM((3, 4), (3, 3), n_time=8, height=8, width=8, attention_init=8.0, forget_bias=3.0)
    with torch.no_grad():
        for cell in m.cells:  # no drive without hits: an empty map keeps h = 0
            cell.conv_x.bias[:cell.hidden_channels].zero_()
            cell.conv_x.bias[2 * cell.hidden_channels:].zero_()
    early, late = torch.zeros(1, 8, 8, 8), torch.zeros(1, 8, 8, 8)
    early[0, 1, 2:6, 2:6] = 3.0
    late[0, 6, 2:6, 2:6] = 3.0
    _, a = m(torch.cat([early, late, torch.zeros(1, 8, 8, 8)]))
    assert (a[0] - a[1]).abs().max() > 0.01
    torch.testing.assert_close(a[2], torch.full((8,), 1 / 8))


def test_cellwise_attention_with_zero_weights_is_the_mean_of_hidden_states():
    torch.manual_seed(1)
    m = AttentionConvLSTM((2,), (3,), n_time=4, height=6, width=6, attention="cellwise")
    with torch.no_grad():
        m.attention_weight.zero_()  # uniform attention: context = mean of h_t
    x = torch.rand(2, 4, 6, 6)
    context, att = m(x)
    torch.testing.assert_close(context, _hidden_states(m, x).mean(1))
    torch.testing.assert_close(att, torch.full((2, 4), 1 / 4))


@pytest.mark.parametrize("shift", [1, 3, 9])
def test_rotation_about_z_by_grid_steps(shift):
    """A roll in phi (a rotation about z by grid steps) rolls the context and leaves the slice
    attention unchanged, with trained-looking (random) weights: W has no phi dependence."""
    torch.manual_seed(2)
    m = AttentionConvLSTM((3, 4), (3, 3), n_time=5, height=8, width=10).double()
    with torch.no_grad():
        m.attention_weight.normal_()
    x = torch.rand(2, 5, 8, 10, dtype=torch.float64)
    c1, a1 = m(torch.roll(x, shift, dims=-1))
    c2, a2 = m(x)
    torch.testing.assert_close(c1, torch.roll(c2, shift, dims=-1))
    torch.testing.assert_close(a1, a2)


def _loss_and_grads(m, x):
    c, a = m(x)
    loss = c.square().mean() + a.std()
    loss.backward()
    return c, a, loss, [p.grad.clone() for p in m.parameters()]


@pytest.mark.parametrize("attention", ["slice", "cellwise"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kernels,width", [((5, 3), 10), ((3, 5), 9), ((3, 3), 8), ((5, 5), 11)])
def test_fast_recurrence_equals_the_reference(attention, dtype, kernels, width):
    """The fast path (one autograd node per layer, hand-written BPTT, time-major channels-last,
    attention on that layout) gives the reference's outputs, loss and every parameter's gradient
    on the same weights and batch."""
    torch.manual_seed(4)
    ref = AttentionConvLSTM((3, 4), kernels, n_time=6, height=8, width=width, attention=attention, fast=False,
                            forget_bias=1.0).to(dtype)
    fast = AttentionConvLSTM((3, 4), kernels, n_time=6, height=8, width=width, attention=attention).to(dtype)
    assert fast.fast and all(c.fast for c in fast.cells)
    with torch.no_grad():
        ref.attention_weight.normal_()
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(3, 6, 8, width, dtype=dtype)
    out = [_loss_and_grads(m, x) for m in (ref, fast)]
    tol = {} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for k in range(3):
        torch.testing.assert_close(out[1][k], out[0][k], **tol)
    for (name, _), g0, g1 in zip(ref.named_parameters(), out[0][3], out[1][3]):
        torch.testing.assert_close(g1, g0, **tol, msg=lambda m: f"{name}: {m}")


def test_fast_path_input_gradient_and_two_channel_input():
    """The gradient reaches the input maps (``(B, T, C_in, H, W)`` input) as in the reference."""
    torch.manual_seed(5)
    ref = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=7, in_channels=2, fast=False).double()
    fast = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=7, in_channels=2).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(2, 4, 2, 6, 7, dtype=torch.float64)
    grads = []
    for m in (ref, fast):
        xi = x.clone().requires_grad_(True)
        c, a = m(xi)
        (c.square().sum() + (a * torch.arange(4.0, dtype=a.dtype)).sum()).backward()
        grads.append(xi.grad)
    torch.testing.assert_close(grads[1], grads[0])
    fast.eval()
    with torch.no_grad():  # no graph: the fast path runs under no_grad too
        torch.testing.assert_close(fast(x)[0], ref(x)[0])


@pytest.mark.slow
def test_compiled_step_kernels_equal_the_reference(monkeypatch):
    """The torch.compile'd element-wise kernels (used for big maps; eager fallback without a compiler)."""
    from kamcore.nn import convlstm

    monkeypatch.setattr(convlstm, "COMPILE_MIN_NUMEL", 0)
    monkeypatch.setattr(convlstm, "_KERNELS", {})
    torch.manual_seed(6)
    ref = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=8, fast=False).double()
    fast = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=8).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.rand(2, 4, 6, 8, dtype=torch.float64)
    out = [_loss_and_grads(m, x) for m in (ref, fast)]
    torch.testing.assert_close(out[1][2], out[0][2])
    for g0, g1 in zip(out[0][3], out[1][3]):
        torch.testing.assert_close(g1, g0)


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
    with pytest.raises(ValueError, match="'slice' or 'cellwise'"):
        AttentionConvLSTM((2,), (3,), attention="pixel")


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


@pytest.mark.parametrize("preset,batch", [("tiny", 3), ("cpu", 2)])
def test_kamnet_fast_equals_reference(preset, batch):
    """The whole KamNet (training mode: batch norm on batch statistics, the same dropout masks)
    gives the same loss and gradients with the fast ConvLSTM as with the reference, float64."""
    import copy

    from kamcore.nn.kamnet import KamNet, KamNetConfig

    torch.manual_seed(7)
    cfg = KamNetConfig.from_preset(preset)
    fast = KamNet(cfg).double()
    ref = copy.deepcopy(fast)
    ref.lstm.fast = False
    for cell in ref.lstm.cells:
        cell.fast = False
    s = 2 * cfg.bandwidth
    x = torch.poisson(torch.full((batch, cfg.n_time, s, s), 0.3, dtype=torch.float64))
    y = torch.arange(batch, dtype=torch.float64) % 2
    res = []
    for net in (ref, fast):
        torch.manual_seed(8)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        res.append((loss, [p.grad for p in net.parameters()]))
    torch.testing.assert_close(res[1][0], res[0][0])
    for (name, _), g0, g1 in zip(ref.named_parameters(), res[0][1], res[1][1]):
        torch.testing.assert_close(g1, g0, atol=1e-10, rtol=1e-7, msg=lambda m: f"{name}: {m}")


@pytest.mark.slow
def test_scoring_kernels_compiled_for_any_batch_size_score_as_eager(monkeypatch):
    """compile_for_scoring: the dynamic-shape kernels are registered per layer and give eager's scores at
    batch sizes never seen by the compile; without it scoring runs the eager kernels."""
    from kamcore.nn import convlstm

    monkeypatch.setattr(convlstm, "_SCORING_KERNELS", {})
    torch.manual_seed(7)
    m = AttentionConvLSTM((2, 3), (3, 3), n_time=4, height=6, width=8).eval()
    x = torch.rand(5, 4, 6, 8)
    with torch.no_grad():
        eager = m(x)
    assert convlstm.compile_for_scoring(m, block=True) is None
    assert set(convlstm._SCORING_KERNELS) == {(2, 1, 1), (3, 1, 2)}
    calls = []
    for key, k in list(convlstm._SCORING_KERNELS.items()):
        monkeypatch.setitem(convlstm._SCORING_KERNELS, key, lambda *a, _k=k: calls.append(1) or _k(*a))
    with torch.no_grad():
        for b in (1, 5):
            got = m(x[:b])
            torch.testing.assert_close(got[0], eager[0][:b], rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(got[1], eager[1][:b], rtol=1e-5, atol=1e-6)
    assert len(calls) == 2 * 2 * 4  # two batches x two layers x four slices ran the compiled kernels
