"""WGAN-GP: generator and critic shapes, critic invariance, gradient penalty, sampling."""

import pytest
import torch
from torch import nn

from kamcore.errors import ConfigError
from kamcore.nn.wgan import GAN_PRESETS, Critic, GANConfig, PointCloudWGAN, gradient_penalty
from synthetic import random_cloud


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def make_gan(p=40, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    model = PointCloudWGAN(GANConfig.from_preset("tiny", n_pmts=p, **kw)).to(dtype)
    pts, trig, xyz = random_cloud(b=6, p=p, dtype=dtype)
    model.scaler.fit(pts, trig, xyz)
    return model, pts, trig


def test_presets_and_config_round_trip():
    assert {"default", "tiny"} <= set(GAN_PRESETS)
    cfg = GANConfig.from_preset("tiny", latent_dim=7)
    assert GANConfig(**cfg.to_dict()).to_dict() == cfg.to_dict()
    with pytest.raises(ConfigError, match="unknown GAN preset"):
        GANConfig.from_preset("nope")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("transforms", [False, True])
def test_shapes_and_dtype(dtype, transforms):
    model, pts, trig = make_gan(dtype=dtype, critic_transforms=transforms)
    raw = model(model.noise(5))
    assert raw.shape == (5, 40, 3) and raw.dtype == dtype
    fake = model.fake_features(raw)
    real = model.real_features(pts, trig)
    assert fake.shape == (5, 40, 6) and real.shape == (6, 40, 6)
    s = model.critic(real)
    assert s.shape == (6,) and s.dtype == dtype
    # trigger bits enter the critic as probabilities
    torch.testing.assert_close(fake[..., 5], torch.sigmoid(raw[..., 0]))


def test_critic_has_no_batch_norm_or_sigmoid_and_is_unbounded():
    model, _, _ = make_gan()
    kinds = {type(m) for m in model.critic.modules()}
    assert not kinds & {nn.BatchNorm1d, nn.BatchNorm2d, nn.Sigmoid}
    with pytest.raises(ConfigError, match="must not use batch norm"):
        Critic(norm="batch")
    with torch.no_grad():
        model.critic.out.bias.fill_(5.0)
    assert (model.critic(torch.zeros(2, 40, 6)) > 1).all()


@pytest.mark.parametrize("transforms", [False, True])
def test_critic_is_permutation_invariant(transforms):
    model, pts, trig = make_gan(dtype=torch.float64, critic_transforms=transforms)
    x = model.real_features(pts, trig)
    perm = torch.randperm(40)
    torch.testing.assert_close(model.critic(x), model.critic(x[:, perm]))


def test_critic_scores_are_per_event():
    """Layer norm, unlike batch norm, keeps one event's score independent of the others."""
    model, pts, trig = make_gan(dtype=torch.float64)
    x = model.real_features(pts, trig)
    torch.testing.assert_close(model.critic(x)[:2], model.critic(x[:2]))


def test_gradient_penalty_known_values():
    w = torch.randn(4, 6, dtype=torch.float64)
    w = w / w.norm()
    real, fake = torch.randn(3, 4, 6, dtype=torch.float64), torch.randn(3, 4, 6, dtype=torch.float64)
    unit = gradient_penalty(lambda x: (x * w).sum((1, 2)), real, fake)
    assert float(unit) == pytest.approx(0.0, abs=1e-12)
    # gradient norm 3 everywhere: 10 * (3 - 1)^2
    assert float(gradient_penalty(lambda x: (3 * x * w).sum((1, 2)), real, fake)) == pytest.approx(40.0)
    assert float(gradient_penalty(lambda x: (3 * x * w).sum((1, 2)), real, fake, weight=1.0)) == pytest.approx(4.0)
    with pytest.raises(ConfigError, match="differ in shape"):
        gradient_penalty(lambda x: x.sum(), real, fake[:2])


@pytest.mark.parametrize("transforms", [False, True])
def test_gradient_penalty_backpropagates_to_the_critic(transforms):
    model, pts, trig = make_gan(critic_transforms=transforms)
    real = model.real_features(pts, trig)
    fake = model.fake_features(model(model.noise(6)))
    gp = gradient_penalty(model.critic, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.dim() == 0 and torch.isfinite(gp) and gp > 0
    gp.backward()
    grads = [p.grad for p in model.critic.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    assert all(p.grad is None for p in model.generator.parameters())  # fake is detached


def test_a_few_critic_steps_reduce_the_critic_loss():
    model, pts, trig = make_gan()
    real = model.real_features(pts, trig)
    with torch.no_grad():
        fake = model.fake_features(model(model.noise(6, torch.Generator().manual_seed(1))))
    opt = torch.optim.Adam(model.critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(10):
        loss = model.critic(fake).mean() - model.critic(real).mean() + gradient_penalty(
            model.critic, real, fake, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sample_is_seeded_bernoulli(dtype):
    model, _, _ = make_gan(dtype=dtype)
    p1, t1 = model.sample(4, generator=torch.Generator().manual_seed(5))
    p2, t2 = model.sample(4, generator=torch.Generator().manual_seed(5))
    assert p1.shape == (4, 40, 5) and p1.dtype == dtype and t1.dtype == torch.bool
    assert torch.equal(p1, p2) and torch.equal(t1, t2) and (p1[~t1] == 0).all()
    with torch.no_grad():
        model.generator.out.weight.zero_()
        model.generator.out.bias.view(40, 3)[:, 0] = -50.0
    _, t = model.sample(3)
    assert not t.any()


def test_straight_through_trigger_bits():
    model, pts, trig = make_gan(critic_triggers="straight_through")
    raw = model(model.noise(4, torch.Generator().manual_seed(0))).detach().requires_grad_(True)
    f = model.fake_features(raw, torch.Generator().manual_seed(1))
    bits = f[..., 5]
    torch.testing.assert_close(bits, bits.round(), atol=1e-6, rtol=0)  # forward: 0/1 bits (b + p - p)
    torch.testing.assert_close(f, model.fake_features(raw, torch.Generator().manual_seed(1)))
    bits.sum().backward()
    p = torch.sigmoid(raw[..., 0].detach())
    torch.testing.assert_close(raw.grad[..., 0], p * (1 - p))  # backward: the gradient of the probabilities
    soft, _, _ = make_gan()
    torch.testing.assert_close(soft.fake_features(raw.detach())[..., 5], p)
    assert GAN_PRESETS["fast"]["generator_rank"] == 64
